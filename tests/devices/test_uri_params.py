"""Every scheme's parameters parse the same way (one parser, in devices/base.py).

Parametrised over every registered scheme (and every kind of a scheme that has
several), so a new driver is covered as soon as it is registered: it only needs an
example URI below.
"""

from __future__ import annotations

import pytest

from wearsense.devices import driver_class, kinds, open_device, parse_uri, schemes
from wearsense.errors import DeviceURIError

ADDRESS = "AA:BB:CC:DD:EE:FF"
EXAMPLES = {
    "sim": "sim://mover",
    "serial": "serial:///dev/ttyUSB0",
    "replay": "replay://session.xdf",
    "ble/myo": f"ble://myo/{ADDRESS}",
    "ble/polar": f"ble://polar/{ADDRESS}",
    "ble/profile": f"ble://profile/{ADDRESS}",
    "brainflow": "brainflow://synthetic",
    "lsl": "lsl://type=MoCap",
}
NAMES = [f"{s}/{k}" if k else s for s in schemes() for k in (kinds(s) or [""])]


def driver(name: str):
    uri = EXAMPLES.get(name)
    assert uri is not None, f"add an example URI for {name!r} to EXAMPLES"
    return uri, driver_class(parse_uri(uri).scheme, uri)


def text(value) -> str:
    return ("1" if value else "0") if isinstance(value, bool) else str(value)


@pytest.mark.parametrize("name", NAMES)
def test_unknown_parameter_is_an_error_listing_the_valid_ones(name):
    uri, cls = driver(name)
    with pytest.raises(DeviceURIError, match="unknown parameter.*'colour'.*valid parameters") as e:
        cls.parse_params(parse_uri(f"{uri}?colour=red"))
    assert e.value.parameter == "colour"
    for p in cls.params:
        assert f"\n  {p.name} (" in str(e.value), p.name


@pytest.mark.parametrize("name", NAMES)
def test_every_declared_parameter_parses_from_the_query(name):
    uri, cls = driver(name)
    if cls.target_is_query:  # keep the target's own keys out of the way
        uri = f"{cls.scheme}://"
    for p in cls.params:
        value = p.default if p.default != "" else "x"
        options = cls.parse_params(parse_uri(f"{uri}?{p.name}={text(value)}"))
        assert options[p.name] == value, p.name


@pytest.mark.parametrize("name", NAMES)
def test_a_parameter_written_after_amp_instead_of_question_mark_is_never_swallowed(name):
    uri, cls = driver(name)
    p = next(p for p in cls.params if p.type is float)
    written = f"{uri}&{p.name}=2"
    if cls.target_is_query:  # the target is key=value pairs: '&' joins them, as in a query
        assert cls.parse_params(parse_uri(written))[p.name] == 2.0
    else:
        with pytest.raises(DeviceURIError, match=rf"go after '\?'.*{p.name}=2"):
            cls.parse_params(parse_uri(written))


def test_lsl_target_and_query_are_one_set_of_parameters():
    dev = open_device("lsl://type=Nothing&timeout_s=2")
    assert dev.options["type"] == "Nothing" and dev.options["timeout_s"] == 2.0
    assert dev.predicate == "type='Nothing'"
    with pytest.raises(DeviceURIError, match="(?s)unknown parameter.*'timeout'.*timeout_s"):
        open_device("lsl://type=Nothing&timeout=2")
    with pytest.raises(DeviceURIError, match="type given twice with different values"):
        open_device("lsl://type=A?type=B")


def test_misplaced_parameter_error_shows_the_fixed_uri():
    with pytest.raises(DeviceURIError, match=r"write 'serial:///dev/ttyUSB0\?baud=9600'"):
        open_device("serial:///dev/ttyUSB0&baud=9600")

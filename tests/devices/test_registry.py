"""Opening devices by URI: parsing, the registry, clear errors, the sync wrapper."""

import pytest

from wearsense.devices import (
    BlockingDevice,
    Device,
    Param,
    acquire,
    open_device,
    parse_uri,
    register,
    schemes,
)
from wearsense.errors import DeviceError, DeviceURIError, MissingDependencyError
from wearsense.stream import Chunk, StreamInfo


def test_parse_uri_splits_scheme_target_and_query():
    u = parse_uri("serial:///dev/ttyUSB0?baud=921600")
    assert (u.scheme, u.target, dict(u.query)) == ("serial", "/dev/ttyUSB0", {"baud": "921600"})
    assert parse_uri("SIM://mover").scheme == "sim"


@pytest.mark.parametrize(
    "bad", ["mover", "", "://x", "si m://x", "sim://mover?seed=1&seed=2", "sim://mover?=&&"]
)
def test_malformed_uris_are_clear_errors(bad):
    with pytest.raises(DeviceURIError) as e:
        open_device(bad)
    assert "URI" in str(e.value) or "scheme" in str(e.value)


def test_unknown_scheme_lists_the_known_ones():
    with pytest.raises(DeviceURIError) as e:
        open_device("foo://bar")
    msg = str(e.value)
    assert "unknown device scheme 'foo'" in msg
    for s in ("sim://", "serial://", "replay://"):
        assert s in msg
    assert e.value.uri == "foo://bar"


def test_unknown_parameter_lists_the_valid_ones():
    with pytest.raises(DeviceURIError) as e:
        open_device("sim://mover?sed=3")
    assert e.value.parameter == "sed"
    assert "seed (int" in str(e.value) and "drift_ppm" in str(e.value)


@pytest.mark.parametrize(
    "uri, param, words",
    [
        ("sim://mover?seed=abc", "seed", "is not an int"),
        ("sim://mover?emg=99", "emg", "above the maximum"),
        ("sim://mover?loss=-0.1", "loss", "below the minimum"),
        ("sim://mover?realtime=maybe", "realtime", "not a boolean"),
        ("sim://mover?mains_hz=55", "mains_hz", "not allowed"),
        ("sim://mover?jitter_ms=nan", "jitter_ms", "not finite"),
    ],
)
def test_bad_parameter_values_name_parameter_range_and_value(uri, param, words):
    with pytest.raises(DeviceURIError) as e:
        open_device(uri)
    assert e.value.parameter == param
    assert words in str(e.value) and param in str(e.value)


def test_unknown_sim_target_is_an_error():
    with pytest.raises(DeviceURIError, match="unknown sim target 'robot'; valid: sim://mover"):
        open_device("sim://robot")


class Counter(Device):
    scheme = "counter"
    params = (Param("n", int, 3, "chunks to yield", min=1),)

    async def _open(self):
        self.streams = (StreamInfo("c", "OTHER", ["x"], "1", 10.0),)

    async def _close(self):
        pass

    async def _chunks(self):
        for i in range(self.options["n"]):
            yield self.streams[0], Chunk([[float(i)]], [i / 10], i)


def test_a_lab_can_register_its_own_driver():
    register("counter", Counter)
    assert "counter" in schemes()
    with BlockingDevice("counter://?n=4") as dev:
        got = [c.data[0, 0] for _, c in dev]
    assert got == [0.0, 1.0, 2.0, 3.0]
    info, chunk = acquire("counter://?n=5")["c"]
    assert chunk.seq.tolist() == [0, 1, 2, 3, 4]


def test_iterating_a_closed_device_is_an_error():
    dev = open_device("sim://mover")
    with pytest.raises(DeviceError, match="not open"):
        dev.__aiter__()


def test_missing_optional_package_says_what_to_install():
    register("fancy", "wearsense_fancy_driver_not_installed.module:Fancy", requires="wearsense-fancy")
    with pytest.raises(MissingDependencyError, match="pip install wearsense-fancy"):
        open_device("fancy://x")


def test_old_name_of_the_blocking_wrapper_still_works_with_a_deprecation_warning():
    import wearsense.devices as devices

    with pytest.warns(DeprecationWarning, match="now BlockingDevice"):
        assert devices.SyncDevice is BlockingDevice

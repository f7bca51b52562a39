"""A driver whose optional package is missing fails when its scheme is used, and the
error says what to pip install (the import is made to fail, as on a machine without it)."""

from __future__ import annotations

import asyncio
import sys

import pytest

from wearsense.devices import open_device
from wearsense.errors import MissingDependencyError


def uninstall(monkeypatch, package: str, *drivers: str) -> None:
    """Make ``import package`` fail for this test, and forget the driver modules that imported it."""
    for name in [n for n in sys.modules if n == package or n.startswith(package + ".")] + [package]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in drivers:
        monkeypatch.delitem(sys.modules, name, raising=False)


@pytest.mark.parametrize(
    ("uri", "package", "drivers", "fix"),
    [
        (
            "brainflow://synthetic",
            "brainflow",
            ["wearsense.devices.brainflow"],
            'pip install "wearsense[brainflow]" (or: pip install brainflow)',
        ),
        (
            "lsl://type=MoCap",
            "pylsl",
            ["wearsense.devices.lsl"],
            'pip install "wearsense[lsl]" (or: pip install pylsl)',
        ),
        (
            "serial:///dev/ttyUSB0",
            "serial",
            ["wearsense.devices.serial", "wearsense.devices.serial_transport"],
            "pip install pyserial",
        ),
    ],
)
def test_opening_a_scheme_without_its_package_says_what_to_install(monkeypatch, uri, package, drivers, fix):
    uninstall(monkeypatch, package, *drivers)
    with pytest.raises(MissingDependencyError, match="needs the package") as e:
        open_device(uri)
    assert str(e.value).endswith(fix)
    assert e.value.uri == uri


def test_ble_without_bleak_says_what_to_install_when_it_connects(monkeypatch):
    uninstall(monkeypatch, "bleak")
    dev = open_device("ble://myo/AA:BB:CC:DD:EE:FF?connect_timeout_s=1")
    with pytest.raises(
        MissingDependencyError, match=r'ble:// needs the package .bleak.*pip install "wearsense\[ble\]"'
    ):
        asyncio.run(dev.open())


def test_sim_and_replay_need_no_optional_package(monkeypatch):
    for package in ("bleak", "brainflow", "pylsl", "pyxdf"):
        uninstall(monkeypatch, package)
    monkeypatch.delitem(sys.modules, "wearsense.devices.replay", raising=False)
    open_device("sim://mover?realtime=0")
    open_device("replay://session.xdf")

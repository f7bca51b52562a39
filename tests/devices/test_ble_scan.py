"""`wearsense scan`: discovery with an injected scanner double, and a clear error without BlueZ."""

import argparse
import asyncio
import os
from types import SimpleNamespace

import pytest

from wearsense.cli import scan as scan_cmd
from wearsense.devices.ble_common import scan
from wearsense.devices.ble_myo import CONTROL_SERVICE
from wearsense.devices.ble_polar import PMD_SERVICE
from wearsense.errors import DeviceError


class Scanner:
    def __init__(self, adverts):
        self.adverts = adverts
        self.timeouts = []

    async def discover(self, timeout=5.0, return_adv=False):
        self.timeouts.append(timeout)
        assert return_adv
        return {
            addr: (
                SimpleNamespace(address=addr, name=name),
                SimpleNamespace(local_name=name, rssi=rssi, service_uuids=uuids),
            )
            for addr, name, rssi, uuids in self.adverts
        }


ADVERTS = [
    ("D2:3A:00:00:00:01", "Myo", -71, [CONTROL_SERVICE]),
    ("A0:9E:1A:00:00:02", "Polar H10 8C4CAD2D", -48, []),
    ("C0:00:00:00:00:03", "", -80, [PMD_SERVICE.upper()]),
    ("11:22:33:44:55:66", "Headphones", -40, ["0000110b-0000-1000-8000-00805f9b34fb"]),
    ("C4:00:00:00:00:07", "LabIMU-2", -65, []),
]


def test_scan_lists_supported_devices_strongest_first_with_their_uri():
    found = asyncio.run(scan(2.0, scanner=Scanner(ADVERTS)))
    assert [(f.address, f.kind, f.rssi_dbm) for f in found] == [
        ("A0:9E:1A:00:00:02", "polar", -48),
        ("D2:3A:00:00:00:01", "myo", -71),
        ("C0:00:00:00:00:03", "polar", -80),
    ]
    assert found[1].uri == "ble://myo/D2:3A:00:00:00:01"
    everything = asyncio.run(scan(2.0, scanner=Scanner(ADVERTS), include_all=True))
    assert len(everything) == 5 and everything[0].name == "Headphones" and everything[0].uri == ""


def test_scan_command_prints_a_table_and_recognises_profiled_boards(tmp_path, capsys):
    prof = tmp_path / "imu.toml"
    prof.write_text(
        'name = "labimu"\nadvertised_name = "LabIMU"\n[[stream]]\nname = "imu"\n'
        'characteristic = "0000fff1-0000-1000-8000-00805f9b34fb"\n'
        'dtype = "int16"\nchannels = 3\nrate_hz = 100\n'
    )
    scanner = Scanner(ADVERTS)
    args = argparse.Namespace(timeout=1.5, all=False, profile=[prof])
    assert scan_cmd.run(args, scanner=scanner) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["RSSI", "address", "name", "kind", "uri"]
    assert "-48" in out[1] and "ble://polar/A0:9E:1A:00:00:02" in out[1]
    assert any("labimu" in line and "ble://profile/C4:00:00:00:00:07" in line for line in out)
    assert scanner.timeouts == [1.5]


def test_scan_with_nothing_around_says_what_to_try(capsys):
    scan_cmd.run(argparse.Namespace(timeout=0.1, all=False, profile=[]), scanner=Scanner([]))
    assert "no supported BLE devices found" in capsys.readouterr().out


def test_scan_without_bluez_names_bluez_and_dbus():
    class NoDbus:
        async def discover(self, timeout=5.0, return_adv=False):
            raise FileNotFoundError(2, "No such file or directory")  # bleak's error without the D-Bus socket

    with pytest.raises(
        DeviceError, match="Bluetooth is not available.*BlueZ.*D-Bus.*systemctl start bluetooth"
    ):
        asyncio.run(scan(0.1, scanner=NoDbus()))


@pytest.mark.skipif(
    os.path.exists("/run/dbus/system_bus_socket") or os.path.exists("/var/run/dbus/system_bus_socket"),
    reason="this host has D-Bus; the real-bleak error path only exists where it is missing",
)
def test_real_bleak_scan_on_a_host_without_dbus_fails_clearly(capsys):
    from wearsense.cli import main

    assert main(["scan", "--timeout", "0.5"]) == 2
    err = capsys.readouterr().err
    assert (
        "wearsense scan: error: cannot scan for BLE devices: Bluetooth is not available" in err
        and "BlueZ" in err
    )

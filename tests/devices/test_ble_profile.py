"""Declarative BLE profiles: loading with clear errors, and payload decoding."""

import struct

import numpy as np
import pytest

from wearsense.devices.ble_common import MalformedNotification
from wearsense.devices.ble_profile import decode_payload, load_profile
from wearsense.errors import FormatError

BASE = """
name = "board"
advertised_name = "LabIMU"
service = "0000FFF0-0000-1000-8000-00805F9B34FB"
[[stream]]
name = "imu"
modality = "IMU"
characteristic = "0000fff1-0000-1000-8000-00805f9b34fb"
header_bytes = 6
counter = { offset = 0, dtype = "uint16" }
timestamp = { offset = 2, dtype = "uint32", unit_s = 1e-6 }
dtype = "int16"
byte_order = "big"
channels = ["acc_x", "acc_y", "acc_z"]
units = "m/s^2"
scale = 0.01
offset = 0.5
rate_hz = 100
"""


def write(tmp_path, text):
    p = tmp_path / "p.toml"
    p.write_text(text)
    return p


def test_profile_loads_layout_and_recognises_advertisements(tmp_path):
    prof = load_profile(write(tmp_path, BASE))
    lay = prof.streams[0]
    assert (lay.name, lay.dtype, lay.byte_order, lay.header_bytes, lay.rate_hz) == (
        "board-imu",
        "int16",
        "big",
        6,
        100.0,
    )
    assert lay.counter.size == 2 and lay.timestamp.unit_s == 1e-6
    assert prof.advertises("LabIMU-07", ()) and prof.advertises(
        "x", ("0000fff0-0000-1000-8000-00805f9b34fb",)
    )
    assert not prof.advertises("Polar H10", ())


def test_big_endian_int16_payload_scales_and_offsets(tmp_path):
    lay = load_profile(write(tmp_path, BASE)).streams[0]
    payload = bytes(6) + struct.pack(">6h", 100, -100, 0, 1, 2, 3)
    assert decode_payload(lay, payload) == pytest.approx(np.array([[1.5, -0.5, 0.5], [0.51, 0.52, 0.53]]))


def test_int24_channels(tmp_path):
    text = BASE.replace('dtype = "int16"', 'dtype = "int24"').replace(
        'byte_order = "big"', 'byte_order = "little"'
    )
    lay = load_profile(write(tmp_path, text)).streams[0]
    vals = [-(2**23), -1, 2**23 - 1]
    payload = bytes(6) + b"".join((v % (1 << 24)).to_bytes(3, "little") for v in vals)
    assert decode_payload(lay, payload)[0] == pytest.approx(np.array(vals) * 0.01 + 0.5)


@pytest.mark.parametrize("n", [0, 5, 6, 7, 6 + 6 * 2 + 1])
def test_partial_samples_are_malformed(tmp_path, n):
    lay = load_profile(write(tmp_path, BASE)).streams[0]
    with pytest.raises(MalformedNotification, match="whole samples of 6 bytes"):
        decode_payload(lay, bytes(n))


@pytest.mark.parametrize(
    "change, words",
    [
        (('name = "board"', ""), "name: give the board a name"),
        (('dtype = "int16"', 'dtype = "int12"'), r"stream\[0\].dtype: 'int12' unknown"),
        (("rate_hz = 100", "rate_hz = 0"), r"stream\[0\].rate_hz: must be the sampling rate"),
        (('byte_order = "big"', 'byte_order = "middle"'), "byte_order: must be 'little' or 'big'"),
        (
            ("header_bytes = 6", "header_bytes = 4"),
            r"stream\[0\].timestamp: bytes 2..5 lie outside the 4-byte header",
        ),
        (
            ('counter = { offset = 0, dtype = "uint16" }', 'counter = { offset = 0, dtype = "int16" }'),
            "counter.dtype: must be uint8",
        ),
        (('units = "m/s^2"', 'units = ["m/s^2"]'), "units: 1 units for 3 channels"),
        (("scale = 0.01", 'scale = 0.01\ncolour = "red"'), r"unknown key\(s\) \['colour'\]"),
        (('channels = ["acc_x", "acc_y", "acc_z"]', "channels = 0"), "channels: give a list of labels"),
    ],
)
def test_bad_profiles_name_the_file_the_key_and_the_fix(tmp_path, change, words):
    p = write(tmp_path, BASE.replace(*change))
    with pytest.raises(FormatError, match=words) as e:
        load_profile(p)
    assert str(p) in str(e.value) and e.value.path == str(p)


def test_missing_and_invalid_toml_files(tmp_path):
    with pytest.raises(FormatError, match="does not exist"):
        load_profile(tmp_path / "nope.toml")
    with pytest.raises(FormatError, match="not valid TOML"):
        load_profile(write(tmp_path, "name = = 3"))
    with pytest.raises(FormatError, match=r"declare at least one \[\[stream\]\]"):
        load_profile(write(tmp_path, 'name = "x"'))

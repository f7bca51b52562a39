"""Polar PMD decoders against byte vectors from the published format (polar-ble-sdk)."""

import struct

import numpy as np
import pytest

from wearsense.devices.ble_common import MalformedNotification
from wearsense.devices.ble_polar import (
    ACC,
    ECG,
    FACTOR,
    GYRO,
    MAG,
    RANGE,
    RESOLUTION,
    SAMPLE_RATE,
    decode_frame,
    delta_decode,
    encode_settings,
    parse_control_response,
    parse_features,
    parse_settings,
    sample_times_s,
)

G = 9.80665


def header(measurement: int, ts_ns: int, frame_type: int) -> bytes:
    return bytes((measurement,)) + struct.pack("<Q", ts_ns) + bytes((frame_type,))


def encode_delta(samples: np.ndarray, resolution: int, width: int, per_block: int) -> bytes:
    """An independent encoder of the PMD delta format (reference sample, then blocks)."""
    samples = np.asarray(samples, dtype=np.int64)
    nb = -(-resolution // 8)
    out = b"".join(int(v % (1 << (8 * nb))).to_bytes(nb, "little") for v in samples[0])
    deltas = np.diff(samples, axis=0)
    for a in range(0, len(deltas), per_block):
        block = deltas[a : a + per_block]
        acc, nbits = 0, 0
        for value in block.reshape(-1):
            acc |= (int(value) & ((1 << width) - 1)) << nbits
            nbits += width
        out += bytes((width, len(block))) + acc.to_bytes(-(-nbits // 8), "little")
    return out


def test_sdk_vector_gyro_compressed_type0():
    # polar-ble-sdk GyrDataTest "process gyro compressed data type 0"
    frame = header(GYRO, 0x7FFFFFFFFFFFFFFF, 0x80) + bytes.fromhex("EAFF08000D000301DF00")
    f = decode_frame(frame)
    assert f.compressed and f.frame_type == 0 and f.timestamp_ns == 9223372036854775807
    assert f.values.tolist() == [[-22, 8, 13], [-23, 11, 16]]


def test_sdk_vector_gyro_compressed_type1_float_bit_patterns_with_factor():
    # polar-ble-sdk GyrDataTest "process gyro compressed data type 1 (with factor)": 28-bit deltas
    content = bytes.fromhex("0000803F000020410000A0411C010000A001000008CDCCEC0D")
    f = decode_frame(header(GYRO, 2_000_000_000, 0x81) + content, factor=0.5)
    assert f.values[0] == pytest.approx([0.5, 5.0, 10.0])
    assert f.values[1] == pytest.approx([5.0, 10.0, 0.55], rel=1e-6)


def test_acc_raw_frames_in_milli_g_become_m_per_s2():
    for ftype, fmt in ((0, "<3b"), (1, "<3h")):
        content = struct.pack(fmt, 100, -50, 0) + struct.pack(fmt, 0, 1, -1)
        f = decode_frame(header(ACC, 5, ftype) + content)
        assert f.values / (G / 1000) == pytest.approx(np.array([[100, -50, 0], [0, 1, -1]]))
    int24 = b"".join(int(v % (1 << 24)).to_bytes(3, "little") for v in (-1000, 2000, 8_000_000 - 2**23))
    f = decode_frame(header(ACC, 5, 2) + int24)
    assert f.values[0] / (G / 1000) == pytest.approx([-1000, 2000, 8_000_000 - 2**23])


def test_acc_delta_frames_round_trip_an_independent_encoder():
    rng = np.random.default_rng(7)
    walk = np.cumsum(rng.integers(-60, 61, size=(37, 3)), axis=0) + np.array([980, -30, 12])
    content = encode_delta(walk, 16, width=8, per_block=9)
    assert delta_decode(content, 3, 16).tolist() == walk.tolist()
    f = decode_frame(header(ACC, 10**12, 0x81) + content, factor=1.0)
    assert f.values / (G / 1000) == pytest.approx(walk.astype(float))
    g = decode_frame(header(ACC, 10**12, 0x80) + content, factor=0.001)  # type 0: g units
    assert g.values == pytest.approx(walk * 0.001 * G)


@pytest.mark.parametrize("width", [1, 3, 7, 13, 16])
def test_delta_widths_and_negative_deltas(width):
    rng = np.random.default_rng(width)
    lim = 1 << (width - 1)
    deltas = rng.integers(-lim, lim, size=(20, 3))
    samples = np.vstack([[[-5, 7, 32000 - 2**15]], deltas]).cumsum(axis=0)
    assert delta_decode(encode_delta(samples, 16, width, 6), 3, 16).tolist() == samples.tolist()


def test_mag_compressed_frames_in_gauss_and_milligauss_become_microtesla():
    s = np.array([[100, -200, 300], [101, -199, 299]])
    f = decode_frame(header(MAG, 1, 0x80) + encode_delta(s, 16, 4, 10), factor=0.01)
    assert f.values == pytest.approx(s * 0.01 * 100)
    s4 = np.array([[500, -400, 300, 3], [502, -401, 300, 3]])
    f = decode_frame(header(MAG, 1, 0x81) + encode_delta(s4, 16, 4, 10))
    assert f.values == pytest.approx(s4[:, :3] * 0.1)


def test_ecg_int24_microvolts_become_volts():
    vals = [-120, 0, 350, -(2**23)]
    content = b"".join(int(v % (1 << 24)).to_bytes(3, "little") for v in vals)
    f = decode_frame(header(ECG, 3, 0x00) + content)
    assert f.values[:, 0] == pytest.approx(np.array(vals) * 1e-6)


@pytest.mark.parametrize(
    "frame, words",
    [
        (header(ACC, 1, 1)[:9], "at least 11"),
        (header(ACC, 1, 1) + b"\x00" * 7, "not a multiple of 6"),
        (header(ACC, 1, 5) + b"\x00" * 6, "raw frame type 5 is not supported"),
        (header(GYRO, 1, 0) + b"\x00" * 6, "raw frame type 0 is not supported"),
        (header(GYRO, 1, 0x80) + b"\x00" * 5, "shorter than the 6-byte reference"),
        (header(GYRO, 1, 0x80) + b"\x00" * 6 + b"\x08", "block header truncated"),
        (header(GYRO, 1, 0x80) + b"\x00" * 6 + b"\x08\x04\x00", "needs 12 bytes, 1 left"),
        (header(GYRO, 1, 0x80) + b"\x00" * 6 + b"\x28\x01" + b"\x00" * 15, "delta width 40"),
        (header(9, 1, 0) + b"\x00" * 3, "measurement type 9 is not decoded"),
    ],
)
def test_malformed_frames_are_rejected_with_the_reason(frame, words):
    with pytest.raises(MalformedNotification, match=words):
        decode_frame(frame)


def test_sample_times_spread_back_from_the_frame_timestamp():
    t = sample_times_s(10_000_000_000, 4, None, 50.0)  # first frame: nominal 20 ms
    assert np.allclose(t, [9.94, 9.96, 9.98, 10.0])
    t = sample_times_s(10_000_000_000, 4, 9_920_400_000, 50.0)  # 19.9 ms measured between frames
    assert np.allclose(np.diff(t), 0.0199)
    t = sample_times_s(10_000_000_000, 4, 9_000_000_000, 50.0)  # a lost frame in between: nominal again
    assert np.allclose(np.diff(t), 0.02)


def test_settings_query_response_and_start_command_bytes():
    # GET_MEASUREMENT_SETTINGS response for ACC: F0 01 02 00 00, then the offered settings
    response = bytes.fromhex("F00102000000013400010110000203020004000800")
    op, kind, status, more, params = parse_control_response(response)
    assert (op, kind, status, more) == (1, ACC, 0, False)
    assert parse_settings(params) == {SAMPLE_RATE: [52], RESOLUTION: [16], RANGE: [2, 4, 8]}
    assert encode_settings({SAMPLE_RATE: 52, RESOLUTION: 16, RANGE: 8, FACTOR: 1}) == bytes.fromhex(
        "000134000101100002010800"
    )
    start = parse_control_response(bytes.fromhex("F00205000005 01") + struct.pack("<f", 0.25))
    assert parse_settings(start[4]) == {FACTOR: [0.25]}
    refused = parse_control_response(bytes.fromhex("F0020208"))
    assert refused[2] == 8 and refused[4] == b""  # ERROR_INVALID_SAMPLE_RATE


def test_features_bitmask():
    assert parse_features(bytes.fromhex("0F0500")) == {ECG, ACC}
    assert parse_features(bytes.fromhex("0F6400")) == {ACC, GYRO, MAG}
    with pytest.raises(MalformedNotification):
        parse_features(b"\x01\x02")

"""The Python codec (wearsense.bridge) against the C core: vectors both ways, properties."""

from __future__ import annotations

import itertools
import json
import subprocess

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wearsense import bridge as wb
from wearsense.errors import FormatError
from wearsense.stream import Chunk, StreamInfo


@pytest.fixture(scope="module")
def vectors(firmware_dir):
    return json.loads((firmware_dir / "vectors" / "vectors.json").read_text())["vectors"]


PARSERS = {
    wb.T_STATUS: wb.parse_status, wb.T_EVENT: wb.parse_event, wb.T_TIME_SYNC_REQ: wb.parse_time_sync_req,
    wb.T_TIME_SYNC_RESP: wb.parse_time_sync_resp, wb.T_ACK: wb.parse_ack, wb.T_SET_RATE: wb.parse_set_rate,
}  # fmt: skip


def decoded_payload(h: wb.Header, payload: bytes, layout: tuple[int, int] | None) -> dict:
    if h.type == wb.T_HELLO:
        return (
            wb.parse_hello_device(payload) if h.stream == wb.STREAM_DEVICE else wb.parse_hello_stream(payload)
        )
    if h.type == wb.T_DATA:
        fmt, n_ch = layout  # what the stream's HELLO would have said
        samples, period = wb.parse_data(payload, fmt, n_ch)
        return {
            "format": fmt,
            "n_samples": samples.shape[0],
            "n_channels": n_ch,
            "period_q8": period,
            "samples": samples.ravel().tolist(),
        }
    if h.type in PARSERS:
        return PARSERS[h.type](payload)
    assert payload == b""
    return {}


def payload_from_meaning(h: dict, p: dict) -> bytes:
    t = h["type"]
    if t == wb.T_HELLO and h["stream"] == wb.STREAM_DEVICE:
        fw = tuple(int(x) for x in p["firmware"].split("."))
        return wb.payload_hello_device(p["name"], p["serial"], fw, p["n_streams"], p["boot_id"])
    if t == wb.T_HELLO:
        return wb.payload_hello_stream(
            p["modality"], p["format"], p["rate_hz"], p["name"], p["channels"], p["units"], p["scale"]
        )
    if t == wb.T_DATA:
        dtype = np.float32 if p["format"] == wb.FMT_FLOAT32 else np.int64
        a = np.array(p["samples"], dtype).reshape(p["n_samples"], p["n_channels"])
        return wb.payload_data(p["format"], a, p["period_q8"])
    builders = {
        wb.T_STATUS: lambda: wb.payload_status(**p),
        wb.T_EVENT: lambda: wb.payload_event(**p),
        wb.T_TIME_SYNC_REQ: lambda: wb.payload_time_sync_req(**p),
        wb.T_TIME_SYNC_RESP: lambda: wb.payload_time_sync_resp(**p),
        wb.T_ACK: lambda: wb.payload_ack(**p),
        wb.T_SET_RATE: lambda: wb.payload_set_rate(**p),
    }
    return builders[t]() if t in builders else b""


def test_crc16_is_ccitt_false():
    assert wb.crc16(b"123456789") == 0x29B1


@pytest.mark.parametrize(
    "raw, encoded",
    [(b"\x00", b"\x01\x01"), (b"\x00\x00", b"\x01\x01\x01"), (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
     (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
     (bytes(range(1, 255)), b"\xff" + bytes(range(1, 255)) + b"\x01")],
)  # fmt: skip
def test_cobs_matches_the_published_examples(raw, encoded):
    assert wb.cobs_encode(raw) == encoded
    assert wb.cobs_decode(encoded) == raw


def test_every_c_vector_decodes_to_its_stated_meaning_in_python(vectors):
    dec = wb.FrameDecoder(resync=False)
    for v in vectors:
        wire = bytes.fromhex(v["hex"])
        batch = dec.feed(wire)
        if "error" in v:
            assert len(batch) == 0, v["name"]
            with pytest.raises(wb.FrameError):
                wb.decode_wire(wire)
            continue
        assert len(batch) == 1, v["name"]
        h, payload = wb.decode_wire(wire)
        assert h == batch.header(0)
        assert {k: getattr(h, k) for k in v["header"]} == v["header"], v["name"]
        layout = (v["payload"]["format"], v["payload"]["n_channels"]) if h.type == wb.T_DATA else None
        meaning = decoded_payload(h, payload, layout)
        expected = v["payload"]
        for key, want in expected.items():
            got = meaning[key]
            if isinstance(want, list) and want and isinstance(want[0], float):
                np.testing.assert_allclose(got, want, rtol=1e-7, err_msg=v["name"])
            elif isinstance(want, float):
                assert got == pytest.approx(want, rel=1e-7), (v["name"], key)
            else:  # integers, strings, lists of them: exactly (pytest.approx refuses strings)
                assert got == want, (v["name"], key)
    assert dec.errors == {"cobs": 1, "short": 1, "crc": 1, "oversize": 0, "version": 1}


def test_python_builds_the_same_bytes_as_the_c_core_for_every_vector(vectors):
    for v in vectors:
        if "error" in v:
            continue
        h = v["header"]
        payload = payload_from_meaning(h, v["payload"])
        wire = wb.build_frame(
            h["type"],
            h["stream"],
            h["seq"],
            h["timestamp_us"],
            payload,
            ts64=bool(h["flags"] & wb.FLAG_TS64),
            version=h["version"],
        )
        assert wire.hex() == v["hex"], v["name"]


def test_c_tool_decodes_frames_built_by_python(build_dir):
    rng = np.random.default_rng(7)
    frames, expect = [], []
    for i in range(200):
        samples = rng.integers(-(2**23), 2**23, size=(int(rng.integers(1, 20)), 8))
        payload = wb.payload_data(wb.FMT_INT24, samples, 128000)
        ts = int(rng.integers(0, 2**40))
        frames.append(wb.build_frame(wb.T_DATA, i % 3, i * 1000, ts, payload, ts64=bool(i % 2)))
        expect.append((i % 3, i * 1000, ts if i % 2 else ts & 0xFFFFFFFF, payload.hex()))
    out = subprocess.run(
        [str(build_dir / "wsb_tool"), "decode"], input=b"".join(frames), capture_output=True, check=True
    )
    got = [json.loads(x) for x in out.stdout.decode().splitlines()]
    assert [(g["stream"], g["seq"], g["timestamp_us"], g["payload"]) for g in got] == expect


@settings(max_examples=300, deadline=None)
@given(
    payload=st.binary(max_size=wb.MAX_PAYLOAD),
    seq=st.integers(0, 2**32 - 1),
    ts=st.integers(0, 2**64 - 1),
    ts64=st.booleans(),
    type_=st.integers(0, 255),
    stream=st.integers(0, 255),
)
def test_any_payload_encodes_and_decodes_to_itself(payload, seq, ts, ts64, type_, stream):
    wire = wb.build_frame(type_, stream, seq, ts, payload, ts64=ts64)
    assert b"\x00" not in wire[:-1]
    batch = wb.FrameDecoder(resync=False).feed(wire)
    assert len(batch) == 1
    assert batch.payload(0) == payload
    h = batch.header(0)
    assert (h.type, h.stream, h.seq) == (type_, stream, seq)
    assert h.timestamp_us == (ts if ts64 else ts & 0xFFFFFFFF)


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(max_size=3000), cut=st.integers(0, 3000))
def test_byte_noise_never_raises_and_never_hides_the_next_good_frame(noise, cut):
    good = wb.build_frame(wb.T_STATUS, wb.STREAM_DEVICE, 5, 6, wb.payload_status(3700, 50, 1, 0, 0, 0))
    dec = wb.FrameDecoder(resync=False)
    stream = noise + b"\x00" + good
    a = dec.feed(stream[:cut])
    b = dec.feed(stream[cut:])
    frames = [a.payload(i) for i in range(len(a))] + [b.payload(i) for i in range(len(b))]
    assert frames[-1] == wb.payload_status(3700, 50, 1, 0, 0, 0)


@settings(max_examples=100, deadline=None)
@given(cuts=st.lists(st.integers(0, 20000), max_size=30))
def test_splitting_the_byte_stream_anywhere_gives_the_same_frames(cuts):
    rng = np.random.default_rng(3)
    wire = b"".join(
        wb.build_frame(
            wb.T_DATA,
            0,
            i * 20,
            i * 10000,
            wb.payload_data(wb.FMT_INT16, rng.integers(-99, 99, (20, 4)), 2560),
        )
        for i in range(100)
    )
    dec = wb.FrameDecoder(resync=False)
    seqs = []
    edges = [0, *sorted(c % (len(wire) + 1) for c in cuts), len(wire)]
    for a, z in itertools.pairwise(edges):
        seqs += dec.feed(wire[a:z]).seq.tolist()
    assert seqs == [i * 20 for i in range(100)]
    assert dec.frames_bad == 0


def test_vectorised_sample_decoding_equals_decoding_each_frame():
    rng = np.random.default_rng(11)
    for fmt, lo, hi in [
        (wb.FMT_INT16, -(2**15), 2**15),
        (wb.FMT_INT24, -(2**23), 2**23),
        (wb.FMT_FLOAT32, -5, 5),
    ]:
        frames, per_frame = [], []
        seq = 0
        for i in range(50):
            n = int(rng.integers(1, 12))
            s = (
                rng.uniform(lo, hi, (n, 5)).astype(np.float32)
                if fmt == wb.FMT_FLOAT32
                else rng.integers(lo, hi, (n, 5))
            )
            p = wb.payload_data(fmt, s, 128000)
            frames.append(wb.build_frame(wb.T_DATA, 2, seq, 1000 + seq * 500, p))
            per_frame.append(wb.parse_data(p, fmt, 5)[0])
            seq += n
        batch = wb.FrameDecoder(resync=False).feed(b"".join(frames))
        block = wb.decode_samples(batch, wb.StreamLayout(2, fmt, 5))
        np.testing.assert_array_equal(block.raw, np.concatenate(per_frame))
        np.testing.assert_array_equal(block.seq, np.arange(seq))
        np.testing.assert_allclose(
            block.offset_us + batch.timestamp_us[block.frame], 1000 + np.arange(seq) * 500.0
        )


def test_data_payload_shorter_than_its_header_says_is_counted_not_decoded():
    p = wb.payload_data(wb.FMT_INT16, np.ones((4, 2)), 2560)
    bad = p[:-2]  # claims 4 samples, holds 3.5
    batch = wb.FrameDecoder(resync=False).feed(
        wb.build_frame(wb.T_DATA, 0, 0, 0, bad) + wb.build_frame(wb.T_DATA, 0, 4, 4, p)
    )
    block = wb.decode_samples(batch, wb.StreamLayout(0, wb.FMT_INT16, 2))
    assert block.bad == 1
    assert block.seq.tolist() == [4, 5, 6, 7]


def test_32_bit_counters_unwrap_across_the_wrap():
    raw = np.array([2**32 - 20, 2**32 - 10, 5, 15], np.uint64)
    assert wb.unwrap(raw, None, 0).tolist() == [2**32 - 20, 2**32 - 10, 2**32 + 5, 2**32 + 15]
    assert wb.unwrap(np.array([3], np.uint64), 2**32 - 1, 2**33 - 1).tolist() == [2**33 + 3]


def test_unknown_major_version_is_refused_with_the_fix():
    wire = wb.build_frame(wb.T_DATA, 0, 0, 0, b"", version=0x21)
    with pytest.raises(wb.FrameError, match="update wearsense"):
        wb.decode_wire(wire)
    dec = wb.FrameDecoder(resync=False)
    assert len(dec.feed(wire)) == 0 and dec.errors["version"] == 1


def test_newer_minor_version_is_decoded():
    wire = wb.build_frame(
        wb.T_STATUS, wb.STREAM_DEVICE, 0, 0, wb.payload_status(1, 2, 3, 4, 5, 6) + b"future", version=0x13
    )
    batch = wb.FrameDecoder(resync=False).feed(wire)
    assert wb.parse_status(batch.payload(0))["rx_errors"] == 6


def test_oversize_and_truncated_payloads_raise_named_errors():
    with pytest.raises(wb.FrameError, match="exceeds"):
        wb.build_frame(wb.T_DATA, 0, 0, 0, bytes(wb.MAX_PAYLOAD + 1))
    with pytest.raises(wb.FrameError, match="STATUS payload truncated"):
        wb.parse_status(b"\x01\x02")
    with pytest.raises(wb.FrameError, match="int24 DATA value out of range"):
        wb.payload_data(wb.FMT_INT24, np.array([[2**23]]), 1)


def test_write_raw_quantizes_and_refuses_non_wearable_streams(tmp_path, wsraw):
    info = StreamInfo("emg", "EMG", ("a", "b"), "V", 2000.0)
    x = np.stack([np.sin(np.arange(100) / 5) * 1e-3, np.cos(np.arange(100) / 7) * 2e-3], axis=1)
    written = wsraw(tmp_path / "x.wsraw", [(info, Chunk(x, np.arange(100) / 2000.0))])
    raw, scale = written["emg"]
    np.testing.assert_allclose(raw * scale, x, atol=float(scale.max()))
    assert (tmp_path / "x.wsraw").read_bytes().startswith(b"WSRAW01\n")
    pose = StreamInfo("pose", "POSE", ("x",), "m", 60.0)
    with pytest.raises(FormatError, match="1..8 wearable streams"):
        wsraw(tmp_path / "y.wsraw", [(pose, Chunk(np.zeros(3), np.arange(3.0)))])


def test_tail_of_a_missed_frame_is_not_an_error_but_a_whole_first_frame_is_kept():
    frame = wb.build_frame(wb.T_STATUS, wb.STREAM_DEVICE, 1, 2, wb.payload_status(1, 2, 3, 4, 5, 6))
    dec = wb.FrameDecoder()  # as after opening a port
    assert len(dec.feed(frame[7:] + frame)) == 1
    assert dec.frames_bad == 0 and dec.resync_bytes == len(frame) - 7
    dec = wb.FrameDecoder()
    assert len(dec.feed(frame + frame)) == 2
    assert dec.resync_bytes == 0

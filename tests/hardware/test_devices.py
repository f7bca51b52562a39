"""A real device streams what it declares, with sane timestamps, and records (see README.md)."""

import time

import numpy as np
import pytest

import wearsense

pytestmark = pytest.mark.hardware


def stream_for(uri: str, seconds: float) -> tuple[dict, dict]:
    infos, chunks = {}, {}
    with wearsense.open(uri) as dev:
        start = time.monotonic()
        for info, chunk in dev:
            infos[info.name] = info
            chunks.setdefault(info.name, []).append(chunk)
            if time.monotonic() - start >= seconds:
                break
    return infos, chunks


def test_every_declared_stream_delivers_at_its_rate(device_uri, seconds):
    infos, chunks = stream_for(device_uri, seconds)
    assert infos, f"{device_uri} declared no stream"
    for name, info in infos.items():
        got = chunks[name]
        n = sum(c.n for c in got)
        assert n > 0, f"{name}: no samples in {seconds} s"
        t = np.concatenate([c.t for c in got])
        seq = np.concatenate([c.seq for c in got])
        assert np.all(np.diff(t) >= 0), f"{name}: timestamps go backwards"
        assert np.all(np.diff(seq) > 0), f"{name}: sequence numbers do not count up"
        if info.rate_hz > 0 and n > 1:
            lost = int(seq[-1] - seq[0] + 1 - n)
            rate = (n + lost - 1) / (t[-1] - t[0])
            assert abs(rate / info.rate_hz - 1) < 0.05, f"{name}: {rate:.1f} Hz, nominal {info.rate_hz} Hz"


def test_a_recording_reads_back_with_the_same_streams(device_uri, seconds, tmp_path):
    path = tmp_path / "hardware.xdf"
    wearsense.record([device_uri], path, duration_s=seconds)
    streams = wearsense.read(path)
    infos, _ = stream_for(device_uri, 1.0)
    assert set(streams) == set(infos)
    assert all(chunk.n > 0 for _, chunk in streams.values())

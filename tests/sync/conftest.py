"""Fixtures of the sync tests: the sim's streams as the host receives them.

``packet_chunks`` and ``arrival_order`` are fixtures that return the functions below,
so test modules ask for them by name instead of importing from this file.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from wearsense import sim
from wearsense.stream import Chunk, StreamInfo
from wearsense.sync import ClockSettings, StreamSyncSettings, TimelineSettings, sync_offline


def _packet_chunks(rec: sim.SimRecording, name: str) -> Iterator[Chunk]:
    """One chunk per delivered packet of stream ``name``, with its host arrival time."""
    info, whole = rec.streams[name]
    pk = rec.truth.packets[name]
    first = np.searchsorted(whole.seq, pk[:, 0].astype(np.int64))
    last = np.searchsorted(whole.seq, pk[:, 1].astype(np.int64))
    for a, z, arrival in zip(first, last, pk[:, 2]):
        c = whole[int(a) : int(z) + 1]
        yield Chunk(c.data, c.t, c.seq, c.clock, float(arrival))


def _arrival_order(rec: sim.SimRecording) -> Iterator[tuple[StreamInfo, Chunk]]:
    """Every packet of every stream in order of host arrival (what a live session sees)."""
    items = []
    for name in rec.streams:
        info = rec.streams[name][0]
        for i, c in enumerate(_packet_chunks(rec, name)):
            items.append((c.received_s, name, i, info, c))
    items.sort(key=lambda r: (r[0], r[1], r[2]))
    for _, _, _, info, c in items:
        yield info, c


@pytest.fixture(scope="session")
def packet_chunks():
    """``packet_chunks(rec, name)``: one chunk per delivered packet, with its host arrival time."""
    return _packet_chunks


@pytest.fixture(scope="session")
def arrival_order():
    """``arrival_order(rec)``: ``(info, chunk)`` of every packet of every stream in host arrival order."""
    return _arrival_order


def _synced_packets(rec: sim.SimRecording, names=None, latency_of: str | None = None):
    """``sync_offline`` over the packets of ``names`` (default: every stream), the clock models
    told the minimum link latency of stream ``latency_of`` (default: none told)."""
    names = list(rec.streams) if names is None else list(names)
    streams = {n: (rec.streams[n][0], _packet_chunks(rec, n)) for n in names}
    if latency_of is None:
        return sync_offline(streams)
    lat = rec.truth.clocks[latency_of].latency_s
    return sync_offline(
        streams, TimelineSettings(default=StreamSyncSettings(clock=ClockSettings(min_latency_s=lat)))
    )


@pytest.fixture(scope="session")
def synced_packets():
    """``synced_packets(rec, names=None, latency_of=None)`` -> ``(out, timeline)``: the sim's
    packets synced offline, as the host received them."""
    return _synced_packets


@pytest.fixture(scope="session")
def ble_rec() -> sim.SimRecording:
    """62 s with BLE-like links: ±5 s offsets, ±100 ppm drift, 15 ms jitter, 20 ms packets, 2 % loss."""
    return sim.generate(4, 62.0, offset_s=5.0, drift_ppm=100.0, jitter_ms=15.0, packet_ms=20.0, loss=0.02)

"""Fuzz: a million random and mutated frames through the stream decoder."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense import bridge as wb

N_FRAMES = 1_000_000


@pytest.mark.slow
def test_a_million_mutated_frames_never_raise_and_every_intact_frame_survives():
    rng = np.random.default_rng(2024)
    # a pool of valid frames (IMU-like and EMG-like payloads, some zero-heavy), tiled to 1e6
    pool = []
    for i in range(512):
        n = int(rng.integers(1, 6))
        samples = rng.integers(-300, 300, (n, 9)) if i % 2 else rng.integers(-(2**23), 2**23, (n, 4))
        fmt = wb.FMT_INT16 if i % 2 else wb.FMT_INT24
        pool.append(
            np.frombuffer(
                wb.build_frame(wb.T_DATA, i % 4, i, i * 1000, wb.payload_data(fmt, samples, 1280000)),
                np.uint8,
            )
        )
    pick = rng.integers(0, len(pool), N_FRAMES)
    lens = np.array([p.size for p in pool])[pick]
    wire = np.concatenate([pool[i] for i in pick])
    starts = np.cumsum(lens) - lens
    # mutate 10 %: a flipped bit, a dropped byte, a cut (early delimiter) or random bytes, never the delimiter
    mutated = rng.random(N_FRAMES) < 0.10
    kind = rng.integers(0, 4, N_FRAMES)
    at = starts + (rng.random(N_FRAMES) * (lens - 1)).astype(np.int64)
    flip = mutated & (kind == 0)
    wire[at[flip]] ^= (1 << rng.integers(0, 8, int(flip.sum()))).astype(np.uint8)
    cut = mutated & (kind == 2)
    wire[at[cut]] = 0
    noise = mutated & (kind == 3)
    wire[at[noise]] ^= rng.integers(1, 256, int(noise.sum()), dtype=np.uint8)
    keep = np.ones(wire.size, bool)
    keep[at[mutated & (kind == 1)]] = False
    wire = wire[keep]
    dec = wb.FrameDecoder(resync=False)
    got = []
    for a in range(0, wire.size, 1 << 20):
        batch = dec.feed(wire[a : a + (1 << 20)])
        got.append(batch.seq.astype(np.int64) * 4 + batch.stream)
    got = np.concatenate(got)
    want = pick[~mutated].astype(np.int64) * 4 + pick[~mutated] % 4
    # CRC-16 lets a mutant through with probability ~2^-16
    extra = got.size - want.size
    assert 0 <= extra <= max(3, int(mutated.sum()) >> 14)
    # every intact frame arrives, in order (the few accepted mutants aside)
    g, j = got.tolist(), 0
    w = want.tolist()
    for x in g:
        if j < len(w) and x == w[j]:
            j += 1
    assert j == len(w)
    assert dec.frames_ok == got.size
    assert dec.frames_bad >= int(mutated.sum()) - extra

"""The virtual mover is deterministic and chunking never changes its samples."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wearsense import sim
from wearsense.devices import BlockingDevice, acquire
from wearsense.errors import StreamError
from wearsense.stream import concat, split


def test_same_seed_same_samples_different_seed_different_samples():
    a = sim.generate(5, 4.0)
    b = sim.generate(5, 4.0)
    c = sim.generate(6, 4.0)
    for name, (_, chunk) in a.streams.items():
        assert chunk.equals(b.streams[name][1])
    assert not np.array_equal(a.streams["sim-emg"][1].data[:1000], c.streams["sim-emg"][1].data[:1000])


def test_a_longer_run_starts_with_the_shorter_one():
    short = sim.generate(3, 3.0)
    long = sim.generate(3, 7.0)
    for name, (_, chunk) in short.streams.items():
        assert chunk.equals(long.streams[name][1][: chunk.n])


def test_live_device_delivers_exactly_what_generate_returns():
    rec = sim.generate(9, 5.0, loss=0.02)
    live = acquire("sim://mover?seed=9&loss=0.02&realtime=0&duration_s=5")
    assert set(live) == set(rec.streams)
    for name, (info, chunk) in live.items():
        assert info == rec.streams[name][0]
        assert chunk.equals(rec.streams[name][1]), name


def test_live_packets_arrive_in_host_order_with_arrival_after_capture():
    last = -np.inf
    with BlockingDevice("sim://mover?seed=2&realtime=0&duration_s=3") as dev:
        for info, chunk in dev:
            assert chunk.received_s >= last
            last = chunk.received_s
            clock = dev.device.clocks[info.name]
            captured = clock.true_time(chunk.t[-1]) - clock.stamp_latency_s
            assert chunk.received_s >= captured + clock.latency_s - 1e-6


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(0, 20000), max_size=6))
def test_any_chunking_of_the_sim_output_is_identical(cuts):
    _, emg = sim.generate(1, 10.0).streams["sim-emg"]
    cuts = sorted(min(c, emg.n) for c in cuts)
    assert concat(split(emg, cuts)).equals(emg)


def test_bad_settings_are_clear_errors():
    with pytest.raises(StreamError, match="emg"):
        sim.generate(0, 1.0, emg=0)
    with pytest.raises(StreamError, match="unknown sim setting"):
        sim.generate(0, 1.0, emgs=3)
    with pytest.raises(StreamError, match="moves"):
        sim.generate(0, 1.0, moves=("dance",))
    with pytest.raises(StreamError, match="duration_s"):
        sim.generate(0, 0.0)


def test_generate_many_matches_generate_in_each_process():
    recs = sim.generate_many([1, 2], 2.0, processes=2)
    for seed, rec in zip([1, 2], recs):
        assert rec.streams["sim-emg"][1].equals(sim.generate(seed, 2.0).streams["sim-emg"][1])

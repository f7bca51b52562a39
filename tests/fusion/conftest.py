"""Fixtures of the fusion tests: one small sim recording and one small sim dataset, made
once per test session, and tiny Takes for code that only needs the shapes right."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.fusion.frames import FeatureSpec, Take


@pytest.fixture(scope="session")
def sim_recording():
    """8 s of the virtual mover (4 EMG, 2 IMUs, pose) with its truth; times: ``truth.sample_t``."""
    from wearsense import sim

    return sim.generate(3, 8.0, emg=4, imu=2, moves=("reach", "squat"), keep_truth=True)


@pytest.fixture(scope="session")
def sim_host_streams(sim_recording):
    """The recording's streams in the host clock, as the sim reader pushes them: EMG and IMU
    at their true capture times, pose at capture + the camera pipeline's latency (its stamp)."""
    from wearsense.stream import Chunk

    cfg = sim_recording.config
    lat = cfg.pose_latency_ms * 1e-3
    out = {}
    for name, (info, chunk) in sim_recording.streams.items():
        t = sim_recording.truth.sample_t[name] + (lat if name == "sim-pose" else 0.0)
        out[name] = (info, Chunk(chunk.data, t, chunk.seq, "host"))
    return out, lat


@pytest.fixture(scope="session")
def sim_dataset(tmp_path_factory):
    """A prepared sim dataset: 3 movers x 20 s (train, val, test one each); the family "martial"
    is held out of training (only the test mover may perform it)."""
    from wearsense.fusion.data import make_sim_dataset

    out = tmp_path_factory.mktemp("simds")
    return make_sim_dataset(out, movers=3, minutes_per_mover=20 / 60, take_s=20, seed=40,
                            val_fraction=1 / 3, test_fraction=1 / 3, hold_out_families=("martial",))


def tiny_take(steps: int = 12, spec: FeatureSpec | None = None, name: str = "tiny", split: str = "train",
              seed: int = 0, c: int = 2, s: int = 1, d: int = 6, j: int = 3, q: int = 2) -> Take:
    """A Take of random values with every field in the right shape (for shape-only tests)."""
    spec = spec or FeatureSpec()
    rng = np.random.default_rng(seed)
    h = len(spec.horizons_ms)
    e = spec.event_slots
    f32 = np.float32
    return Take(
        name=name, mover=f"m{seed}", split=split, spec=spec,
        t=np.arange(steps) / spec.step_hz,
        emg=rng.random((steps, c, spec.emg_patch)).astype(f32), emg_ok=np.ones((steps, c), bool),
        imu=rng.random((steps, s, 10)).astype(f32), imu_ok=np.ones((steps, s), bool),
        pose=rng.random((steps, d)).astype(f32), pose_age=np.full(steps, 0.05, f32),
        pose_ok=np.ones(steps, bool), events=np.zeros((steps, e, 2), f32),
        events_ok=np.zeros((steps, e), bool),
        y_angles=rng.random((steps, h, j)).astype(f32), y_kp=rng.random((steps, h, q, 3)).astype(f32),
        y_ok=np.ones((steps, h), bool),
        labels={"family": np.zeros(steps, np.int16), "kind": np.zeros(steps, np.int16),
                "onset": np.zeros(steps, np.int8)},
        names={"emg": [f"e{i}" for i in range(c)], "imu": [f"imu{i}" for i in range(s)],
               "families": ["everyday"], "kinds": ["reach"]},
    )


@pytest.fixture
def tiny():
    """Factory of tiny random Takes: ``tiny(steps=12, seed=0, ...)``."""
    return tiny_take

"""Movers who differ: a person drawn from the seed, with the traits the sim then obeys."""

import numpy as np
import pytest

from wearsense import sim
from wearsense.errors import StreamError
from wearsense.sim.population import PopulationConfig, draw_traits


@pytest.fixture(scope="module")
def hundred():
    return [sim.traits_of(s, person="drawn") for s in range(100)]


def test_the_same_seed_is_the_same_person_and_others_differ(hundred):
    again = sim.traits_of(5, person="drawn")
    np.testing.assert_array_equal(again.emd_ms, hundred[5].emd_ms)
    assert again.height_m == hundred[5].height_m
    heights = np.array([t.height_m for t in hundred])
    assert len(np.unique(heights)) == 100


def test_population_spreads_like_people(hundred):
    emd = np.stack([t.emd_ms for t in hundred])
    assert emd.min() >= 30.0 and emd.max() <= 80.0
    assert 5.0 < emd.mean(axis=1).std() < 15.0  # movers differ in their mean EMD
    assert 4.0 < emd.std(axis=1).mean() < 10.0  # and muscles within a mover differ
    h = np.array([t.height_m for t in hundred])
    assert 1.50 <= h.min() and h.max() <= 1.95 and 0.06 < h.std() < 0.12
    s = np.array([t.strength for t in hundred])
    assert 0.15 < np.std(np.log(s)) < 0.35
    tau = np.array([t.tau_act_ms for t in hundred])
    assert tau.min() >= 10 and tau.max() <= 20
    left = sum(not t.right_handed for t in hundred)
    assert 2 <= left <= 25


def test_reference_person_is_the_lab_default():
    tr = sim.traits_of(1)
    assert tr.height_m == 1.75 and tr.strength == 1.0
    assert np.all(tr.emd_ms == 50.0)
    assert np.all(sim.traits_of(1, emd_ms=30.0).emd_ms == 30.0)


def test_each_muscle_force_lags_its_drive_by_its_own_emd():
    rec = sim.generate(12, 40.0, person="drawn", moves=("reach", "squat"))
    tr = rec.truth
    checked = 0
    for i, name in enumerate(tr.muscles):
        # bursts above the muscle's own standing level (a loaded calf is active at rest)
        base = np.percentile(tr.drive[:, i], 10)
        on_d = sim.burst_times(tr.drive[:, i], tr.phys_t, base + 0.08, base + 0.06)[:, 0]
        on_f = sim.burst_times(tr.force[:, i], tr.phys_t, base + 0.08, base + 0.06)[:, 0]
        if on_f.size < 3:
            continue
        k = np.searchsorted(on_d, on_f - 1e-9, side="right") - 1
        lead = on_f[k >= 0] - on_d[k[k >= 0]]
        assert np.median(lead) >= tr.emd_of(name) - 1e-3, name
        assert np.median(lead) <= tr.emd_of(name) + 0.015, name
        checked += 1
    assert checked >= 3
    assert np.ptp([tr.emd_of(m) for m in tr.muscles]) > 0.005


def test_a_taller_mover_has_longer_limbs_in_the_camera():
    def arm_length(seed):
        rec = sim.generate(seed, 1.0, person="drawn")
        info, pose = rec.streams["sim-pose"]
        p = rec.truth.pose.reshape(len(rec.truth.pose), -1, 3)
        kp = info.metadata["keypoints"]
        return np.linalg.norm(
            p[:, kp.index("wrist_r")] - p[:, kp.index("shoulder_r")], axis=1
        ).mean(), rec.truth.traits.height_m

    pairs = [arm_length(s) for s in range(8)]
    lengths, heights = np.array(pairs).T
    assert np.corrcoef(lengths, heights)[0, 1] > 0.6


def test_timing_style_scales_movement_durations():
    fast = PopulationConfig(tempo_sd=0.0)
    recs = []
    for seed in range(30):
        t = sim.traits_of(seed, person="drawn")
        if abs(np.log(t.tempo)) > 0.15:
            recs.append(t)
    assert recs
    t = recs[0]
    seed = [s for s in range(30) if sim.traits_of(s, person="drawn").tempo == t.tempo][0]
    moves = sim.generate(seed, 60.0, person="drawn", moves=("reach",), keep_truth=False).truth.movements
    ref = sim.generate(
        seed, 60.0, person="drawn", moves=("reach",), keep_truth=False, population=fast
    ).truth.movements
    dur = np.median([m.end - m.start for m in moves])
    dur_ref = np.median([m.end - m.start for m in ref])
    assert np.sign(np.log(dur / dur_ref)) == np.sign(np.log(t.tempo))


def test_a_drawn_mover_still_moves_and_stays_in_range():
    rec = sim.generate(21, 30.0, person="drawn")
    a = rec.truth.joint_angles
    lo = np.array([j.limits_deg[0] for j in sim.JOINTS]) - 20
    hi = np.array([j.limits_deg[1] for j in sim.JOINTS]) + 20
    assert np.all(a.min(0) >= lo) and np.all(a.max(0) <= hi)
    assert np.ptp(a, axis=0).max() > 30


def test_bad_population_settings_are_clear_errors():
    with pytest.raises(StreamError, match="person"):
        sim.generate(0, 1.0, person="alice")
    with pytest.raises(StreamError, match="emd_range_ms"):
        PopulationConfig(emd_range_ms=(80.0, 30.0))
    with pytest.raises(StreamError, match="height_m"):
        draw_traits(np.random.default_rng(0), PopulationConfig(height_m=(-1.0, 0.1)))


def test_population_figure_example_runs(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "sim_population.py"
    out = tmp_path / "p.png"
    proc = subprocess.run(
        [sys.executable, str(script), "-o", str(out), "--movers", "10"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 10_000 and "EMD: mover means" in proc.stdout


def test_realism_table_example_runs():
    import os
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "sim_realism.py"
    proc = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "median frequency, biceps_brachii_r" in proc.stdout and "tremor peak" in proc.stdout

"""The physiology the whole project relies on: EMG leads motion by the EMD, co-contraction exists."""

import numpy as np
import pytest
from scipy import signal
from scipy.ndimage import uniform_filter1d

from wearsense import sim


def emg_onset(rec, muscle, t_start):
    """Simple threshold detector: rectified EMG, 10 ms centred moving average,
    first crossing of baseline mean + 5 SD within ±300 ms of the planned start."""
    info, emg = rec.streams["sim-emg"]
    te = rec.truth.sample_t["sim-emg"]
    env = uniform_filter1d(np.abs(emg.data[:, info.index(muscle)].astype(float)), 21)
    base = (te > t_start - 0.6) & (te < t_start - 0.3)
    thr = env[base].mean() + 5 * env[base].std()
    hit = np.flatnonzero((te > t_start - 0.3) & (te < t_start + 0.3) & (env > thr))
    return te[hit[0]] if hit.size else None


def motion_onset(rec, joint, t_start):
    """Joint angular velocity (true kinematics) above 5 deg/s; None if not still before."""
    tr = rec.truth
    vel = np.gradient(tr.joint(joint), tr.phys_t)
    quiet = (tr.phys_t > t_start - 0.5) & (tr.phys_t < t_start - 0.1)
    if np.abs(vel[quiet]).max() > 2.0:
        return None
    hit = np.flatnonzero((tr.phys_t > t_start - 0.1) & (np.abs(vel) > 5.0))
    return tr.phys_t[hit[0]]


@pytest.mark.parametrize("emd_ms", [30.0, 50.0, 80.0])
def test_emg_onset_precedes_motion_onset_by_the_emd(emd_ms):
    rec = sim.generate(7, 90.0, moves=("reach",), emd_ms=emd_ms)
    leads = []
    for mv in rec.truth.movements:
        muscle = f"deltoid_anterior_{mv.detail}"
        if muscle not in rec.truth.muscles:
            continue
        t_emg = emg_onset(rec, muscle, mv.start)
        t_mot = motion_onset(rec, f"shoulder_flex_{mv.detail}", mv.start)
        if t_emg is not None and t_mot is not None:
            leads.append((t_mot - t_emg) * 1e3)
    assert len(leads) >= 8
    # EMG onset -> visible motion = EMD (activation -> force) + the time force takes to
    # build up enough to move the limb past 5 deg/s (~10 ms with tau_act = 15 ms)
    assert 0.0 <= np.median(leads) - emd_ms <= 20.0, leads


def test_true_drive_onset_leads_force_by_the_emd(reaches):
    tr = reaches.truth
    i = tr.muscles.index("deltoid_anterior_r")
    on_drive = sim.burst_times(tr.drive[:, i], tr.phys_t, 0.05, 0.04)[:, 0]
    on_force = sim.burst_times(tr.force[:, i], tr.phys_t, 0.05, 0.04)[:, 0]
    assert on_force.size >= 5
    # each force onset pairs with the last drive onset at least one EMD before it
    k = np.searchsorted(on_drive, on_force - tr.emd_s + 1e-9, side="right") - 1
    assert np.all(k >= 0)
    lead = on_force - on_drive[k]
    assert np.all(lead >= tr.emd_s - 1e-9)
    assert np.median(lead) <= tr.emd_s + 0.010


def test_co_contraction_raises_emg_without_motion(rec60):
    tr = rec60.truth
    braces = [m for m in tr.movements if m.kind == "brace"]
    assert braces, "the default repertoire must include braces"
    found = 0
    for mv in braces:
        for cc in mv.cocontractions:
            joint = tr.joints[cc.joint]
            mus = [m for m in sim.MUSCLES if m.joint == joint and m.name in tr.muscles]
            if len(mus) < 2:
                continue
            hold = (tr.phys_t > cc.t0 + cc.rise) & (tr.phys_t < cc.t0 + cc.rise + cc.hold)
            ago, anta = (tr.drive[hold, tr.muscles.index(m.name)] for m in mus[:2])
            vel = np.gradient(tr.joint(joint), tr.phys_t)[hold]
            assert ago.mean() > 0.1 and anta.mean() > 0.1
            assert np.abs(vel).max() < 5.0  # deg/s: stiffening, no motion
            found += 1
    assert found >= 1


def test_anticipatory_postural_adjustment_precedes_the_arm(reaches):
    tr = reaches.truth
    leg = tr.muscles.index("tibialis_anterior_r")
    arm_muscle = tr.muscles.index("deltoid_anterior_r")
    rest = np.percentile(tr.activation[:, leg], 10)
    arm_on = [m.start for m in tr.movements if m.detail == "r"]
    leads = []
    for t in arm_on:
        bursts = tr.onsets["tibialis_anterior_r"]
        near = bursts[(bursts[:, 0] > t - 0.3) & (bursts[:, 0] < t)]
        arm = tr.onsets["deltoid_anterior_r"]
        arm_near = arm[(arm[:, 0] > t - 0.3) & (arm[:, 0] < t + 0.1)]
        if near.size and arm_near.size:
            leads.append(arm_near[0, 0] - near[0, 0])
            # between the two onsets the leg muscle is really active and the arm still at rest
            between = (tr.phys_t >= near[0, 0]) & (tr.phys_t < arm_near[0, 0])
            assert tr.activation[between, leg].max() > 5 * rest
            assert tr.activation[between, arm_muscle].max() < 2 * rest
    assert len(leads) >= 5
    assert 0.03 < np.median(leads) < 0.12


def test_emg_spectrum_is_surface_emg_like(rec60):
    info, emg = rec60.streams["sim-emg"]
    f, p = signal.welch(emg.data, fs=info.rate_hz, nperseg=1024, axis=0)
    p = p.mean(axis=1)
    band = (f >= 20) & (f <= 450)
    assert p[band].sum() / p.sum() > 0.95
    median = f[np.searchsorted(np.cumsum(p) / p.sum(), 0.5)]
    assert 60 <= median <= 150


def test_emg_amplitude_in_physiological_range(rec60):
    info, emg = rec60.streams["sim-emg"]
    rms_rest = np.sqrt(np.mean(emg.data[:1000].astype(float) ** 2, axis=0))  # first 0.5 s: standing still
    assert np.all(rms_rest < 0.05 * rec60.truth.mvc_v)  # quiet standing: < 5 % of MVC
    assert np.all(rms_rest > 2e-6)  # never below the amplifier noise floor
    peak = np.abs(emg.data).max(axis=0)
    assert peak.max() < 10e-3 and peak.max() > 100e-6
    assert len(info.metadata["placement"]) == info.n_channels
    assert info.metadata["placement"][0].startswith("SENIAM biceps brachii")


def test_repertoire_covers_every_kind_and_the_body_is_big_enough(rec60):
    kinds = {m.kind for m in sim.generate(2, 240.0, keep_truth=False).truth.movements}
    assert kinds == set(sim.KINDS)
    assert len(sim.SEGMENTS) >= 10 and len(sim.JOINTS) >= 15
    lo = np.array([j.limits_deg[0] for j in sim.JOINTS]) - 15
    hi = np.array([j.limits_deg[1] for j in sim.JOINTS]) + 15
    a = rec60.truth.joint_angles
    assert np.all(a.min(0) >= lo) and np.all(a.max(0) <= hi)

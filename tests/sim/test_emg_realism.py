"""EMG that real signal processing finds familiar (issue 13): spectra by muscle, recruitment
statistics, amplitude-force, fatigue, crosstalk, tremor, rest activity, sessions."""

import numpy as np
import pytest
from scipy import signal, stats

from wearsense import sim
from wearsense.sim.emg import EMGModel, crosstalk_matrix

FS = 2000.0


def median_frequency(x, fs=FS):
    f, p = signal.welch(x, fs=fs, nperseg=1024, axis=0)
    c = np.cumsum(p, axis=0) / p.sum(axis=0)
    return (
        np.array([f[np.searchsorted(c[:, i], 0.5)] for i in range(c.shape[1])])
        if x.ndim > 1
        else f[np.searchsorted(c, 0.5)]
    )


def model(muscles=("biceps_brachii_r",), median=(80.0,), exponent=(1.0,), crosstalk=None):
    n = len(muscles)
    xt = np.zeros((n, n)) if crosstalk is None else crosstalk
    return EMGModel(FS, list(muscles), np.array(median), np.array(exponent), np.ones(n), xt)


def run(m, drive, seed=0, block=4000):
    rng = np.random.default_rng(seed)
    out, fat = [], []
    for i in range(0, drive.shape[0], block):
        x, f = m.next(drive[i : i + block], rng)
        out.append(x)
        fat.append(f)
    return np.concatenate(out), np.concatenate(fat)


def test_median_frequency_differs_by_muscle_as_in_the_literature():
    rec = sim.generate(5, 120.0, moves=("brace", "reach", "squat", "step"))
    info, emg = rec.streams["sim-emg"]
    x = emg.data.astype(float)
    # only active stretches: drive above 5 % of maximum
    mdf = {}
    for i, name in enumerate(info.channels):
        d = np.interp(rec.truth.sample_t["sim-emg"], rec.truth.phys_t, rec.truth.drive[:, i])
        active = x[d > 0.05, i]
        if active.size > 4096:
            mdf[name] = median_frequency(active)
    assert 60 <= mdf["biceps_brachii_r"] <= 95  # measured on real biceps: 70-86 Hz
    assert mdf["tibialis_anterior_r"] > 100
    assert max(mdf.values()) - min(mdf.values()) > 30


def test_amplitude_statistics_go_from_super_gaussian_to_gaussian_with_force():
    m = model()
    low, _ = run(m, np.full((120000, 1), 0.03))
    m = model()
    high, _ = run(m, np.full((120000, 1), 0.8))
    k_low = stats.kurtosis(low[:, 0], fisher=False)
    k_high = stats.kurtosis(high[:, 0], fisher=False)
    assert k_low > 4.5  # few motor units: spiky
    assert 2.8 < k_high < 3.6  # many: near-Gaussian


def test_amplitude_force_relation_follows_each_muscles_exponent():
    levels = np.array([0.1, 0.2, 0.4, 0.8])
    for p in (1.0, 1.5):
        rms = []
        for u in levels:
            x, _ = run(model(exponent=(p,)), np.full((20000, 1), u))
            rms.append(np.sqrt(np.mean(x**2)))
        slope = np.polyfit(np.log(levels), np.log(rms), 1)[0]
        assert abs(slope - p) < 0.1, (p, slope)


def test_fatigue_lowers_the_median_frequency_over_a_sustained_contraction_and_recovers():
    n = int(FS * 60)
    drive = np.r_[np.full(n, 0.5), np.zeros(int(FS * 120)), np.full(int(FS * 5), 0.5)][:, None]
    x, fat = run(model(median=(90.0,)), drive)
    first = median_frequency(x[: int(5 * FS), 0])
    last = median_frequency(x[n - int(5 * FS) : n, 0])
    again = median_frequency(x[-int(5 * FS) :, 0])
    assert last < 0.9 * first  # ~20 % in a minute at half of maximum
    assert again > last and fat[-1, 0] < fat[n - 1, 0]
    # and the amplitude grows a little as the muscle tires
    assert np.std(x[n - int(5 * FS) : n]) > np.std(x[: int(5 * FS)])


def test_crosstalk_falls_with_electrode_distance_and_is_low_passed():
    names = ["biceps_brachii_r", "triceps_brachii_r", "deltoid_anterior_r"]
    c = crosstalk_matrix(names)
    assert c[1, 0] > c[2, 0] > 0  # triceps (7 cm) sees more biceps than the deltoid (12 cm)
    assert crosstalk_matrix(["biceps_brachii_r", "triceps_brachii_l"])[1, 0] == 0  # other arm: none
    drive = np.zeros((40000, 3))
    drive[:, 0] = 0.6
    x, _ = run(model(names, (80.0, 85.0, 75.0), (1.0, 1.0, 1.0), c), drive)
    ratio = np.std(x[:, 1]) / np.std(x[:, 0])
    assert 0.02 < ratio < 0.15  # neighbours: 5-15 %
    assert median_frequency(x[:, 1]) < median_frequency(x[:, 0])


def test_rest_has_small_spontaneous_bursts():
    x, _ = run(model(), np.zeros((int(FS * 120), 1)))
    env = np.abs(x[:, 0])
    assert env.max() > 0  # something happens at rest
    assert np.mean(env > 1e-4) < 0.2  # but rarely, and small (< 2 % of MVC)
    assert env.max() < 0.1


def test_physiological_tremor_modulates_the_drive_at_8_to_12_hz():
    rec = sim.generate(3, 20.0, moves=("brace",))
    tr = rec.truth
    i = tr.muscles.index("biceps_brachii_r")
    d = tr.drive[:, i].astype(float)
    f, p = signal.welch(d - signal.savgol_filter(d, 301, 2), fs=1000.0, nperseg=4096)
    band = (f > 3) & (f < 40)
    peak = f[band][np.argmax(p[band])]
    assert 8.0 <= peak <= 12.0
    still = sim.generate(3, 20.0, moves=("brace",), tremor=0.0).truth.drive[:, i].astype(float)
    f0, p0 = signal.welch(still - signal.savgol_filter(still, 301, 2), fs=1000.0, nperseg=4096)
    assert p[(f > 8) & (f < 12)].sum() > 10 * p0[(f0 > 8) & (f0 < 12)].sum()


def test_sessions_of_one_mover_share_the_movement_but_not_the_electrodes():
    a = sim.generate(9, 10.0, person="drawn", session=0)
    b = sim.generate(9, 10.0, person="drawn", session=1)
    np.testing.assert_array_equal(a.truth.drive, b.truth.drive)
    assert not np.allclose(a.truth.mvc_v, b.truth.mvc_v)
    ra = np.std(a.streams["sim-emg"][1].data, axis=0)
    rb = np.std(b.streams["sim-emg"][1].data, axis=0)
    assert np.max(np.abs(np.log(ra / rb))) > 0.1


def test_simple_model_is_the_old_amplitude_modulated_noise():
    rec = sim.generate(4, 20.0, emg_model="simple", tremor=0.0)
    info, emg = rec.streams["sim-emg"]
    mdf = median_frequency(emg.data.astype(float)[4000:])
    assert np.all((mdf > 80) & (mdf < 110))  # one spectrum for every muscle
    with pytest.raises(Exception, match="emg_model"):
        sim.generate(4, 1.0, emg_model="fancy")


def test_every_rest_burst_is_listed_and_nothing_else_is_active_at_zero_drive():
    m = model()
    rng = np.random.default_rng(1)
    listed = np.zeros(int(FS * 120), bool)
    out = []
    for i in range(0, listed.size, 4000):
        x, _ = m.next(np.zeros((4000, 1)), rng)
        out.append(x[:, 0])
        for ch, a, b in m.last_bursts:
            assert ch == 0 and 0 <= a < b <= 4000
            assert 0.05 * FS <= b - a <= 0.3 * FS
            listed[i + a : i + b] = True
    x = np.concatenate(out)
    assert 2 <= np.count_nonzero(np.diff(listed.astype(int)) == 1) <= 15  # ~3 a minute
    assert np.all(x[~listed] == 0)  # at zero drive the electrode sees the bursts only
    assert np.mean(x[listed] != 0) > 0.9


def test_recording_truth_labels_the_rest_bursts_of_each_muscle():
    rec = sim.generate(2, 60.0)
    tr = rec.truth
    assert set(tr.rest_bursts) == set(tr.muscles)
    spans = np.concatenate(list(tr.rest_bursts.values()))
    assert 8 <= len(spans) <= 60  # ~3 a minute per muscle, 8 muscles
    assert np.all((spans[:, 1] - spans[:, 0] > 0.04) & (spans[:, 1] - spans[:, 0] < 0.31))
    assert np.all((spans >= 0) & (spans[:, :1] < 60.0))
    simple = sim.generate(2, 10.0, emg_model="simple").truth
    assert all(v.shape == (0, 2) for v in simple.rest_bursts.values())

"""DSP benchmarks: the causal EMG chain and the AHRS against references, in one run.

- Full causal EMG chain (DC removal, 20-450 Hz band-pass, 50 Hz notches x5,
  rectification, 6 Hz envelope) on 16 channels at 2 kHz, offline (one call) and live
  (10 ms chunks through ``Stage.process``), in samples/s (one sample = all 16
  channels) against scipy ``sosfilt`` of the band-pass alone (offline, and per 10 ms
  chunk with ``zi``), and against ``neurokit2.emg_process`` run per channel.
- AHRS on the sim's IMU (9 channels at 200 Hz) against ``imufusion`` (x-io Fusion)
  driven sample by sample, which is how its Python package is used.
- Onset accuracy of the three detectors on the sim's ground truth (median |error|,
  ms), clean and with low SNR, motion artefact and ECG; and on three real surface-EMG
  recordings (tests/data/real_emg) against an offline threshold reference.

Timings are the best of several repeats on one core; ratios are taken within the run.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import scipy.signal as sps

from wearsense.dsp.ahrs import GRAVITY, Ahrs
from wearsense.dsp.emg import EmgChain, EmgChainSettings, NotchSettings
from wearsense.sim import artefacts
from wearsense.stream import Chunk, split_every

RATE_HZ = 2000.0
N_CH = 16
LIVE_N = 20  # 10 ms at 2 kHz


def _best(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _emg(duration_s: float) -> Chunk:
    rng = np.random.default_rng(0)
    n = int(duration_s * RATE_HZ)
    x = (rng.standard_normal((n, N_CH)) * 50e-6).astype(np.float32)
    return Chunk(x, np.arange(n) / RATE_HZ)


def _row(name, value, unit, reference=None, reference_value=None, target="", met=None, **extra):
    row = {"name": name, "value": float(value), "unit": unit}
    if reference is not None:
        row.update(reference=reference, reference_value=float(reference_value),
                   ratio=float(value) / float(reference_value))
    if target:
        row.update(target=target, met=met)
    row.update(extra)
    return row


def _chain_rows(quick: bool) -> list[dict]:
    rows = []
    settings = EmgChainSettings(notch=NotchSettings(mains_hz=50))
    chain = EmgChain(RATE_HZ, settings)
    sig = _emg(10.0 if quick else 60.0)
    n = sig.n
    chain.process(sig[:100])  # compile
    reps = 3 if quick else 5

    def ours_offline():
        chain.reset()
        chain.process(sig)

    sos = sps.butter(4, [20, 450], "bandpass", fs=RATE_HZ, output="sos")
    x64 = sig.data

    def scipy_offline():
        sps.sosfilt(sos, x64, axis=0)

    t_ours = _best(ours_offline, reps)
    t_ref = _best(scipy_offline, reps)
    rt = n / t_ours / RATE_HZ
    rows.append(_row("emg chain offline (16 ch @ 2 kHz)", n / t_ours, "samples/s",
                     "scipy sosfilt band-pass only",
                     n / t_ref, ">= 1000x real time", rt >= 1000, real_time_factor=rt))

    live = list(split_every(sig[: int(RATE_HZ * (5 if quick else 20))], LIVE_N))
    n_live = sum(c.n for c in live)

    def ours_live():
        chain.reset()
        for c in live:
            chain.process(c)

    arrays = [c.data for c in live]

    def scipy_live():
        zi = np.zeros((sos.shape[0], 2, N_CH))
        for a in arrays:
            _, zi = sps.sosfilt(sos, a, axis=0, zi=zi)

    t_ours = _best(ours_live, reps)
    t_ref = _best(scipy_live, reps)
    rt = n_live / t_ours / RATE_HZ
    rows.append(_row("emg chain live, 10 ms chunks (16 ch @ 2 kHz)", n_live / t_ours, "samples/s",
                     "scipy sosfilt+zi band-pass only, 10 ms chunks", n_live / t_ref, ">= 1000x real time",
                     rt >= 1000, real_time_factor=rt, reference_real_time_factor=n_live / t_ref / RATE_HZ))
    try:
        import neurokit2 as nk
    except ImportError:  # optional reference
        return rows
    short = sig[: int(RATE_HZ * (5 if quick else 20))]

    def nk_run():
        for k in range(N_CH):
            nk.emg_process(short.data[:, k].astype(np.float64), sampling_rate=int(RATE_HZ))

    def ours_short():
        chain.reset()
        chain.process(short)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t_ref = _best(nk_run, 1 if quick else 2)
    t_ours = _best(ours_short, reps)
    rows.append(_row("emg chain offline vs neurokit2 (16 ch @ 2 kHz)", short.n / t_ours, "samples/s",
                     "neurokit2.emg_process per channel", short.n / t_ref))
    return rows


def _ahrs_rows(quick: bool) -> list[dict]:
    import imufusion

    from wearsense import sim

    rec = sim.generate(seed=0, duration_s=20.0 if quick else 60.0)
    info, chunk = rec.streams["sim-imu2"]
    ahrs = Ahrs(info)
    ahrs.process(chunk[:10])

    def ours():
        ahrs.reset()
        ahrs.process(chunk)

    d = chunk.data.astype(np.float64)
    gyr, acc, mag = d[:, 3:6].copy(), d[:, 0:3] / GRAVITY, d[:, 6:9].copy()

    def fusion():
        s = imufusion.AhrsSettings()
        s.convention = imufusion.CONVENTION_ENU
        s.sample_rate = info.rate_hz
        a = imufusion.Ahrs()
        a.set_settings(s)
        for i in range(chunk.n):
            a.update(gyr[i], acc[i], mag[i])
            a.get_quaternion()

    t_ours = _best(ours, 5)
    t_ref = _best(fusion, 2)
    live = list(split_every(chunk, 2))  # 10 ms at 200 Hz

    def ours_live():
        ahrs.reset()
        for c in live:
            ahrs.process(c)

    t_live = _best(ours_live, 3)
    return [
        _row("ahrs offline (9 ch @ 200 Hz)", chunk.n / t_ours, "samples/s", "imufusion per-sample update",
             chunk.n / t_ref),
        _row("ahrs live, 10 ms chunks", chunk.n / t_live, "samples/s", "imufusion per-sample update",
             chunk.n / t_ref),
    ]


def _in_spans(t: float, spans, margin_s: float) -> bool:
    return any(a - margin_s <= t <= b + margin_s for a, b in spans)


def _rest_minutes(t: np.ndarray, spans, margin_s: float = 0.6, after_s: float = 2.5) -> float:
    """Minutes of ``t`` (uniform sample times, s) after ``after_s`` and ``margin_s`` clear of every span."""
    keep = t > after_s
    for a, b in spans:
        keep &= ~((t > a - margin_s) & (t < b + margin_s))
    return float(keep.sum()) * float(np.median(np.diff(t))) / 60.0


def _onset_rows(quick: bool) -> list[dict]:
    """Median |onset error| per detector and condition on the sim (3 seeds x 60 s; quick: 1 x 30 s).

    An onset that matches no true one (within 150 ms) is counted as *at a rest burst* when
    it lies within 150 ms of a spontaneous rest burst of that muscle (``truth.rest_bursts``:
    real simulated activity that moves nothing, so not in ``truth.onsets``), else as
    *false*. ``false_per_rest_min`` is the false onsets that lie 0.6 s clear of every
    burst of drive, per minute of such rest: the number to hold against the same rate on
    the real recordings' rest (the ``real EMG`` rows)."""
    from wearsense import sim
    from wearsense.dsp.onset import CusumChangePoint, DoubleThreshold, TkeoThreshold, score_onsets

    seeds, dur = ((0,), 30.0) if quick else ((0, 1, 2), 60.0)
    detectors = {"double_threshold": DoubleThreshold, "tkeo": TkeoThreshold, "cusum": CusumChangePoint}
    conditions = {"default": {}, "noise 10 uV": {"emg_noise_uv": 10.0}, "noise 30 uV": {"emg_noise_uv": 30.0},
                  "motion 5 mV": {"motion": 5e-3}, "ecg 1 mV": {"ecg": 1e-3}}
    rows = []
    for cname, cond in conditions.items():
        recs = []
        for seed in seeds:
            cfg = {k: v for k, v in cond.items() if k not in ("motion", "ecg")}
            rec = sim.generate(seed=seed, duration_s=dur, **cfg)
            _, c = rec.streams["sim-emg"]
            x = c.data.astype(np.float64)
            if "motion" in cond:
                x = artefacts.motion_artefact(x, RATE_HZ, seed, amplitude_v=cond["motion"])
            if "ecg" in cond:
                x = x + artefacts.ecg(x.shape[0], RATE_HZ, seed, amplitude_v=cond["ecg"])[:, None]
            recs.append((rec, Chunk(x.astype(np.float32), rec.truth.sample_t["sim-emg"], c.seq, "true")))
        for dname, cls in detectors.items():
            errs, n_true, n_matched, n_burst, n_false, n_rest_false, rest_min = [], 0, 0, 0, 0, 0, 0.0
            for rec, chunk in recs:
                found = cls(RATE_HZ).detect(chunk)
                for k, m in enumerate(rec.truth.muscles):
                    det = np.array([a for a, _ in found[k] if a > 2.5])
                    true = np.array([a for a, _ in rec.truth.onsets[m] if a > 2.5])
                    s = score_onsets(det, true)
                    errs += list(s.errors_s)
                    n_true += s.n_true
                    n_matched += s.n_matched
                    # detections with no true onset within 150 ms; the rest of the unmatched
                    # ones are second onsets close to a true one (false, not at rest)
                    far = det
                    if true.size:
                        far = det[~np.any(np.abs(det[:, None] - true[None, :]) <= 0.15, axis=1)]
                    bursts = rec.truth.rest_bursts.get(m, np.zeros((0, 2)))
                    false = [t for t in far if not _in_spans(t, bursts, 0.15)]
                    n_burst += far.size - len(false)
                    n_false += s.n_false - (far.size - len(false))
                    on = rec.truth.onsets[m]
                    n_rest_false += sum(1 for t in false if not _in_spans(t, on, 0.6))
                    rest_min += _rest_minutes(rec.truth.sample_t["sim-emg"], on)
            med = float(np.median(np.abs(errs))) * 1e3 if errs else float("nan")
            per_min = n_rest_false / rest_min if rest_min else float("nan")
            rows.append(_row(f"onset {dname}, {cname} (found {n_matched}/{n_true}, {n_burst} at rest bursts, "
                             f"{n_false} false, {per_min:.1f}/min at rest)", med,
                             "ms median |error|", matched=n_matched, true_onsets=n_true,
                             at_rest_bursts=n_burst, unmatched_detections=n_false,
                             false_per_rest_min=per_min))
    return rows


def _real_onset_rows() -> list[dict]:
    """The detectors on real surface EMG (tests/data/real_emg), fed in 10 ms chunks, against
    an offline threshold reference (tests/dsp/real_emg.py): contractions found, extra
    onsets (neither within 0.6 s of a contraction's onset), of them those at rest (0.6 s
    clear of every contraction) per minute of rest, and the median timing (detector minus
    reference) of the onsets within 150 ms, after the 2.5 s warm-up."""
    from pathlib import Path

    from wearsense.dsp.onset import CusumChangePoint, DoubleThreshold, TkeoThreshold, score_onsets
    from wearsense.stream import split_every

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "dsp"))
    import real_emg

    rows = []
    for name in real_emg.NAMES:
        chunk, rate, muscle = real_emg.load(name)
        spans = real_emg.threshold_reference(chunk, rate)
        ref = [a for a, _ in spans if a > 2.5]
        rest_min = _rest_minutes(chunk.t, spans)
        for dname, cls in (("double_threshold", DoubleThreshold), ("tkeo", TkeoThreshold),
                           ("cusum", CusumChangePoint)):
            det = cls(rate)
            for piece in split_every(chunk, int(round(0.01 * rate))):
                det.process(piece)
            found = [e.t for e in det.pop_events() if e.kind == "onset" and e.t > 2.5]
            near = score_onsets(found, ref, tolerance_s=0.6)
            s = score_onsets(found, ref)
            med = float(np.median(s.errors_s)) * 1e3 if s.errors_s.size else float("nan")
            at_rest = sum(1 for t in found if not _in_spans(t, spans, 0.6))
            per_min = at_rest / rest_min if rest_min else float("nan")
            rows.append(_row(f"real EMG {name} ({muscle}), onset {dname}: "
                             f"found {near.n_matched}/{near.n_true}, "
                             f"{near.n_false} extra ({at_rest} in {rest_min:.2f} min of rest: "
                             f"{per_min:.1f}/min), {s.n_matched} within 150 ms", med,
                             "ms median timing vs threshold reference",
                             found=near.n_matched, contractions=near.n_true, extra_onsets=near.n_false,
                             extra_at_rest=at_rest, rest_minutes=rest_min, extra_per_rest_min=per_min,
                             within_150ms=s.n_matched,
                             median_abs_ms=float(np.median(np.abs(s.errors_s))) * 1e3 if s.errors_s.size
                             else float("nan")))
    return rows


def run(quick: bool) -> list[dict]:
    return _chain_rows(quick) + _ahrs_rows(quick) + _onset_rows(quick) + _real_onset_rows()


if __name__ == "__main__":
    for r in run(quick="--quick" in sys.argv):
        print(r)

"""Electromechanical delay: how long EMG onset leads motion onset, per muscle.

The lead of a muscle's EMG over the motion it causes is what lets a model that sees
EMG anticipate movement (30–100 ms from EMG onset to visible motion, Cavanagh & Komi
1979). Given EMG and IMU streams on one clock (:mod:`wearsense.sync.timeline`), for each
muscle and the IMU on the segment it moves:

1. **Motion onsets** (IMU): the gyroscope vector minus its resting value (median over
   the stillest fifth of the recording) exceeds ``motion_threshold_dps`` after at
   least ``quiet_s`` below ``quiet_dps`` — a movement that starts from stillness.
2. **EMG onset** before each motion onset: the last onset that ``detector`` (one of
   the streaming detectors of :mod:`wearsense.dsp.onset`, default the Bonato double
   threshold) finds on the muscle's channel within ``search_s`` of the motion onset.
   The detector runs once over the whole recording; its onsets are back-dated to where
   the burst began and corrected for its filter delay, and none is found in its warm-up
   (the first 2 s).
3. **Lead** = motion onset − EMG onset; per muscle the median over events, with a
   percentile bootstrap 95 % interval (seeded).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from wearsense.dsp.onset import DoubleThreshold, OnsetDetector
from wearsense.errors import StreamError, WearsenseError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["EMDSettings", "MuscleLead", "MUSCLE_SEGMENTS", "motion_onsets", "measure_emd", "segment_of"]

#: Muscle name prefix -> the body segment whose motion it drives ("{side}" = r/l suffix).
MUSCLE_SEGMENTS: dict[str, str] = {
    "deltoid": "upper_arm",
    "biceps_brachii": "forearm",
    "triceps_brachii": "forearm",
    "vastus": "shank",
    "rectus_femoris": "shank",
    "biceps_femoris": "shank",
    "semitendinosus": "shank",
    "tibialis_anterior": "foot",
    "gastrocnemius": "foot",
    "soleus": "foot",
    "gluteus": "thigh",
    "erector_spinae": "trunk",
    "rectus_abdominis": "trunk",
    "flexor_carpi": "hand",
    "extensor_carpi": "hand",
}


def segment_of(muscle: str, table: Mapping[str, str] = MUSCLE_SEGMENTS) -> str | None:
    """The segment a muscle moves, from its name (``deltoid_anterior_r`` -> ``upper_arm_r``)."""
    side = muscle.rsplit("_", 1)[-1] if muscle[-2:] in ("_r", "_l") else ""
    for prefix, seg in table.items():
        if muscle.startswith(prefix):
            return seg if seg in ("trunk", "head", "pelvis") or not side else f"{seg}_{side}"
    return None


@dataclass(frozen=True)
class EMDSettings:
    """Settings of :func:`measure_emd` (times in s, angular speeds in deg/s).

    ``detector`` makes the EMG onset detector from the EMG rate in Hz (a class of
    :mod:`wearsense.dsp.onset`, or a function returning one with its own settings).
    """

    motion_threshold_dps: float = 5.0
    quiet_dps: float = 2.0
    quiet_s: float = 0.4
    search_s: tuple[float, float] = (-0.3, 0.05)
    detector: Callable[[float], OnsetDetector] = DoubleThreshold
    n_boot: int = 2000
    seed: int = 0
    muscle_segments: Mapping[str, str] = field(default_factory=lambda: dict(MUSCLE_SEGMENTS))

    def __post_init__(self) -> None:
        for name in ("motion_threshold_dps", "quiet_dps", "quiet_s"):
            if not getattr(self, name) > 0:
                raise StreamError(f"EMDSettings.{name} must be > 0, got {getattr(self, name)!r}")
        if not self.search_s[0] < self.search_s[1]:
            raise StreamError(f"EMDSettings.search_s must be (earliest, latest), got {self.search_s}")


@dataclass(frozen=True)
class MuscleLead:
    """Lead of one muscle's EMG onset over the onset of the motion of its segment.

    Attributes
    ----------
    muscle, segment, imu : str
    lead_s : float
        Median lead (s); NaN with no events.
    ci95_s : (float, float)
        Bootstrap 95 % interval of the median (s).
    leads_s : ndarray
        Lead of every event (s).
    motion_onsets_s : ndarray
        The motion onsets (session clock) the leads were measured at.
    """

    muscle: str
    segment: str
    imu: str
    lead_s: float
    ci95_s: tuple[float, float]
    leads_s: np.ndarray
    motion_onsets_s: np.ndarray

    @property
    def n(self) -> int:
        return int(self.leads_s.size)


def motion_onsets(info: StreamInfo, chunk: Chunk, settings: EMDSettings | None = None) -> np.ndarray:
    """Times (chunk clock, s) where a segment starts moving from stillness (IMU gyroscope)."""
    s = settings or EMDSettings()
    cols = [i for i, c in enumerate(info.channels) if "gyro" in c.lower()]
    if len(cols) != 3:
        raise StreamError(f"stream {info.name!r}: needs 3 gyroscope channels (labels containing 'gyro')")
    g = chunk.data[:, cols].astype(np.float64)
    if info.units[cols[0]] in ("rad/s", "rad s-1"):
        g = np.rad2deg(g)
    mag = np.linalg.norm(g, axis=1)
    still = mag <= np.percentile(mag, 20)
    speed = np.linalg.norm(g - np.median(g[still], axis=0), axis=1)
    t = chunk.t
    up = np.flatnonzero((speed[1:] > s.motion_threshold_dps) & (speed[:-1] <= s.motion_threshold_dps)) + 1
    out = []
    for i in up:
        before = (t >= t[i] - s.quiet_s) & (t < t[i])
        # the quiet period must be covered (no gap) and still, apart from the rise itself
        rise = (t >= t[i] - 0.1) & (t < t[i])
        if (
            before.sum() >= 0.8 * s.quiet_s * info.rate_hz
            and speed[before & ~rise].max(initial=0) < s.quiet_dps
        ):
            # back-track from the threshold crossing to where the speed left its resting
            # noise (mean + 3 SD of the quiet period), interpolating between samples
            quiet = speed[before & ~rise]
            level = quiet.mean() + 3 * quiet.std() if quiet.size > 2 else s.quiet_dps
            j = i
            while j > 0 and speed[j - 1] > level:
                j -= 1
            if j > 0 and speed[j] > speed[j - 1]:
                frac = (level - speed[j - 1]) / (speed[j] - speed[j - 1])
                out.append(t[j - 1] + frac * (t[j] - t[j - 1]))
            else:
                out.append(t[j])
    return np.asarray(out)


def _last_onset(onsets: np.ndarray, t_motion: float, s: EMDSettings) -> float:
    """The last EMG onset within ``search_s`` of a motion onset, or NaN."""
    near = onsets[(onsets >= t_motion + s.search_s[0]) & (onsets <= t_motion + s.search_s[1])]
    return float(near[-1]) if near.size else math.nan


def measure_emd(
    emg: tuple[StreamInfo, Chunk],
    imus: Sequence[tuple[StreamInfo, Chunk]],
    settings: EMDSettings | None = None,
    muscles: Sequence[str] | None = None,
) -> dict[str, MuscleLead]:
    """Per muscle, the lead of EMG onset over motion onset (see the module docstring).

    Parameters
    ----------
    emg : (StreamInfo, Chunk)
        Raw EMG (volts), session clock.
    imus : sequence of (StreamInfo, Chunk)
        IMU streams, session clock, each naming its segment in ``metadata["segment"]``.
    settings : EMDSettings, optional
    muscles : sequence of str, optional
        EMG channels to measure (default: every channel with an IMU on its segment).

    Returns
    -------
    dict muscle -> MuscleLead

    Raises
    ------
    WearsenseError
        When no EMG channel has an IMU on the segment it moves, or the clocks differ.
    """
    s = settings or EMDSettings()
    einfo, echunk = emg
    if einfo.modality != Modality.EMG:
        raise StreamError(f"stream {einfo.name!r} is {einfo.modality.value}, not EMG")
    by_segment = {i.metadata.get("segment"): (i, c) for i, c in imus}
    for i, c in imus:
        if c.clock != echunk.clock:
            raise WearsenseError(
                f"EMG is in clock {echunk.clock!r} but {i.name!r} in {c.clock!r}; map both to the "
                "session clock first (wearsense.sync.Timeline / sync_offline)"
            )
    names = list(muscles) if muscles is not None else list(einfo.channels)
    todo = [(m, segment_of(m, s.muscle_segments)) for m in names]
    todo = [(m, seg) for m, seg in todo if seg in by_segment]
    if not todo:
        raise WearsenseError(
            "no EMG channel has an IMU on the segment it moves; muscles: "
            f"{', '.join(names)}; IMU segments: {', '.join(str(k) for k in by_segment)} "
            "(set EMDSettings.muscle_segments or metadata['segment'])"
        )
    rate = einfo.rate_hz if einfo.rate_hz > 0 else (echunk.n - 1) / max(echunk.duration_s, 1e-9)
    cols = [einfo.index(m) for m, _ in todo]
    found = s.detector(rate).detect(echunk.with_data(echunk.data[:, cols]))
    emg_onsets = {m: np.sort([on for on, _ in found[j]]) for j, (m, _) in enumerate(todo)}
    onsets_cache: dict[str, np.ndarray] = {}
    rng = np.random.default_rng(s.seed)
    out = {}
    for m, seg in todo:
        iinfo, ichunk = by_segment[seg]
        if seg not in onsets_cache:
            onsets_cache[seg] = motion_onsets(iinfo, ichunk, s)
        leads, at = [], []
        for tm in onsets_cache[seg]:
            te_on = _last_onset(emg_onsets[m], tm, s)
            if math.isfinite(te_on):
                leads.append(tm - te_on)
                at.append(tm)
        leads_a = np.asarray(leads)
        if leads_a.size:
            boots = np.median(rng.choice(leads_a, (s.n_boot, leads_a.size), replace=True), axis=1)
            ci = (float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5)))
            lead = float(np.median(leads_a))
        else:
            ci, lead = (math.nan, math.nan), math.nan
        out[m] = MuscleLead(m, seg, iinfo.name, lead, ci, leads_a, np.asarray(at))
    return out

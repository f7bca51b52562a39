"""Pre-activation events: muscles that engage before the body moves, detected as they happen.

Surface EMG rises 30–100 ms before a limb visibly moves (the electromechanical delay;
Cavanagh & Komi 1979), and trunk and leg muscles fire 50–100 ms before a fast arm raise
with no motion of their own joints (anticipatory postural adjustments; Aruin & Latash
1995). :class:`PreactivationDetector` watches both, streaming:

1. **EMG onsets**: the Bonato double-threshold detector of :mod:`wearsense.dsp.onset`
   (causal, back-dated to where the burst began, corrected for its filter delay).
2. **Segment motion onsets** (:class:`SegmentMotion`): a segment's IMU angular speed
   leaves its resting level (rest + ``move_dps``) after at least ``quiet_s`` of
   stillness (within ``still_dps`` of rest); the onset is dated at the last still sample.
3. **Pairing**: each muscle is watched on both segments of the joint it turns
   (:func:`joint_segments`; :func:`wearsense.sync.emd.segment_of` gives the distal one:
   vastus lateralis turns the knee, so the shank, or the thigh over a planted foot). A
   segment that turns together with the joint's other segment (a forearm carried by
   the upper arm) does not turn the joint. Once every IMU of the joint has been seen
   ``pair_s`` past the onset, the onset resolves into one :class:`PreactivationEvent`:

   - ``"led"``: the joint started to turn from stillness ``lead_ms`` after the onset;
   - ``"anticipatory"``: no motion of the joint within ``pair_s`` (a postural
     adjustment or a co-contraction: activity with no local motion);
   - ``"already_moving"``: the joint was turning when the muscle switched on, so the
     onset cannot lead its movement.

An event is known ``pair_s`` (300 ms) after its onset at the earliest (the detector
must wait to know that nothing moved); ``decided_t`` says when. All times are seconds
on the one clock the caller feeds every stream in (sync the devices first:
:mod:`wearsense.sync`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from wearsense.dsp.onset import DoubleThreshold, OnsetDetector
from wearsense.errors import StreamError
from wearsense.stream import Chunk, Modality, StreamInfo
from wearsense.sync.emd import segment_of

__all__ = [
    "PROXIMAL",
    "PreactivationEvent",
    "PreactivationSettings",
    "PreactivationDetector",
    "SegmentMotion",
    "joint_segments",
]

#: the segment on the other side of the joint that a muscle of a segment turns: with the
#: distal segment held (a foot on the floor in a squat) it is this one that turns
PROXIMAL = {
    "forearm": "upper_arm",
    "upper_arm": "trunk",
    "hand": "forearm",
    "shank": "thigh",
    "foot": "shank",
    "thigh": "pelvis",
}


def joint_segments(muscle: str) -> tuple[str, ...]:
    """The two segments of the joint a muscle turns (distal first), with their side."""
    distal = segment_of(muscle)
    if distal is None:
        return ()
    base, _, side = distal.partition("_")
    prox = PROXIMAL.get(base)
    if prox is None:
        return (distal,)
    return (distal, prox if prox in ("trunk", "pelvis") or not side else f"{prox}_{side}")


@dataclass(frozen=True)
class PreactivationEvent:
    """One resolved EMG onset.

    Attributes
    ----------
    muscle : str
        EMG channel label.
    segment : str
        The segment that moved (``"led"``), or the joint's segments joined by " / ".
    lead_ms : float
        Motion onset − EMG onset (ms) for ``"led"``; NaN otherwise.
    t : float
        EMG onset (s, the caller's clock).
    kind : str
        ``"led"``, ``"anticipatory"`` (no motion of its joint) or ``"already_moving"``.
    decided_t : float
        When the detector knew (s, same clock): at least ``t + pair_s``.
    """

    muscle: str
    segment: str
    lead_ms: float
    t: float
    kind: str
    decided_t: float = float("nan")

    def describe(self) -> str:
        """One line for a person: "biceps_brachii_r engaged 52 ms before forearm_r moved"."""
        if self.kind == "led":
            return f"{self.muscle} engaged {self.lead_ms:.0f} ms before {self.segment} moved"
        if self.kind == "anticipatory":
            return f"{self.muscle} engaged with no motion of its joint ({self.segment})"
        return f"{self.muscle} engaged while its joint ({self.segment}) was already turning"


@dataclass
class SegmentMotion:
    """Causal motion onsets of one segment from its IMU's angular speed (deg/s).

    The segment is still while its speed stays within ``still_dps`` of its resting
    speed (tracked while still, 0.98/0.02 per sample); it starts to move when the speed
    exceeds rest + ``move_dps`` after at least ``quiet_s`` of stillness, and the onset
    is dated at the last still sample.
    """

    still_dps: float = 4.0
    move_dps: float = 15.0
    quiet_s: float = 0.3
    rest: float | None = None
    still_from: float | None = None
    last_still: float | None = None
    quiet_for: float = 0.0  # length (s) of the last still run
    moving: bool = False
    onsets: list[float] = field(default_factory=list)
    spans: list[list[float]] = field(default_factory=list)  # [start, end] of each movement

    def update(self, t: np.ndarray, speed: np.ndarray) -> None:
        for ti, v in zip(np.asarray(t, float).tolist(), np.asarray(speed, float).tolist()):
            if self.rest is None:
                self.rest = v
            if v < self.rest + self.still_dps:
                if self.still_from is None:
                    self.still_from = ti
                self.last_still = ti
                self.rest = 0.98 * self.rest + 0.02 * v
                if self.moving and ti - self.spans[-1][0] > 0.1:
                    self.moving = False
                    self.spans[-1][1] = ti
                continue
            if self.still_from is not None:
                self.quiet_for = self.last_still - self.still_from
                self.still_from = None
            if v > self.rest + self.move_dps and not self.moving:
                if self.quiet_for >= self.quiet_s and ti - self.last_still < self.quiet_s:
                    self.onsets.append(self.last_still)
                self.moving = True
                self.spans.append([self.last_still if self.last_still is not None else ti, np.inf])

    def moving_at(self, t: float) -> bool:
        """Whether the segment was already turning at ``t`` (s)."""
        return any(a < t <= b for a, b in self.spans)

    def forget_before(self, t: float) -> None:
        """Drop onsets and finished movements that ended before ``t`` (bounded memory)."""
        self.onsets = [x for x in self.onsets if x >= t]
        self.spans = [s for s in self.spans if s[1] >= t]


def _joint_turns(motion: dict[str, SegmentMotion], segs: tuple[str, ...], seg: str, t: float) -> bool:
    """Whether a motion onset of ``seg`` at ``t`` turns the joint: the joint's other segment
    is neither already turning (carrying ``seg``) nor starts within 30 ms (carried by it)."""
    return not any(
        motion[o].moving_at(t) or any(0 <= x - t <= 0.03 for x in motion[o].onsets) for o in segs if o != seg
    )


@dataclass(frozen=True)
class PreactivationSettings:
    """Settings of :class:`PreactivationDetector`.

    ``pair_s``: a movement must start within this long (s) after the EMG onset to be
    its consequence. ``still_dps``, ``move_dps``, ``quiet_s``: :class:`SegmentMotion`.
    ``detector``: makes the EMG onset detector from the EMG rate in Hz (a class of
    :mod:`wearsense.dsp.onset` or a function returning one with its own settings).
    """

    pair_s: float = 0.3
    still_dps: float = 4.0
    move_dps: float = 15.0
    quiet_s: float = 0.3
    detector: Callable[[float], OnsetDetector] = DoubleThreshold

    def __post_init__(self) -> None:
        if not 0.05 <= self.pair_s <= 2.0:
            raise StreamError(f"PreactivationSettings.pair_s={self.pair_s!r}: must be within 0.05..2 s")
        if not 0 < self.still_dps < self.move_dps:
            raise StreamError(
                "PreactivationSettings: need 0 < still_dps < move_dps, "
                f"got {self.still_dps!r}, {self.move_dps!r}"
            )


class PreactivationDetector:
    """Streaming pre-activation events from EMG and segment IMUs (see the module doc).

    Parameters
    ----------
    infos : sequence of StreamInfo
        The streams that will be pushed: EMG streams (channels named by muscle, e.g.
        ``biceps_brachii_r``) and IMU streams naming their segment in
        ``metadata["segment"]`` with ``gyro_*`` channels in deg/s. Others are ignored.
    settings : PreactivationSettings

    Use ``process(name, chunk)`` (or ``push``) with every stream's chunks, all on one
    clock, in any interleaving; events come back as they resolve (also kept in
    ``events``). A muscle whose joint has no IMU among ``infos`` is not watched
    (``unwatched`` lists them).
    """

    def __init__(
        self, infos: Sequence[StreamInfo], settings: PreactivationSettings = PreactivationSettings()
    ) -> None:
        self.settings = settings
        self.infos = {i.name: i for i in infos}
        self.imu_segment = {
            i.name: str(i.metadata["segment"])
            for i in infos
            if i.modality is Modality.IMU and "segment" in i.metadata
        }
        self._gyro = {}
        for name in self.imu_segment:
            info = self.infos[name]
            cols = info.select("gyro_")
            if len(cols) != 3:
                raise StreamError(
                    f"IMU stream {name!r} needs three gyro_* channels for pre-activation, has {len(cols)}"
                )
            unit = str(info.units[cols[0]]) if info.units else "deg/s"
            self._gyro[name] = (cols, 180.0 / np.pi if unit.startswith("rad") else 1.0)
        segments = set(self.imu_segment.values())
        self._emg = {i.name: i for i in infos if i.modality is Modality.EMG}
        self.watched: dict[str, tuple[str, ...]] = {}
        self.unwatched: list[str] = []
        for info in self._emg.values():
            for ch in info.channels:
                segs = tuple(x for x in joint_segments(ch) if x in segments)
                if segs:
                    self.watched[ch] = segs
                else:
                    self.unwatched.append(ch)
        self.reset()

    def reset(self) -> None:
        s = self.settings
        self.detectors = {n: s.detector(i.rate_hz) for n, i in self._emg.items()}
        self.motion = {
            seg: SegmentMotion(s.still_dps, s.move_dps, s.quiet_s) for seg in set(self.imu_segment.values())
        }
        self.seen_t: dict[str, float] = {}
        self.pending: list[tuple[str, tuple[str, ...], float]] = []
        self.events: list[PreactivationEvent] = []

    def pop_events(self) -> list[PreactivationEvent]:
        """The events resolved so far, removing them from ``events``."""
        out, self.events = self.events, []
        return out

    def push(self, name: str, chunk: Chunk) -> None:
        """Feed one chunk of stream ``name`` (the caller's common clock)."""
        self.process(name, chunk)

    def process(self, name: str, chunk: Chunk) -> list[PreactivationEvent]:
        """Feed one chunk; return the events resolved by it (also appended to ``events``)."""
        if name not in self.infos:
            raise StreamError(
                f"no stream {name!r} was given to the detector; streams: {', '.join(self.infos)}"
            )
        if chunk.n:
            info = self.infos[name]
            if name in self.detectors:
                det = self.detectors[name]
                det.process(chunk)
                for ev in det.pop_events():
                    muscle = info.channels[ev.channel]
                    if ev.kind == "onset" and muscle in self.watched:
                        self.pending.append((muscle, self.watched[muscle], float(ev.t)))
            elif name in self.imu_segment:
                seg = self.imu_segment[name]
                cols, k = self._gyro[name]
                speed = np.linalg.norm(np.asarray(chunk.data[:, cols], float), axis=1) * k
                self.motion[seg].update(chunk.t, speed)
                self.seen_t[seg] = float(chunk.t[-1])
        return self._resolve()

    def _resolve(self) -> list[PreactivationEvent]:
        pair = self.settings.pair_s
        out = []
        for item in list(self.pending):
            muscle, segs, t_on = item
            if any(self.seen_t.get(x, -np.inf) < t_on + pair for x in segs):
                continue  # an IMU of the joint has not caught up yet
            self.pending.remove(item)
            decided = min(self.seen_t[x] for x in segs)
            later = sorted(
                (x, seg)
                for seg in segs
                for x in self.motion[seg].onsets
                if 0 < x - t_on < pair and _joint_turns(self.motion, segs, seg, x)
            )
            joint = " / ".join(segs)
            if any(self.motion[seg].moving_at(t_on) for seg in segs):
                ev = PreactivationEvent(muscle, joint, float("nan"), t_on, "already_moving", decided)
            elif later:
                t_m, seg = later[0]
                ev = PreactivationEvent(muscle, seg, (t_m - t_on) * 1e3, t_on, "led", decided)
            else:
                ev = PreactivationEvent(muscle, joint, float("nan"), t_on, "anticipatory", decided)
            out.append(ev)
        if self.seen_t and not self.pending:
            horizon = min(self.seen_t.values()) - 10.0
            for m in self.motion.values():
                m.forget_before(horizon)
        self.events.extend(out)
        return out

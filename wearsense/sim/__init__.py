"""The virtual mover: synthetic EMG, IMU and pose that obey the physiology.

Muscles fire before limbs move: the neural drive that surface EMG measures rises,
activation builds up (τ_act ≈ 15 ms), force follows after the electromechanical delay
(default 50 ms) and the joints move after that. Co-contraction (braces, and
anticipatory postural adjustments before fast arm movements) raises EMG with no
motion, so EMG is not a copy of kinematics. Every device has its own clock (offset,
drift, jitter, loss). See docs/sim.md.

Two ways in:

- ``wearsense.sim.generate(seed, duration_s)``: everything at once, as arrays, with
  the ground truth (fast: a benchmark checks ≥ 200× real time on one core);
- ``open_device("sim://mover?seed=3")``: the same samples as a live device, paced in
  real time by default (``realtime=0`` for as fast as possible).
"""

from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from wearsense.errors import StreamError
from wearsense.sim.body import JOINTS, KEYPOINTS, SEGMENTS
from wearsense.sim.choreography import KINDS, Movement
from wearsense.sim.clocks import ClockTruth
from wearsense.sim.mover import BLOCK_S, Mover, SimConfig
from wearsense.sim.muscles import MUSCLES, PHYSICS_RATE_HZ
from wearsense.sim.vocabulary import BASIC_ACTIONS, EFFORT_FACTORS, FAMILIES, VOCABULARY, frame_labels
from wearsense.sim.population import MoverTraits, PopulationConfig, draw_traits
from wearsense.sim.sensors import IMU_SITES
from wearsense.stream import Chunk, StreamInfo

__all__ = [
    "generate",
    "generate_many",
    "SimConfig",
    "SimRecording",
    "SimTruth",
    "MoverTraits",
    "PopulationConfig",
    "draw_traits",
    "traits_of",
    "Mover",
    "ClockTruth",
    "Movement",
    "burst_times",
    "JOINTS",
    "KEYPOINTS",
    "SEGMENTS",
    "MUSCLES",
    "IMU_SITES",
    "KINDS",
    "VOCABULARY",
    "FAMILIES",
    "BASIC_ACTIONS",
    "EFFORT_FACTORS",
    "PHYSICS_RATE_HZ",
]


def burst_times(
    x: np.ndarray, t: np.ndarray, on: float, off: float, min_duration_s: float = 0.02, min_gap_s: float = 0.05
) -> np.ndarray:
    """Onset/offset pairs of the bursts of a 1-D signal, with hysteresis.

    A burst starts where ``x`` rises above ``on`` and ends where it falls below
    ``off``; gaps shorter than ``min_gap_s`` are merged and bursts shorter than
    ``min_duration_s`` dropped. Returns shape (n_bursts, 2), seconds.
    """
    # hysteresis without a per-sample loop: alternate between crossings of the two levels
    ups = np.flatnonzero((x[1:] > on) & (x[:-1] <= on)) + 1
    downs = np.flatnonzero((x[1:] < off) & (x[:-1] >= off)) + 1
    if x.size and x[0] > on:
        ups = np.r_[0, ups]
    pairs = []
    i = 0
    while True:
        k = np.searchsorted(ups, i)
        if k >= ups.size:
            break
        start = ups[k]
        e = np.searchsorted(downs, start, side="right")
        end = downs[e] if e < downs.size else x.size - 1
        pairs.append((start, end))
        i = end + 1
    merged: list[list[float]] = []
    for a, z in pairs:
        ta, tz = t[a], t[z]
        if merged and ta - merged[-1][1] < min_gap_s:
            merged[-1][1] = tz
        else:
            merged.append([ta, tz])
    out = np.array([m for m in merged if m[1] - m[0] >= min_duration_s]).reshape(-1, 2)
    return out


@dataclass(frozen=True)
class SimTruth:
    """Ground truth of a simulated recording. Times are true time (s) unless named otherwise.

    Attributes
    ----------
    phys_t : ndarray (n,)
        Physics grid (1 kHz) true times.
    muscles : tuple of str
        Recorded muscles, in EMG channel order.
    drive, activation, force : ndarray (n, n_muscles), float32
        Neural drive (what EMG measures), activation, and force (activation delayed
        by the EMD), all 0..1 of maximum, on the physics grid (1 kHz).
    joint_angles : ndarray (n, n_joints), float32
        Joint angles (deg) on the physics grid; names in ``joints``.
    onsets : dict muscle -> ndarray (n_bursts, 2)
        Onset and offset of each burst of neural drive: drive rises 0.025 above the
        muscle's level in quiet standing (tone, plus what holds the posture against
        gravity) and ends when it falls back within 0.015 of it.
    rest_bursts : dict muscle -> ndarray (n_bursts, 2)
        Start and end (s) of each spontaneous burst at rest (0.3–1 % of maximum, 50–300
        ms, about three a minute; :mod:`wearsense.sim.emg`): activity the electrodes
        record but ``drive`` and ``onsets`` do not contain, as it moves nothing. Empty
        with ``emg_model="simple"``.
    movements : list of Movement
        The choreography: ``kind``, ``start`` (planned motion onset), ``end``, ``detail``.
    emd_s : float
        Electromechanical delay (activation → force): the one EMD of the reference
        person, the median over muscles of a drawn one (per muscle: ``traits.emd_ms``).
    clocks : dict stream -> ClockTruth
        True clock and link parameters of each device.
    sample_t : dict stream -> ndarray
        True capture time of each delivered sample (rows of the stream's chunk).
    packets : dict stream -> ndarray (n_packets, 3)
        Per delivered packet: first seq, last seq, host arrival time (s, host clock).
    imu_quat : dict stream -> ndarray (n, 4)
        True sensor-to-world orientation (w, x, y, z; ENU) at each delivered IMU sample.
    imu_mounts : ndarray (n_imu, 3, 3)
        Sensor-to-segment rotation of each IMU.
    pose : ndarray (n, 3 * n_keypoints) or None
        Noise-free keypoints at each delivered pose sample.
    mvc_v : ndarray (n_muscles,)
        EMG RMS amplitude at maximal drive (V).
    traits : MoverTraits
        The person: body, strength, EMD per muscle, activation time constants, timing
        style, EMG character (:mod:`wearsense.sim.population`).
    grf : ndarray (n, 2, 2), float32, or None
        Ground reaction force (N) on the physics grid: right (0) and left (1) foot,
        forward (along the heading) and vertical components (:mod:`wearsense.sim.ground`);
        None with ``ground="kinematic"``.
    """

    phys_t: np.ndarray
    muscles: tuple[str, ...]
    drive: np.ndarray
    activation: np.ndarray
    force: np.ndarray
    joints: tuple[str, ...]
    joint_angles: np.ndarray
    onsets: dict[str, np.ndarray]
    movements: list[Movement]
    emd_s: float
    clocks: dict[str, ClockTruth]
    sample_t: dict[str, np.ndarray]
    packets: dict[str, np.ndarray]
    imu_quat: dict[str, np.ndarray]
    imu_mounts: np.ndarray
    pose: np.ndarray | None
    mvc_v: np.ndarray
    traits: MoverTraits | None = None
    grf: np.ndarray | None = None
    rest_bursts: dict[str, np.ndarray] = field(default_factory=dict)

    def emd_of(self, muscle: str) -> float:
        """Electromechanical delay (s) of one recorded muscle."""
        return self.traits.emd_of(muscle) * 1e-3

    def labels(self, t: np.ndarray) -> dict[str, np.ndarray]:
        """Per-frame labels at true times ``t``: family, kind, phrase, movement, effort
        (see :func:`wearsense.sim.vocabulary.frame_labels`)."""
        return frame_labels(self.movements, t)

    def joint(self, name: str) -> np.ndarray:
        """Angle (deg) of one joint on the physics grid."""
        try:
            return self.joint_angles[:, self.joints.index(name)]
        except ValueError:
            raise StreamError(f"no joint {name!r}; joints: {', '.join(self.joints)}") from None


@dataclass(frozen=True)
class SimRecording:
    """Everything the virtual mover produced: ``streams[name] = (info, chunk)`` and ``truth``."""

    seed: int
    duration_s: float
    config: SimConfig
    streams: dict[str, tuple[StreamInfo, Chunk]]
    truth: SimTruth

    def __getitem__(self, name: str) -> tuple[StreamInfo, Chunk]:
        try:
            return self.streams[name]
        except KeyError:
            raise StreamError(f"no stream {name!r}; streams: {', '.join(self.streams)}") from None


def _config(config: SimConfig | None, overrides: dict[str, Any]) -> SimConfig:
    config = config or SimConfig()
    unknown = [k for k in overrides if k not in SimConfig.field_names()]
    if unknown:
        raise StreamError(f"unknown sim setting(s) {unknown}; valid: {', '.join(SimConfig.field_names())}")
    return replace(config, **overrides) if overrides else config


def generate(
    seed: int, duration_s: float, config: SimConfig | None = None, keep_truth: bool = True, **overrides: Any
) -> SimRecording:
    """Simulate ``duration_s`` seconds of the virtual mover.

    Parameters
    ----------
    seed : int
        Movements, noise and clocks all follow from it.
    duration_s : float
        True time to simulate (s). A stream keeps the packets that were complete
        before ``duration_s``.
    config : SimConfig, optional
        Settings; keyword ``overrides`` replace single fields (``emg=16``).
    keep_truth : bool
        Keep the physics-grid truth arrays (drive, activation, force, joint angles):
        about 180 bytes per ms with the defaults. Streams, clocks, onsets and
        movements are kept either way.

    Returns
    -------
    SimRecording
        ``streams``: one chunk per stream with the delivered samples (lost packets
        are gaps in ``seq``), device timestamps in ``t``, host arrival of the last
        packet in ``received_s``; ``truth``: see :class:`SimTruth`.
    """
    if not duration_s > 0:
        raise StreamError(f"duration_s must be > 0, got {duration_s!r}")
    cfg = _config(config, overrides)
    mover = Mover(seed, cfg, keep_truth=True)
    n_blocks = int(np.ceil(duration_s / BLOCK_S - 1e-9))
    parts: dict[str, list] = {name: [] for name in mover.infos}
    phys: dict[str, list[np.ndarray]] = {
        k: [] for k in ("phys_t", "drive", "activation", "force", "joint_angles")
        + (("grf",) if cfg.ground == "contact" else ())
    }
    quat: dict[str, list[np.ndarray]] = {name: [] for name in mover.infos if "imu" in name}
    pose: list[np.ndarray] = []
    for _ in range(n_blocks):
        block = mover.next_block()
        for name, sb in block.streams.items():
            # a packet is delivered if it was not lost and completed before duration_s
            pk = sb.packets
            last = pk.start + pk.count - 1
            ok = ~pk.lost & (sb.true_t[last] < duration_s) if last.size else np.zeros(0, bool)
            keep = np.repeat(ok, pk.count)
            delivered = (
                np.stack([sb.seq[pk.start[ok]], sb.seq[last[ok]], pk.arrival_true_s[ok]], 1)
                if last.size
                else np.zeros((0, 3))
            )
            parts[name].append((sb.data[keep], sb.stamps[keep], sb.seq[keep], sb.true_t[keep], delivered))
            if name in quat:
                quat[name].append(block.truth[name][keep])
            if name == "sim-pose":
                pose.append(block.truth[name][keep])
        for k in phys:
            # without keep_truth only what the onsets need is kept (a 1 h run stays ~100 MB)
            if keep_truth or k in ("phys_t", "drive"):
                phys[k].append(block.truth[k])
    streams: dict[str, tuple[StreamInfo, Chunk]] = {}
    sample_t: dict[str, np.ndarray] = {}
    packets: dict[str, np.ndarray] = {}
    for name, info in mover.infos.items():
        data = np.concatenate([p[0] for p in parts[name]])
        stamps = np.concatenate([p[1] for p in parts[name]])
        seq = np.concatenate([p[2] for p in parts[name]])
        packets[name] = np.concatenate([p[4] for p in parts[name]]).astype(np.float64).reshape(-1, 3)
        received = packets[name][-1, 2] if packets[name].size else np.nan
        streams[name] = (info, Chunk(data, stamps, seq, f"device:{info.source_id}", received))
        sample_t[name] = np.concatenate([p[3] for p in parts[name]])
    ph = {
        k: np.concatenate(v)
        if v
        else np.zeros(
            (0, 2, 2) if k == "grf" else (0, len(JOINTS) if k == "joint_angles" else cfg.emg), np.float32
        )
        for k, v in phys.items()
    }
    keep_rows = ph["phys_t"] < duration_s
    ph = {k: v[keep_rows] if v.shape[0] else v for k, v in ph.items()}
    rest = mover.rest_activation
    onsets = {
        m.name: burst_times(
            ph["drive"][:, i], ph["phys_t"], rest[m.actuator] + 0.025, rest[m.actuator] + 0.015
        )
        for i, m in enumerate(mover.muscles)
    }
    if not keep_truth:
        ph = {k: v[:0] for k, v in ph.items()}
    truth = SimTruth(
        phys_t=ph["phys_t"],
        muscles=tuple(m.name for m in mover.muscles),
        drive=ph["drive"],
        activation=ph["activation"],
        force=ph["force"],
        joints=tuple(j.name for j in JOINTS),
        joint_angles=ph["joint_angles"],
        onsets=onsets,
        movements=[m for m in mover.choreography.movements if m.start < duration_s],
        emd_s=mover.emd_samples / PHYSICS_RATE_HZ,
        clocks=dict(mover.clocks),
        sample_t=sample_t,
        packets=packets,
        imu_quat={k: np.concatenate(v) for k, v in quat.items()},
        imu_mounts=mover.mounts,
        pose=np.concatenate(pose) if pose else None,
        mvc_v=mover.mvc_v,
        traits=mover.traits,
        grf=ph.get("grf"),
        rest_bursts={
            m.name: np.array([b for b in mover.rest_bursts[i] if b[0] < duration_s]).reshape(-1, 2)
            for i, m in enumerate(mover.muscles)
        },
    )
    return SimRecording(int(seed), float(duration_s), cfg, streams, truth)


def traits_of(seed: int, config: SimConfig | None = None, **overrides: Any) -> MoverTraits:
    """The person the mover of ``seed`` is, without simulating anything (fast)."""
    return Mover(seed, _config(config, overrides), keep_truth=False).traits


def _generate_star(args: tuple) -> SimRecording:
    seed, duration_s, config, keep_truth = args
    return generate(seed, duration_s, config, keep_truth)


def generate_many(
    seeds: list[int],
    duration_s: float,
    config: SimConfig | None = None,
    keep_truth: bool = False,
    processes: int | None = None,
) -> list[SimRecording]:
    """:func:`generate` for many seeds in parallel processes (one recording per seed, in order)."""
    jobs = [(int(s), duration_s, config, keep_truth) for s in seeds]
    if processes == 1 or len(jobs) <= 1:
        return [_generate_star(j) for j in jobs]
    with ProcessPoolExecutor(max_workers=processes) as pool:
        return list(pool.map(_generate_star, jobs))

"""``wearsense demo``: stream the virtual mover live, then draw the lead of EMG over motion.

The demo opens ``sim://mover`` like any device, shows a live terminal view (rates,
loss, per-channel EMG level, IMU magnitudes), keeps every chunk, and writes a PNG:

1. EMG envelopes of every channel, on one common µV scale;
2. joint angles as a camera sees them (computed from the pose keypoints);
3. one movement up close: the agonist's EMG envelope rises before the segment turns
   (its IMU gyroscope) and before the camera sees the joint move, annotated with the
   measured lead.

Timestamps of each stream are mapped onto one time axis with the sim's *known* clocks
(``SimDevice.clocks``); for real devices that is the sync layer's job
(:mod:`wearsense.sync`). The lead is measured from the EMG onsets of the Bonato double
threshold (:mod:`wearsense.dsp.onset`, after at least 300 ms of rest) to the moment the
angular speed of the moving segment's IMU exceeds its resting level by 10 deg/s (and 5 SD).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import numpy as np
from scipy.ndimage import uniform_filter1d
from scipy.signal import savgol_filter

from wearsense.devices import BlockingDevice
from wearsense.dsp.onset import DoubleThreshold
from wearsense.errors import WearsenseError
from wearsense.live.terminal import LiveStats, TerminalView
from wearsense.stream import Chunk, StreamInfo, concat

__all__ = ["DemoResult", "run_demo", "prepare", "plot_demo", "pose_angles", "PAIRS"]

#: (muscle, IMU stream on the segment it moves, pose-derived angle) whose lead the demo measures.
PAIRS = (
    ("deltoid_anterior_r", "sim-imu1", "shoulder elevation r"),
    ("vastus_lateralis_r", "sim-imu2", "knee flexion r"),
)


@dataclass(frozen=True)
class DemoResult:
    figure: Path | None  # where the figure was written, None if it was not
    streams: dict[str, tuple[StreamInfo, Chunk]]
    leads_ms: list[tuple[str, float, float]]  # (muscle, EMG onset time s, lead ms)
    times: dict[str, np.ndarray]  # per stream: sample times on the sim's reference clock (s)
    seed: int = 0

    @property
    def median_lead_ms(self) -> float:
        return float(np.median([lead for _, _, lead in self.leads_ms])) if self.leads_ms else float("nan")


def _angle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def pose_angles(info: StreamInfo, pose: np.ndarray) -> dict[str, np.ndarray]:
    """Joint angles (deg) a camera can see, from keypoints ``<name>_x/_y/_z`` (metres)."""

    def kp(name: str) -> np.ndarray:
        return pose[:, [info.index(f"{name}_{a}") for a in "xyz"]].astype(float)

    down = kp("pelvis") - kp("thorax")
    out = {}
    for s in "rl":
        out[f"shoulder elevation {s}"] = _angle(kp(f"elbow_{s}") - kp(f"shoulder_{s}"), down)
        elbow, knee = kp(f"elbow_{s}"), kp(f"knee_{s}")
        out[f"elbow flexion {s}"] = 180 - _angle(kp(f"shoulder_{s}") - elbow, kp(f"wrist_{s}") - elbow)
        out[f"knee flexion {s}"] = 180 - _angle(kp(f"hip_{s}") - knee, kp(f"ankle_{s}") - knee)
    return out


def _emg_onsets(emg: Chunk, t: np.ndarray, rate_hz: float, quiet_s: float = 0.3) -> list[list[float]]:
    """Per channel, the onsets (time axis ``t``) that the Bonato double threshold of
    :mod:`wearsense.dsp.onset` finds after at least ``quiet_s`` of rest."""
    found = DoubleThreshold(rate_hz).detect(Chunk(emg.data, t, emg.seq, "true"))
    out = []
    for bursts in found:
        ends = [-np.inf] + [off for _, off in bursts]
        out.append([on for (on, _), end in zip(bursts, ends) if on - end >= quiet_s])
    return out


def _motion_onset(t: np.ndarray, gyro_dps: np.ndarray, after: float) -> float | None:
    """First time within 400 ms after ``after`` that the segment's angular speed exceeds
    its resting level (mean over the 350 ms before) by 10 deg/s and 5 SD; None if the
    segment was already turning."""
    speed = np.linalg.norm(gyro_dps, axis=1)
    base = speed[(t > after - 0.4) & (t < after - 0.05)]
    if base.size < 5 or base.std() > 5.0:
        return None
    thr = base.mean() + max(10.0, 5 * base.std())
    fast = np.flatnonzero((t > after) & (t < after + 0.4) & (speed > thr))
    return float(t[fast[0]]) if fast.size else None


def prepare(seed: int = 0) -> float:
    """Make the virtual mover and the live view's filters ready before anything is live.

    Their numba kernels compile on first use: tens of seconds on a fresh install, during
    which a live view would stand still and then jump to the end. Half a second of the
    mover, as fast as possible, through the same :class:`LiveStats` compiles them (or, on
    later runs, loads them from numba's cache). Returns the seconds it took.
    """
    t0 = time.monotonic()
    stats = LiveStats()
    with BlockingDevice(f"sim://mover?seed={seed}&duration_s=0.5&realtime=0&moves=reach") as dev:
        for info, chunk in dev:
            stats.update(info, chunk)
    return time.monotonic() - t0


def _envelope(emg: Chunk, rate_hz: float) -> np.ndarray:
    """50 ms moving average of |EMG| (volts), samples x channels."""
    return uniform_filter1d(np.abs(emg.data.astype(float) - emg.data.mean(0)), int(0.05 * rate_hz), axis=0)


def _smooth_angles(info: StreamInfo, pose: Chunk) -> dict[str, np.ndarray]:
    angles = pose_angles(info, pose.data)
    win = min(7, (pose.n // 2) * 2 - 1)
    return {k: savgol_filter(v, win, 2) for k, v in angles.items()}


def run_demo(seed: int = 0, duration_s: float = 10.0, out: Path | str | None = "wearsense-demo.png",
             realtime: bool = True, stream: TextIO | None = None) -> DemoResult:
    """Stream the virtual mover, show it live on ``stream``, measure the lead of EMG over
    motion and, unless ``out`` is None, write the figure of :func:`plot_demo` there (PNG).

    The kernels are prepared first (:func:`prepare`), with a line on ``stream`` saying so,
    so the live view starts only when it can keep up.
    """
    if not duration_s >= 3:
        raise WearsenseError(f"demo duration must be at least 3 s to show a movement, got {duration_s}")
    out = Path(out) if out is not None else None
    if out is not None and out.parent and not out.parent.exists():
        raise WearsenseError(f"cannot write the figure: folder {out.parent} does not exist; create it first")
    stream = stream or sys.stdout
    stream.write("preparing the virtual mover and its filters (slow on the first run only: "
                 "numba compiles them) ...")
    stream.flush()
    stream.write(f" ready in {prepare(seed):.1f} s\n")
    uri = (f"sim://mover?seed={seed}&duration_s={duration_s}&realtime={int(realtime)}"
           "&moves=reach,squat,gesture,brace")
    stats = LiveStats()
    view = TerminalView(f"wearsense demo  {uri}", stream)
    parts: dict[str, list[Chunk]] = {}
    infos: dict[str, StreamInfo] = {}
    with BlockingDevice(uri) as dev:
        clocks = dev.device.clocks
        for info, chunk in dev:
            stats.update(info, chunk)
            view.draw(stats)
            infos[info.name] = info
            parts.setdefault(info.name, []).append(chunk)
    view.draw(stats, force=True)
    streams = {n: (infos[n], concat(c)) for n, c in parts.items()}

    # one time axis: the sim's reference time, through the known clocks
    def true_t(name: str) -> np.ndarray:
        c = clocks[name]
        return c.true_time(streams[name][1].t) - c.stamp_latency_s

    times = {name: true_t(name) for name in streams}
    info_e, emg = streams["sim-emg"]
    te = times["sim-emg"]

    leads: list[tuple[str, float, float]] = []
    onsets = _emg_onsets(emg, te, info_e.rate_hz)
    for muscle, imu, _ in PAIRS:
        if muscle not in info_e.channels or imu not in streams:
            continue
        info_i, chunk_i = streams[imu]
        ti = times[imu]
        gyro = chunk_i.data[:, info_i.select("gyro_", "deg/s")].astype(float)
        for t_on in onsets[info_e.index(muscle)]:
            t_mot = _motion_onset(ti, gyro, t_on)
            if t_mot is not None and 0.0 < t_mot - t_on < 0.25:
                leads.append((muscle, t_on, (t_mot - t_on) * 1e3))

    result = DemoResult(out, streams, leads, times, seed)
    if out is not None:
        plot_demo(result).savefig(out, dpi=110)
    return result


#: time shown before and after the EMG onset in the close-up panel (s)
ZOOM_S = (0.4, 0.8)


def plot_demo(result: DemoResult):
    """The demo's figure (a :class:`matplotlib.figure.Figure`, not registered with pyplot):

    1. every EMG channel's envelope on one common µV scale, so a silent channel looks
       silent; each channel's peak written at the right;
    2. joint angles as the camera sees them;
    3. one movement up close (its window shaded above): the agonist's EMG envelope
       rises before the segment turns (IMU gyroscope), annotated with the lead.
    """
    from matplotlib.figure import Figure
    from matplotlib.transforms import blended_transform_factory

    info_e, emg = result.streams["sim-emg"]
    te = result.times["sim-emg"]
    env_uv = _envelope(emg, info_e.rate_hz) * 1e6
    info_p, pose = result.streams["sim-pose"]
    tp = result.times["sim-pose"]
    smooth = _smooth_angles(info_p, pose)
    zoom = None
    if result.leads_ms:
        muscle, t_on, lead = result.leads_ms[0]
        zoom = (t_on - ZOOM_S[0], t_on + ZOOM_S[1])
    time_label = "time (s, sim reference clock)"

    fig = Figure(figsize=(11, 11), layout="constrained")
    axes = fig.subplots(3, 1)
    ax = axes[0]
    peaks = env_uv.max(axis=0)
    row_uv = _round_up(float(peaks.max()))  # one row's height, the same for every channel
    right = blended_transform_factory(ax.transAxes, ax.transData)
    for i, ch in enumerate(info_e.channels):
        ax.plot(te, env_uv[:, i] / row_uv * 0.95 + i, lw=0.8)
        ax.text(1.005, i + 0.1, f"{peaks[i]:.0f} µV", transform=right, fontsize=7, va="bottom")
    ax.set_yticks(range(len(info_e.channels)), info_e.channels, fontsize=8)
    ax.set_ylim(-0.2, len(info_e.channels) + 0.1)
    ax.set_title(f"EMG envelopes (50 ms moving average of |EMG|), one scale for all channels: "
                 f"a row is {row_uv:.0f} µV; peak at the right — seed {result.seed}", fontsize=10)
    ax = axes[1]
    for name in ("shoulder elevation r", "shoulder elevation l", "knee flexion r", "elbow flexion r"):
        ax.plot(tp, smooth[name], label=name, lw=1)
    low, high = ax.get_ylim()
    ax.set_ylim(low, high + 0.3 * (high - low))  # headroom: the legend sits above the curves
    ax.set_ylabel("deg")
    ax.set_title("Joint angles seen by the camera (from pose keypoints)", fontsize=10)
    ax.legend(fontsize=8, loc="upper center", ncol=4, frameon=False)
    for ax in axes[:2]:
        ax.set_xlim(te[0], te[-1])
        ax.set_xlabel(time_label)
        if zoom is not None:
            ax.axvspan(*zoom, color="0.88", zorder=0)
    if zoom is not None:
        at_top = blended_transform_factory(axes[0].transData, axes[0].transAxes)
        axes[0].text(zoom[0], 1.0, " close-up below", transform=at_top, fontsize=7, va="top", color="0.3")

    ax = axes[2]
    if zoom is not None:
        joint = {m: j for m, _, j in PAIRS}[muscle]
        sel_e = (te > zoom[0]) & (te < zoom[1])
        sel_p = (tp > zoom[0]) & (tp < zoom[1])
        ch = info_e.index(muscle)
        ax.plot(te[sel_e], env_uv[sel_e, ch], color="tab:red", label=f"{muscle} EMG envelope (µV)")
        ax.set_ylabel("µV", color="tab:red")
        ax2 = ax.twinx()
        ax2.plot(tp[sel_p], smooth[joint][sel_p], color="tab:blue", label=f"{joint} (deg)")
        ax2.set_ylabel("deg", color="tab:blue")
        ax.axvline(t_on, color="tab:red", ls="--", label="EMG onset")
        ax.axvline(t_on + lead / 1e3, color="tab:blue", ls="--", label="motion onset (IMU gyroscope)")
        n = len(result.leads_ms)
        among = (f"median over {n} movements: {result.median_lead_ms:.0f} ms" if n > 1
                 else "the only clean onset in this recording; a longer --duration finds more")
        ax.set_title(
            f"Muscle activity leads motion: {muscle} EMG onset {lead:.0f} ms before the segment turns (IMU)\n"
            f"({among})\nthe sim's electromechanical delay is 50 ms; the detectors add their own lags",
            fontsize=10,
        )
        # one legend, in the quiet corner before the onset (the curves rise to the right)
        handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", fontsize=8)
    else:
        ax.text(0.5, 0.5, "no movement with a clean EMG onset in this window; try --duration 15",
                ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(time_label)
    return fig


def _round_up(x: float) -> float:
    """``x`` rounded up to two significant digits (536.2 -> 540): a readable scale."""
    if not x > 0:
        return 1.0
    step = 10 ** (np.floor(np.log10(x)) - 1)
    return float(np.ceil(x / step - 1e-9) * step)


def summary(result: DemoResult, elapsed_s: float) -> str:
    lines = [f"wrote {result.figure} ({elapsed_s:.1f} s)" if result.figure else f"done ({elapsed_s:.1f} s)"]
    for name, (info, chunk) in result.streams.items():
        lines.append(f"  {name:<10} {info.modality.value:<5} {info.n_channels:>3} ch  {chunk.n:>7} samples")
    if result.leads_ms:
        n = len(result.leads_ms)
        lines.append(f"EMG onset led motion onset by {result.median_lead_ms:.0f} ms"
                     + (f" (median of {n} movements)" if n > 1 else " (one movement)"))
    return "\n".join(lines)

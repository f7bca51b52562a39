"""A live terminal view of streaming devices: rates, loss, EMG levels, IMU magnitudes.

:class:`LiveStats` consumes ``(StreamInfo, Chunk)`` pairs and keeps per-stream
counters and per-channel levels; :func:`render` turns them into text lines. On a
TTY, :class:`TerminalView` redraws in place a few times per second; elsewhere (a log,
CI) it prints one summary line per interval, so the same code serves both.

``wearsense live`` draws :func:`render_live` of a
:class:`~wearsense.live.monitor.LiveMonitor`: the same table and EMG bars, plus stream
health, IMU orientation, effort factors, pre-activation events and, when a model runs,
its predicted pose and surprise.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np

from wearsense.dsp import EmgChain, EmgChainSettings, EnvelopeSettings
from wearsense.dsp.quality import QualityMonitor
from wearsense.stream import Chunk, Modality, StreamInfo, count_lost

__all__ = ["StreamStats", "LiveStats", "render", "render_live", "TerminalView"]


@dataclass
class StreamStats:
    """Counters of one stream since the view started."""

    info: StreamInfo
    samples: int = 0
    chunks: int = 0
    lost: int = 0
    last_seq: int | None = None
    first_host_s: float = float("nan")
    first_samples: int = 0  # samples of the first chunk, which arrived at first_host_s
    last_host_s: float = float("nan")
    level: np.ndarray = field(default_factory=lambda: np.zeros(0))  # per channel, latest
    envelope: EmgChain | None = None
    quality: QualityMonitor | None = None

    @property
    def rate_hz(self) -> float:
        """Samples per second of host time since the first chunk arrived."""
        span = self.last_host_s - self.first_host_s
        return (self.samples - self.first_samples) / span if span > 0 else float("nan")

    @property
    def loss_fraction(self) -> float:
        total = self.samples + self.lost
        return self.lost / total if total else 0.0


class LiveStats:
    """Per-stream counters and levels, updated chunk by chunk.

    EMG level is a causal 100 ms moving-RMS envelope of the band-passed signal (volts),
    and each EMG channel's signal quality is watched by a
    :class:`~wearsense.dsp.quality.QualityMonitor` (electrode off, saturation, mains,
    motion artefact, low SNR, flat line). IMU level is |acceleration| (m/s²) and
    |angular velocity| (deg/s) of the latest sample.
    """

    def __init__(self) -> None:
        self.streams: dict[str, StreamStats] = {}

    def update(self, info: StreamInfo, chunk: Chunk) -> None:
        st = self.streams.get(info.name)
        if st is None:
            st = self.streams[info.name] = StreamStats(info)
            if info.modality is Modality.EMG and info.rate_hz > 0:
                st.envelope = EmgChain(
                    info.rate_hz,
                    EmgChainSettings(notch=None, envelope=EnvelopeSettings(method="rms", window_s=0.1)),
                )
                st.quality = QualityMonitor(info)
        if chunk.n == 0:
            return
        if st.chunks == 0:
            st.first_host_s, st.first_samples = chunk.received_s, chunk.n
        st.chunks += 1
        st.samples += chunk.n
        st.lost += count_lost(chunk.seq, st.last_seq)
        st.last_seq = int(chunk.seq[-1])
        st.last_host_s = chunk.received_s
        if st.envelope is not None:
            st.level = st.envelope.process(chunk).data[-1].astype(float)
            st.quality.update(chunk)
        elif info.modality is Modality.IMU:
            acc = info.select("acc_", "m/s^2")
            gyro = info.select("gyro_", "deg/s")
            last = chunk.data[-1].astype(float)
            st.level = np.array([np.linalg.norm(last[acc]) if acc else np.nan,
                                 np.linalg.norm(last[gyro]) if gyro else np.nan])


def _rate(rate_hz: float, width: int = 0) -> str:
    """A rate for the view: ``--`` until two chunks have arrived (no rate yet)."""
    return f"{rate_hz:>{width}.1f}" if np.isfinite(rate_hz) else f"{'--':>{width}}"


def _bar(fraction: float, width: int = 24) -> str:
    n = int(round(np.clip(fraction, 0, 1) * width))
    return "#" * n + "." * (width - n)


def render(stats: LiveStats, title: str, elapsed_s: float, emg_full_scale_v: float = 500e-6) -> list[str]:
    """Text lines of the live view (no terminal control codes)."""
    lines = [f"{title}   t = {elapsed_s:5.1f} s", ""]
    lines.append(f"{'stream':<14}{'rate Hz':>10}{'nominal':>9}{'chunks':>8}{'lost':>8}")
    ordered = dict(sorted(stats.streams.items()))
    for name, st in ordered.items():
        lines.append(f"{name:<14}{_rate(st.rate_hz, 10)}{st.info.rate_hz:>9.0f}{st.chunks:>8d}"
                     f"{100 * st.loss_fraction:>7.2f}%")
    for name, st in ordered.items():
        if st.envelope is not None and st.level.size:
            lines += ["", f"EMG level ({name}, 100 ms RMS; bar full scale {emg_full_scale_v * 1e6:.0f} uV)"]
            verdicts = {q.label: q for q in st.quality.status()}
            for ch, v in zip(st.info.channels, st.level):
                q = verdicts.get(ch)
                flag = ("ok" if q.ok else ",".join(sorted(q.flags))) if q is not None else ""
                lines.append(f"  {ch:<26}{_bar(v / emg_full_scale_v)} {v * 1e6:7.1f} uV  {flag}")
            lines += [f"  ! {reason}" for reason in st.quality.problems()]
    imus = [(n, st) for n, st in ordered.items() if st.info.modality is Modality.IMU and st.level.size]
    if imus:
        lines += ["", "IMU (latest sample)"]
        for name, st in imus:
            where = st.info.metadata.get("segment", "")
            lines.append(f"  {name:<10}{where:<12} |acc| {st.level[0]:6.2f} m/s^2   "
                         f"|gyro| {st.level[1]:7.1f} deg/s")
    return lines


def _gauge(value: float | None, width: int = 21) -> str:
    """A bipolar gauge for an effort value in -1..1, +1 (the first pole) at the left:
    ``[..#..|.....]``; blank when there is none."""
    if value is None or not np.isfinite(value):
        return "[" + " " * width + "]"
    k = int(round((1 - np.clip(value, -1, 1)) / 2 * (width - 1)))
    cells = ["."] * width
    cells[width // 2] = "|"
    cells[k] = "#"
    return "[" + "".join(cells) + "]"


def _sensors(names, width: int = 40) -> str:
    text = ", ".join(names)
    return text if len(text) <= width else f"{text[:width - 3]}... ({len(names)})"


def render_live(monitor, title: str, elapsed_s: float, emg_full_scale_v: float = 500e-6) -> list[str]:
    """Text lines of ``wearsense live`` from a :class:`~wearsense.live.monitor.LiveMonitor`:
    :func:`render`'s table and EMG bars (with quality flags), then stream health, IMU
    orientation, effort factors, pre-activation events and the model's output."""
    lines = render(monitor.stats, title, elapsed_s, emg_full_scale_v)
    bad = [r for r in monitor.health() if r["state"] != "ok"]
    lines += ["", "health: " + ("all streams ok" if not bad else
                                "; ".join(f"{r['name']} {r['state']}" for r in bad))]
    if monitor.orientation:
        lines += ["", "IMU orientation (AHRS: tilt of the sensor z axis from up, heading of its x axis)"]
        for name, o in sorted(monitor.orientation.items()):
            info = monitor.infos.get(name)
            seg = info.metadata.get("segment", "") if info is not None else ""
            flags = f"  ({', '.join(o.flags)})" if o.flags else ""
            lines.append(f"  {name:<10}{seg:<12} tilt {o.tilt_deg:6.1f} deg   "
                         f"heading {o.heading_deg:7.1f} deg{flags}")
    rows = monitor.effort_rows()
    lines += ["", "Effort" + ("" if rows else f": {monitor.effort_note or 'waiting'}")]
    for r in rows:
        poles = r.get("poles") or ("", "")
        if r.get("available", True):
            conf = r.get("confidence")
            lines.append(f"  {r['factor']:<7}{poles[0]:>10} {_gauge(r.get('value'))} {poles[1]:<10}"
                         f" {r.get('pole', ''):<10} conf {conf if conf is None else f'{conf:.2f}'}"
                         f"  [{_sensors(r.get('sensors', ()))}]")
        else:
            lines.append(f"  {r['factor']:<7} unavailable: {r.get('note', '')}")
    events = list(monitor.events)[-5:]
    lines += ["", f"Pre-activation ({monitor.events_total} so far)" + ("" if events else ": none yet")]
    lines += [f"  {monitor.describe_event(e)['text']}" for e in reversed(events)]
    p = monitor.prediction
    if p is not None:
        lines += ["", f"Model: surprise {p.surprise:.3f}; predicted +{p.horizon_ms:.0f} ms: "
                  + ", ".join(f"{k} {v:.0f} deg" for k, v in list(p.angles.items())[:6])]
    return lines


class TerminalView:
    """Draws :func:`render` output: in place on a TTY, as periodic summary lines elsewhere.

    ``renderer``: what draws the lines from the object given to :meth:`draw`
    (:func:`render` for :class:`LiveStats`; :func:`render_live` for a monitor).
    """

    def __init__(self, title: str, out: TextIO | None = None, interval_s: float | None = None,
                 renderer=render) -> None:
        self.renderer = renderer
        self.title = title
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self.interval_s = interval_s if interval_s is not None else (0.2 if self.tty else 1.0)
        self._last = -np.inf
        self._lines_drawn = 0
        self._t0 = time.monotonic()

    def draw(self, stats, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return
        self._last = now
        elapsed = now - self._t0
        if self.tty:
            lines = self.renderer(stats, self.title, elapsed)
            if self._lines_drawn:
                self.out.write(f"\x1b[{self._lines_drawn}F")
            self.out.write("".join(f"\x1b[2K{line}\n" for line in lines))
            self._lines_drawn = len(lines)
        else:
            counters = stats if isinstance(stats, LiveStats) else stats.stats
            parts = [f"{n} {_rate(st.rate_hz)} Hz lost {100 * st.loss_fraction:.1f}%"
                     for n, st in counters.streams.items()]
            self.out.write(f"[{elapsed:5.1f} s] " + "; ".join(parts) + "\n")
        self.out.flush()

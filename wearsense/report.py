"""The session report: one self-contained HTML file about a recording.

``wearsense report session.xdf`` (or :func:`write_report`) reads a recording and
writes one HTML page with every figure inlined (PNG, base64): nothing else to copy,
nothing fetched when it is opened. It says

1. **what is in the file**: streams, rates, samples, loss, duration, and the take's
   events (device failures, silences, clock segments) and annotations (the dashboard's
   buttons);
2. **signal quality** per EMG channel: the verdicts of
   :class:`~wearsense.dsp.quality.QualityMonitor` over the whole take (the share of the
   time each problem was flagged, and what to do about it) and the RMS level;
3. **sync quality** (:mod:`wearsense.sync.report`): each device clock's offset, drift,
   jitter and link latency, the gaps, the IMU⇄pose lag;
4. **EMG envelopes with onsets**: the causal envelope of
   :class:`~wearsense.dsp.EmgChain` per muscle with the onsets of the Bonato double
   threshold (:class:`~wearsense.dsp.onset.DoubleThreshold`) and the annotations;
5. **effort timeline**: Weight, Time, Space and Flow (:class:`wearsense.effort.EffortEstimator`)
   with their confidence;
6. **pre-activation summary** (:class:`wearsense.effort.PreactivationDetector`): per
   muscle, how often it led its joint's motion and by how much, and how often it
   engaged with no local motion;
7. **the calibration profile** each stream was recorded with (kept in the stream's
   metadata by :func:`wearsense.calibrate.profile.attach_profile`), or that there was none.

All streams are first put on one clock (the session clock, host monotonic seconds)
with :func:`wearsense.sync.sync_offline`, as the effort layer needs; times in the
report are seconds since the first sample of any stream.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.dsp import EmgChain
from wearsense.dsp.onset import DoubleThreshold
from wearsense.dsp.quality import QualityMonitor
from wearsense.errors import ConfigError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["SessionReport", "build_report", "render_html", "write_report"]

#: Time step (s) in which the streams are fed, interleaved, to the effort estimator and the
#: pre-activation detector (as a live session would deliver them).
FEED_STEP_S = 0.1


@dataclass
class SessionReport:
    """What :func:`build_report` found; :func:`render_html` turns it into the page."""

    path: str
    t0: float  # session-clock time of the first sample (s): the report's time zero
    streams: list[dict[str, Any]]
    events: list[dict[str, Any]]
    annotations: list[dict[str, Any]]
    quality: dict[str, list[dict[str, Any]]]
    sync_text: str
    sync_png: bytes | None
    envelopes_png: bytes | None
    onsets: dict[str, dict[str, list[tuple[float, float]]]]
    effort: dict[str, np.ndarray]  # "t" and per factor value / confidence, shape (n,)
    effort_note: str
    effort_png: bytes | None
    preactivation: list[Any]
    calibration: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    @property
    def duration_s(self) -> float:
        ends = [s["end_s"] for s in self.streams if math.isfinite(s["end_s"])]
        return max(ends) if ends else 0.0


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return buf.getvalue()


def _quality(info: StreamInfo, chunks: list[Chunk]) -> list[dict[str, Any]]:
    """Per channel: share of the take each problem was flagged, the RMS level, the advice."""
    mon = QualityMonitor(info)
    seen = [dict() for _ in range(info.n_channels)]
    judged = np.zeros(info.n_channels)
    reasons: list[dict[str, str]] = [{} for _ in range(info.n_channels)]  # flag -> its latest advice
    sq = np.zeros(info.n_channels)
    n = 0
    for c in chunks:
        mon.update(c)
        x = c.data.astype(np.float64)
        x = x - x.mean(axis=0) if c.n > 1 else x
        sq += (x ** 2).sum(axis=0)
        n += c.n
        for q in mon.status():
            if q.metrics:  # judged (a full window seen)
                judged[q.channel] += c.n
                for flag in q.flags:
                    seen[q.channel][flag] = seen[q.channel].get(flag, 0) + c.n
                if not q.ok:
                    reasons[q.channel][",".join(sorted(q.flags))] = q.reason
    rows = []
    placements = info.metadata.get("placement") or {}
    for i, ch in enumerate(info.channels):
        share = {f: k / judged[i] for f, k in sorted(seen[i].items())} if judged[i] else {}
        rows.append({
            "channel": ch,
            "placement": placements.get(ch, "") if isinstance(placements, Mapping) else "",
            "rms_uv": math.sqrt(sq[i] / n) * 1e6 if n else math.nan,
            "judged_s": judged[i] / info.rate_hz if info.rate_hz > 0 else math.nan,
            "flags": share,
            "ok_share": 1.0 - max(share.values(), default=0.0) if judged[i] else math.nan,
            "advice": [reasons[i][k] for k in sorted(reasons[i])],
        })
    return rows


def _interleaved(mapped: Mapping[str, tuple[StreamInfo, Chunk]], step_s: float):
    """(name, piece) of every stream, ``step_s`` of session time at a time, in time order."""
    starts = [c.t[0] for _, c in mapped.values() if c.n]
    ends = [c.t[-1] for _, c in mapped.values() if c.n]
    if not starts:
        return
    t, end = min(starts), max(ends)
    cursors = {name: 0 for name in mapped}
    while t <= end + step_s:
        t += step_s
        for name, (_, c) in mapped.items():
            i = cursors[name]
            j = int(np.searchsorted(c.t, t, side="left"))
            if j > i:
                cursors[name] = j
                yield name, Chunk(c.data[i:j], c.t[i:j], c.seq[i:j], c.clock, float(c.t[j - 1]))


def _effort(mapped, infos) -> tuple[dict[str, np.ndarray], list[Any], str]:
    """Effort states and pre-activation events over the take (both fed as a live session)."""
    try:
        from wearsense.effort import FACTORS, EffortEstimator, PreactivationDetector
    except ImportError as e:  # pragma: no cover - a build without the effort layer
        return {}, [], f"effort not available: {e}"
    from wearsense.errors import WearsenseError

    note = ""
    try:
        est = EffortEstimator(infos)
    except WearsenseError as e:
        est, note = None, f"effort not estimated: {e}"
    try:
        det = PreactivationDetector(infos)
    except WearsenseError as e:
        det = None
        note += f"{'; ' if note else ''}no pre-activation events: {e}"
    states, events = [], []
    for name, piece in _interleaved(mapped, FEED_STEP_S):
        if est is not None and name in est.infos:
            states += est.process(name, piece)
            est.states.clear()
        if det is not None and name in det.infos:
            events += det.process(name, piece)
    out: dict[str, np.ndarray] = {}
    if states:
        out["t"] = np.array([s.t for s in states])
        for f in FACTORS:
            out[f] = np.array([getattr(s, f).value for s in states], dtype=float)
            out[f + "_confidence"] = np.array([getattr(s, f).confidence for s in states], dtype=float)
            out[f + "_available"] = np.array([getattr(s, f).available for s in states], dtype=bool)
        last = states[-1]
        out["_sensors"] = {f: list(getattr(last, f).sensors) for f in FACTORS}  # type: ignore[assignment]
        out["_notes"] = {f: getattr(last, f).note for f in FACTORS}  # type: ignore[assignment]
    return out, events, note


def _plot_envelopes(emg: dict[str, tuple[StreamInfo, Chunk]], onsets, annotations, events, t0: float):
    from matplotlib.figure import Figure

    rows = sum(info.n_channels for info, _ in emg.values())
    fig = Figure(figsize=(11, 0.55 * rows + 1.2), layout="constrained")
    ax = fig.subplots()
    row = 0
    labels = []
    for name, (info, env) in emg.items():
        t = env.t - t0
        step = max(1, env.n // 6000)  # a readable number of points per trace
        peak = np.nanmax(env.data, axis=0) if env.n else np.ones(info.n_channels)
        for i, ch in enumerate(info.channels):
            y = env.data[::step, i] / (peak[i] if peak[i] > 0 else 1) * 0.85 + row
            ax.plot(t[::step], y, lw=0.7, color=f"C{row % 10}")
            for on, off in onsets[name][ch]:
                ax.plot([on - t0, on - t0], [row, row + 0.9], color="k", lw=0.9)
                if math.isfinite(off):
                    ax.plot([on - t0, off - t0], [row + 0.03, row + 0.03], color="k", lw=2, alpha=0.35)
            for ev in events:
                if ev.muscle == ch:
                    marker = {"led": "v", "anticipatory": "o"}.get(ev.kind, "x")
                    ax.plot(ev.t - t0, row + 0.92, marker, ms=5, color="tab:red", mec="none")
            labels.append(f"{ch}\npeak {peak[i] * 1e6:.0f} µV")
            row += 1
    for a in annotations:
        ax.axvline(a["host_s"] - t0, color="tab:purple", lw=1, ls="--")
        ax.text(a["host_s"] - t0, rows + 0.05, a["message"], color="tab:purple", fontsize=8, rotation=90,
                va="bottom")
    ax.set_yticks(np.arange(rows) + 0.4, labels, fontsize=7)
    ax.set_ylim(-0.1, rows + 0.6)
    ax.set_xlabel("time since the session start (s)")
    ax.set_title("EMG envelopes, each row scaled to its peak. Black: onset | and burst ▬ (Bonato double "
                 "threshold); red: pre-activation that led motion ▼, with no local motion ●, joint already "
                 "moving ×", fontsize=9)
    return fig


def _plot_effort(effort: dict[str, np.ndarray], annotations, t0: float):
    from matplotlib.figure import Figure

    from wearsense.effort import FACTORS, POLES

    fig = Figure(figsize=(11, 6), layout="constrained")
    axes = fig.subplots(len(FACTORS), 1, sharex=True)
    t = effort["t"] - t0
    for ax, f in zip(axes, FACTORS):
        v = np.where(effort[f + "_available"], effort[f], np.nan)
        c = effort[f + "_confidence"]
        ax.axhline(0, color="0.8", lw=0.8)
        ax.plot(t, v, color="tab:blue", lw=1)
        ax.fill_between(t, v - 0, 0, where=np.isfinite(v), alpha=0.15, color="tab:blue")
        ax.plot(t, np.where(np.isfinite(v), c * 2 - 1, np.nan), color="0.6", lw=0.6, ls=":")
        first, second = POLES[f]
        ax.set_ylim(-1.05, 1.05)
        ax.set_yticks([-1, 0, 1], [second, "0", first], fontsize=8)
        avail = float(np.mean(effort[f + "_available"])) if t.size else 0.0
        ax.set_ylabel(f, fontsize=9)
        if avail < 1:
            ax.text(0.99, 0.05, f"available {100 * avail:.0f}% of the time", transform=ax.transAxes,
                    ha="right", fontsize=8, color="0.4")
        for a in annotations:
            ax.axvline(a["host_s"] - t0, color="tab:purple", lw=1, ls="--")
    axes[0].set_title("Laban Effort over the take: value (blue, +1 = first pole) and confidence (dotted, "
                      "0..1 drawn on -1..1); gaps where the sensors cannot say", fontsize=9)
    axes[-1].set_xlabel("time since the session start (s)")
    return fig


def build_report(path: str | Path) -> SessionReport:
    """Read ``path`` (an XDF recording, crashed ones too) and compute everything the report shows.

    Raises :class:`~wearsense.errors.FormatError` for files that are not XDF and
    :class:`~wearsense.errors.ConfigError` for a recording without numeric streams.
    """
    from wearsense.io.xdf import load
    from wearsense.io.xdf.events import clock_segments
    from wearsense.sync import sync_offline
    from wearsense.sync.report import plot as plot_sync
    from wearsense.sync.report import report_from_recording, summarize

    f = load(path, recover=True)
    data = {n: s for n, s in f.streams.items() if s.strings is None and s.chunk.n}
    if not data:
        raise ConfigError(f"{path}: no numeric streams with samples to report on (only markers, or empty)",
                          "path")
    notes = []
    if not f.closed_cleanly:
        notes.append("the recording did not close cleanly (crash or power loss): read up to its last "
                     "complete chunk; `wearsense repair` makes a clean copy")
    segments = clock_segments(f.events)
    timed = {n: s for n, s in data.items() if np.isfinite(np.asarray(s.received_s)).all()}
    if len(timed) < len(data):
        notes.append("streams without arrival times stay in their own clocks: "
                     + ", ".join(sorted(set(data) - set(timed))))
    mapped, _ = sync_offline({n: (s.info, s.chunks()) for n, s in timed.items()}, segments=segments)
    for n in set(data) - set(timed):
        mapped[n] = (data[n].info, data[n].chunk)
    t0 = min(float(c.t[0]) for _, c in mapped.values() if c.n)

    streams = []
    for n, s in sorted(data.items()):
        info, c = mapped[n]
        streams.append({
            "name": n, "modality": info.modality.value, "channels": info.n_channels, "rate_hz": info.rate_hz,
            "samples": s.chunk.n, "lost": s.lost, "start_s": float(c.t[0]) - t0, "end_s": float(c.t[-1]) - t0,
            "device": info.metadata.get("device", info.source_id),
        })
    events = [e for e in f.events if e.get("kind") != "annotation"]
    annotations = [e for e in f.events if e.get("kind") == "annotation"]

    quality = {n: _quality(s.info, list(s.chunks())) for n, s in data.items()
               if s.info.modality is Modality.EMG and s.info.rate_hz > 0}

    sync_report, skipped, failed = report_from_recording(dict(data), None, segments)
    sync_text = summarize(sync_report)
    if failed:
        sync_text += f"\n  IMU<->pose: not aligned ({failed})"
    if skipped:
        sync_text += "\n  no arrival times (cannot check sync): " + ", ".join(skipped)
    sync_png = _png(plot_sync(sync_report, title=f"sync quality: {Path(f.path).name}"))

    envelopes, onsets = {}, {}
    for n, (info, c) in mapped.items():
        if info.modality is not Modality.EMG or info.rate_hz <= 0:
            continue
        envelopes[n] = (info, EmgChain(info.rate_hz).process(c))
        found = DoubleThreshold(info.rate_hz).detect(c)
        onsets[n] = {ch: found[i] for i, ch in enumerate(info.channels)}

    infos = [info for info, _ in mapped.values()]
    effort, pre, effort_note = _effort(mapped, infos)
    envelopes_png = _png(_plot_envelopes(envelopes, onsets, annotations, pre, t0)) if envelopes else None
    effort_png = _png(_plot_effort(effort, annotations, t0)) if effort else None

    calibration = {n: s.info.metadata["calibration"] for n, s in data.items()
                   if s.info.metadata.get("calibration")}
    return SessionReport(str(f.path), t0, streams, events, annotations, quality, sync_text, sync_png,
                         envelopes_png, onsets, effort, effort_note, effort_png, pre, calibration, notes)


# --------------------------------------------------------------------------- HTML
_CSS = """
body{font:14px/1.45 system-ui,sans-serif;color:#1d232a;max-width:1180px;margin:24px auto;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:32px;border-bottom:1px solid #d8dee4}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;margin:8px 0}
th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #eaeef2;vertical-align:top}
th{color:#57606a;font-weight:600}img{max-width:100%}.muted{color:#57606a}
.ok{color:#1a7f37}.warn{color:#9a6700}.bad{color:#cf222e}pre{background:#f6f8fa;padding:10px;overflow:auto}
"""


def _e(x: Any) -> str:
    return html.escape(str(x))


def _img(png: bytes | None, alt: str) -> str:
    if png is None:
        return f'<p class="muted">no figure: {_e(alt)}</p>'
    return f'<img alt="{_e(alt)}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _num(x: float, spec: str) -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "–"


def _table(head: list[str], rows: list[list[str]]) -> str:
    """An HTML table; cells are already-escaped HTML."""
    h = "".join(f"<th>{_e(c)}</th>" for c in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{h}</tr></thead><tbody>{body}</tbody></table>"


def _preactivation_rows(events) -> list[list[str]]:
    by: dict[str, list] = {}
    for ev in events:
        by.setdefault(ev.muscle, []).append(ev)
    rows = []
    for muscle, evs in sorted(by.items()):
        led = np.array([e.lead_ms for e in evs if e.kind == "led"])
        segs = sorted({e.segment for e in evs if e.kind == "led"})
        rows.append([
            _e(muscle), str(len(evs)), str(led.size),
            (f"{np.median(led):.0f} ({np.percentile(led, 25):.0f}–{np.percentile(led, 75):.0f})"
             if led.size else "–"),
            _e(", ".join(segs)) or "–",
            str(sum(e.kind == "anticipatory" for e in evs)),
            str(sum(e.kind == "already_moving" for e in evs)),
        ])
    return rows


def render_html(report: SessionReport, title: str | None = None) -> str:
    """The report as one self-contained HTML page (figures inlined as base64 PNG)."""
    name = Path(report.path).name
    title = title or f"wearsense session report: {name}"
    made = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{_e(title)}</h1><p class='muted'>{_e(report.path)} · {report.duration_s:.1f} s · "
             f"made {made} by wearsense</p>"]
    parts += [f"<p class='warn'>{_e(n)}</p>" for n in report.notes]

    parts.append("<h2>1. Streams and events</h2>")
    parts.append(_table(
        ["stream", "modality", "channels", "rate Hz", "samples", "lost", "from s", "to s", "device"],
        [[_e(s["name"]), _e(s["modality"]), str(s["channels"]), _num(s["rate_hz"], ".0f"), str(s["samples"]),
          str(s["lost"]), _num(s["start_s"], ".2f"), _num(s["end_s"], ".2f"), _e(s["device"])]
         for s in report.streams]))
    if report.events:
        parts.append(_table(["host s", "event", "message"],
                            [[_num(e.get("host_s", math.nan) - report.t0, ".2f"), _e(e["kind"]),
                              _e(e["message"])] for e in report.events]))
    else:
        parts.append("<p class='ok'>No device failed, went silent or jumped in time during the take.</p>")
    if report.annotations:
        parts.append("<p>Annotations:</p>" + _table(
            ["s", "label", "from"],
            [[_num(a["host_s"] - report.t0, ".2f"), _e(a["message"]),
              _e(a.get("source", a.get("device", "")))] for a in report.annotations]))

    parts.append("<h2>2. Signal quality (EMG)</h2>")
    for n, rows in report.quality.items():
        table = []
        for r in rows:
            flags = ", ".join(f"{f} {100 * v:.0f}%" for f, v in r["flags"].items()) or "none"
            cls = "ok" if not r["flags"] else ("bad" if max(r["flags"].values()) > 0.2 else "warn")
            table.append([_e(r["channel"]), _e(r["placement"]), _num(r["rms_uv"], ".1f"),
                          f"<span class='{cls}'>{_e(flags)}</span>", _e("; ".join(r["advice"]))])
        parts.append(f"<p>{_e(n)}: share of the judged time each problem was flagged "
                     "(QualityMonitor: 1 s windows every 0.25 s)</p>")
        parts.append(_table(["channel", "placement", "RMS µV", "flags", "what to do"], table))

    parts.append("<h2>3. Sync quality</h2>")
    parts.append(f"<pre>{_e(report.sync_text)}</pre>")
    parts.append(_img(report.sync_png, "sync quality"))

    parts.append("<h2>4. EMG envelopes and onsets</h2>")
    counts = ", ".join(f"{ch} {len(b)}" for per in report.onsets.values() for ch, b in per.items())
    parts.append(f"<p>Onsets per muscle: {_e(counts) or 'none'}.</p>")
    parts.append(_img(report.envelopes_png, "no EMG stream"))

    parts.append("<h2>5. Effort</h2>")
    if report.effort:
        from wearsense.effort import FACTORS

        rows = []
        for fct in FACTORS:
            v = report.effort[fct][report.effort[fct + "_available"]]
            rows.append([_e(fct), _num(float(np.nanmean(v)) if v.size else math.nan, "+.2f"),
                         _num(100 * float(np.mean(report.effort[fct + "_available"])), ".0f"),
                         _num(float(np.mean(report.effort[fct + "_confidence"])), ".2f"),
                         _e(", ".join(report.effort["_sensors"][fct])) or "–",
                         _e(report.effort["_notes"][fct])])
        parts.append(_table(["factor", "mean value", "available %", "mean confidence", "sensors", "how"],
                            rows))
        parts.append(_img(report.effort_png, "effort timeline"))
    else:
        parts.append(f"<p class='muted'>{_e(report.effort_note or 'no effort estimate')}</p>")

    parts.append("<h2>6. Pre-activation</h2>")
    if report.preactivation:
        parts.append(_table(["muscle", "onsets", "led motion", "lead ms median (IQR)", "segment moved",
                             "no local motion", "joint already moving"],
                            _preactivation_rows(report.preactivation)))
    else:
        parts.append("<p class='muted'>No pre-activation events (needs EMG and IMUs on the muscles' "
                     "segments).</p>")

    parts.append("<h2>7. Calibration profile</h2>")
    if report.calibration:
        for n, prof in report.calibration.items():
            parts.append(f"<p>{_e(n)}</p><pre>{_e(json.dumps(prof, indent=2, default=str))}</pre>")
    else:
        parts.append("<p class='muted'>No calibration profile was attached to any stream: the data are "
                     "raw (run <code>wearsense calibrate</code> before recording to attach one).</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(path: str | Path, out: str | Path | None = None, *, overwrite: bool = False) -> Path:
    """Build the report of ``path`` and write it as HTML to ``out`` (default: beside the
    recording, ``<name>.report.html``). Returns the path written."""
    path = Path(path)
    out = Path(out) if out is not None else path.with_suffix(".report.html")
    if out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"report {out}: the report is HTML; give a path ending in .html", "out")
    if not out.parent.is_dir():
        raise ConfigError(f"report {out}: folder {out.parent} does not exist; create it first", "out")
    if out.exists() and not overwrite:
        raise ConfigError(f"report {out} already exists; choose another name or pass --overwrite", "out")
    text = render_html(build_report(path))
    out.write_text(text, encoding="utf-8")
    return out

"""The sync-quality report: per stream offset, drift, jitter, loss, alignment and lead time.

:func:`build_report` collects what a :class:`~wearsense.sync.timeline.Timeline`, an
:class:`~wearsense.sync.align.Alignment` and :func:`~wearsense.sync.emd.measure_emd`
found; :func:`summarize` prints it as text (``wearsense info`` and
``wearsense sync-report`` call it) and :func:`plot` draws the figure a reviewer asks
(a matplotlib Figure; the library never chooses a plotting backend).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from typing import TYPE_CHECKING

import numpy as np

from wearsense.stream import Modality, StreamInfo
from wearsense.sync.align import Alignment, AlignmentError, align_imu_pose
from wearsense.sync.emd import MuscleLead
from wearsense.sync.timeline import Timeline, TimelineSettings, sync_offline, sync_stored

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["SyncReport", "build_report", "summarize", "plot"]


@dataclass(frozen=True)
class SyncReport:
    """Everything the sync layer can say about a session's timing.

    Attributes
    ----------
    streams : dict name -> dict
        ``Timeline.summary()`` rows: device, offset_s, drift_ppm, jitter_ms,
        jitter_sd_ms, link_latency_ms, samples, lost, loss, gaps, resets, wraps, span_s.
    gaps : dict name -> list of (start_s, end_s, n_missing)
    residuals : dict device -> (device_s, delay_s)
        Arrival delay above the fitted envelope, per minimum-filter bin.
    alignment : Alignment or None
    emd : dict muscle -> MuscleLead
    session_start_s : float
        Session-clock time of the first sample of any stream (s): the reference of the
        offsets at session start and of the gap times in the figure.
    alignment_note : str
        Why there is no alignment (empty when there is one, or nothing to align).
    """

    streams: dict[str, dict]
    gaps: dict[str, list[tuple[float, float, int]]]
    residuals: dict[str, tuple[np.ndarray, np.ndarray]]
    alignment: Alignment | None = None
    emd: dict[str, MuscleLead] = field(default_factory=dict)
    session_start_s: float = 0.0
    alignment_note: str = ""


def build_report(
    clock: Timeline,
    alignment: Alignment | None = None,
    emd: Mapping[str, MuscleLead] | None = None,
    alignment_note: str = "",
) -> SyncReport:
    """A :class:`SyncReport` from a trained session clock and optional alignment / lead results."""
    start = clock.start_s
    return SyncReport(
        streams=clock.summary(),
        gaps={n: list(st.gaps) for n, st in clock.streams.items()},
        residuals={k: m.residuals() for k, m in clock.clocks.items()},
        alignment=alignment,
        emd=dict(emd or {}),
        session_start_s=start if math.isfinite(start) else 0.0,
        alignment_note=alignment_note,
    )


def _fmt(x: float, spec: str) -> str:
    return format(x, spec) if isinstance(x, (int, float)) and math.isfinite(x) else "n/a"


def _for_alignment(info: StreamInfo) -> bool:
    return info.modality in (Modality.IMU, Modality.POSE)


def report_from_recording(
    source: Mapping[str, object],
    settings: TimelineSettings | None = None,
    segments: Mapping[str, Iterable[tuple]] | None = None,
) -> tuple[SyncReport, list[str], str]:
    """Fit the clocks of a recording's streams offline and try IMU⇄pose alignment.

    ``source`` maps stream names to either ``(StreamInfo, chunks with received_s)`` or
    stored streams as :class:`wearsense.io.xdf.XDFStream` holds them (``info``,
    ``chunk``, ``chunk_ends``, ``received_s``): those take :func:`sync_stored`'s
    vectorised path, which summarises an hour-long take in seconds. Only IMU and pose
    samples are mapped (for the alignment); every stream trains the clocks and is counted.
    ``segments``: the clock segments the recording noted
    (``wearsense.io.xdf.events.clock_segments(f.events)``), mapped each with its own fit.

    Returns the report, the streams left out because their chunks carry no arrival
    times, and why alignment failed (``""`` when it worked or there was nothing to align).
    """
    usable, stored, skipped = {}, {}, []
    for name, src in source.items():
        if hasattr(src, "chunk_ends"):
            arrival = np.asarray(src.received_s, dtype=np.float64)
            if getattr(src, "strings", None) is None and arrival.size and np.isfinite(arrival).all():
                stored[name] = src
            else:
                skipped.append(name)
            continue
        info, chunks = src
        chunks = list(chunks)
        if chunks and all(math.isfinite(c.received_s) for c in chunks):
            usable[name] = (info, chunks)
        else:
            skipped.append(name)
    if stored:
        out, sc = sync_stored(stored, settings, keep=_for_alignment, segments=segments)
        if usable:  # both kinds at once: unusual; fit the plain ones on their own
            more, sc2 = sync_offline(usable, settings, keep=_for_alignment, segments=segments)
            out.update(more)
            sc.clocks.update(sc2.clocks)
            sc.streams.update(sc2.streams)
    else:
        out, sc = sync_offline(usable, settings, keep=_for_alignment, segments=segments)
    alignment, failed = None, ""
    imus = [v for v in out.values() if v[0].modality == Modality.IMU]
    poses = [v for v in out.values() if v[0].modality == Modality.POSE]
    if imus and poses:
        try:
            alignment = align_imu_pose(imus, poses[0])
        except AlignmentError as e:
            failed = str(e)
    return build_report(sc, alignment, alignment_note=failed), sorted(skipped), failed


def summarize(
    source: SyncReport | Mapping[str, object],
    settings: TimelineSettings | None = None,
    counts: bool = True,
    segments: Mapping[str, Iterable[tuple]] | None = None,
) -> str:
    """The report as text.

    ``source`` is a :class:`SyncReport`, or a recording's streams as stored
    (``{name: (StreamInfo, chunks with received_s)}``, e.g. from
    ``XDFStream.chunks()``): then the clocks are fitted offline and IMU⇄pose alignment
    is tried. Streams whose chunks carry no arrival times are listed as such.
    ``counts=False`` leaves out lost samples and gaps (``wearsense info`` shows them in
    its file table, from the same sequence numbers).
    """
    if isinstance(source, SyncReport):
        report, note = source, ""
    else:
        report, skipped, failed = report_from_recording(source, settings, segments)
        note = "\n  no arrival times (cannot check sync): " + ", ".join(skipped) if skipped else ""
        if failed:
            note += f"\n  IMU<->pose: not aligned ({failed})"
    count_head = f" {'lost':>7} {'loss %':>7} {'gaps':>5}" if counts else ""
    lines = [
        "  offset: the device clock's reading at the session start (first sample of any stream)",
        f"  {'stream':<16} {'device':<18} {'offset s':>12} {'drift ppm':>10} {'jitter ms':>10} "
        f"{'link ms':>8}{count_head} {'resets':>6}",
    ]
    for name, r in report.streams.items():
        offset = r.get("start_offset_s", r["offset_s"])
        count = f" {r['lost']:>7} {100 * r['loss']:>7.2f} {r['gaps']:>5}" if counts else ""
        lines.append(
            f"  {name:<16} {r['device'][:18]:<18} {_fmt(offset, '12.6f')} {_fmt(r['drift_ppm'], '10.2f')} "
            f"{_fmt(r['jitter_ms'], '10.2f')} {_fmt(r['link_latency_ms'], '8.2f')}{count} {r['resets']:>6}"
        )
    a = report.alignment
    if a is not None:
        lines.append(
            f"  IMU<->pose ({a.method}): pose late by {a.lag_s * 1e3:.1f} ms "
            f"(95% CI {a.ci95_s[0] * 1e3:.1f}..{a.ci95_s[1] * 1e3:.1f} ms), confidence {a.confidence:.2f}, "
            f"r = {a.peak_corr:.2f}, {a.n_windows} windows"
        )
    for m, lead in report.emd.items():
        if lead.n:
            lines.append(
                f"  EMG lead {m:<22} {lead.lead_s * 1e3:6.1f} ms (95% CI {lead.ci95_s[0] * 1e3:.1f}.."
                f"{lead.ci95_s[1] * 1e3:.1f} ms, n={lead.n}, motion from {lead.imu})"
            )
    return "\n".join(lines) + note


def plot(report: SyncReport, title: str = "wearsense sync quality") -> Figure:
    """The report as a figure: arrival delays, gaps, IMU⇄pose correlation, EMG lead.

    Returns a :class:`matplotlib.figure.Figure` made without pyplot, so no plotting
    backend is chosen or changed (a notebook keeps its inline plots); save it with
    ``fig.savefig("sync.png")`` or show it where you like.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 7.5), layout="constrained")
    axes = fig.subplots(2, 2)
    ax = axes[0, 0]
    for dev, (d, r) in report.residuals.items():
        if d.size:
            ax.plot(d - d[0], r * 1e3, ".", ms=2, label=dev)
    ax.set(
        xlabel="device time since first packet (s)",
        ylabel="arrival − device time mapped to host (ms)",
        title="earliest arrival per bin (floor = link latency)",
    )
    if report.residuals and any(d.size for d, _ in report.residuals.values()):
        ax.legend(fontsize=7, markerscale=4)
    else:
        _note(ax, "no arrival times in this recording")
    ax = axes[0, 1]
    names = list(report.streams)
    t0 = report.session_start_s
    for k, name in enumerate(names):
        for a0, z0, n in report.gaps.get(name, []):
            ax.plot([a0 - t0, z0 - t0], [k, k], lw=6, solid_capstyle="butt", color="C3")
    ax.set_yticks(
        range(len(names)), [f"{n}\n{100 * report.streams[n]['loss']:.2f} % lost" for n in names], fontsize=7
    )
    ax.set_ylim(-0.5, len(names) - 0.5)
    ends = [r["last_s"] - t0 for r in report.streams.values() if math.isfinite(r.get("last_s", math.nan))]
    if ends:
        ax.set_xlim(0.0, max(max(ends), 1e-3))
    if not any(report.gaps.get(n) for n in names):
        ax.text(
            0.5, 0.5, "no gaps", transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.35"
        )
    ax.set(xlabel="time since session start (s)", title="gaps (marked, not filled)")
    ax = axes[1, 0]
    a = report.alignment
    if a is not None:
        ax.plot(a.lags_s * 1e3, a.corr)
        ax.axvline(a.lag_s * 1e3, color="C3")
        ax.axvspan(a.ci95_s[0] * 1e3, a.ci95_s[1] * 1e3, color="C3", alpha=0.2)
        ax.set_title(f"IMU<->pose: pose late by {a.lag_s * 1e3:.1f} ms, confidence {a.confidence:.2f}")
    else:
        ax.set_title("IMU<->pose: not measured")
        _note(ax, report.alignment_note or "needs IMU and pose streams")
    ax.set(xlabel="lag of pose (ms)", ylabel="pooled correlation")
    ax = axes[1, 1]
    leads = [lead for lead in report.emd.values() if lead.n]
    if leads:
        y = np.arange(len(leads))
        mid = np.array([lead.lead_s for lead in leads]) * 1e3
        lo = mid - np.array([lead.ci95_s[0] for lead in leads]) * 1e3
        hi = np.array([lead.ci95_s[1] for lead in leads]) * 1e3 - mid
        ax.errorbar(mid, y, xerr=[lo, hi], fmt="o", capsize=3)
        ax.set_yticks(y, [f"{lead.muscle} (n={lead.n})" for lead in leads], fontsize=7)
    else:
        _note(
            ax,
            "not measured here: needs EMG onsets and IMU motion of the muscles' segments "
            "(wearsense.sync.emd.measure_emd)",
        )
    ax.set(xlabel="EMG onset lead over motion onset (ms)", title="electromechanical delay, 95% CI")
    fig.suptitle(title)
    return fig


def _note(ax, text: str) -> None:
    """Say in an empty panel why it is empty."""
    import textwrap

    text = "\n".join(textwrap.fill(line, 55) for line in text.splitlines())
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=9, color="0.35")
    ax.set_xticks([])
    ax.set_yticks([])

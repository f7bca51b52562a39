"""``wearsense info session.xdf``: what a recording holds.

Per stream: modality, channels, samples, duration, nominal and effective rate, gaps and
lost samples (from the sequence numbers: the one accounting, the sync layer's too), and
clock jumps (clock segments recorded, time steps that no lost sample explains);
and whether the file closed cleanly (footers present) or needs ``wearsense repair``.
Then the sync quality (:func:`wearsense.sync.report.summarize`): each device's clock
offset, drift and jitter fitted from the stored arrival times, and the IMU⇄pose lag
when both are present (``--no-sync`` skips it).

Only the IMU and pose samples are read (the alignment needs them; with ``--no-sync``
none): the rest is timestamps, sequence numbers and arrivals, read a window at a
time (:func:`wearsense.io.xdf.load` with ``values``), so an hour-long take summarises
in memory well under the file's size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wearsense.errors import WearsenseError
from wearsense.io.xdf import XDFFile, load
from wearsense.stream import Modality, StreamInfo, sequence_gaps

NAME = "info"
HELP = "summarise a recorded XDF file: streams, durations, rates, gaps, loss"


def add_arguments(parser) -> None:
    parser.add_argument("path", type=Path, help="the .xdf file")
    parser.add_argument("--no-sync", action="store_true", help="skip the sync-quality section")


def summarise(f: XDFFile) -> list[dict]:
    """One dict per stream: name, modality, channels, samples, duration_s, rates, gaps, lost, jumps.

    ``gaps`` and ``lost`` come from the sequence numbers (:func:`wearsense.stream.sequence_gaps`,
    the accounting the sync layer uses too): a gap is samples missing. ``jumps`` counts the
    stream's clock segments (``clock_segment`` events: a device clock that jumped or
    restarted) and any step in time that no missing sample explains (more than two
    sample periods off what the sequence numbers say).
    """
    segments: dict[str, list[float]] = {}  # stream -> t of the first sample of each new clock segment
    for e in f.events:
        if e.get("kind") == "clock_segment" and e.get("stream"):
            segments.setdefault(e["stream"], []).append(float(e.get("t", np.nan)))
    rows = []
    for name, s in f.streams.items():
        c = s.chunk
        dur = c.duration_s
        eff = (c.n - 1) / dur if c.n > 1 and dur > 0 else 0.0
        idx, missing = sequence_gaps(c.seq)
        starts = np.asarray(segments.get(name, []))
        steps = 0
        if s.info.rate_hz > 0 and c.n > 1:
            at = _time_steps(c.t, c.seq, s.info.rate_hz)
            # a step where a recorded segment starts is that segment, not another jump
            steps = int(np.count_nonzero([not np.any(np.abs(starts - c.t[i + 1]) < 1e-6) for i in at]))
        lost = int(missing.sum())
        rows.append(
            dict(
                name=name,
                modality=s.info.modality.value,
                channels=s.info.n_channels,
                samples=c.n,
                duration_s=dur,
                rate_hz=s.info.rate_hz,
                effective_hz=eff,
                gaps=int(idx.size),
                lost=lost,
                loss_pct=100.0 * lost / (c.n + lost) if c.n + lost else 0.0,
                jumps=starts.size + steps,
                chunks=len(s.chunk_ends),
                clock=c.clock,
                footer=s.footer is not None,
            )
        )
    return rows


def _time_steps(t: np.ndarray, seq: np.ndarray, rate_hz: float, block: int = 1 << 20) -> np.ndarray:
    """Indices i where t[i + 1] - t[i] is more than two periods off what the sequence numbers
    say ((seq[i + 1] - seq[i]) / rate_hz), a block of samples at a time (no hour-long temporaries)."""
    found = [np.empty(0, np.int64)]
    for a in range(0, len(t) - 1, block):
        z = min(a + block, len(t) - 1) + 1
        expected = np.diff(seq[a:z]) / rate_hz
        found.append(a + np.flatnonzero(np.abs(np.diff(t[a:z]) - expected) > 2.0 / rate_hz))
    return np.concatenate(found)


def describe_events(f: XDFFile) -> list[str]:
    """Lines for the take's events (``wearsense-events``: failures, silences, resets, clock
    segments), each at host seconds since the first chunk arrived."""
    if not f.events:
        return []
    arrivals = [s.received_s[np.isfinite(s.received_s)] for s in f.streams.values()]
    firsts = [a.min() for a in arrivals if a.size]
    t0 = min(firsts) if firsts else f.events[0]["host_s"]
    events = sorted(f.events, key=lambda e: e["host_s"])
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
    lines = ["events during the take: " + ", ".join(f"{n} {k}" for k, n in kinds.items())]
    for e in events:
        where = e.get("stream") or (e.get("device") if e["kind"] != "device_failed" else "")
        where = f" [{where}]" if where else ""
        lines.append(f"  {e['host_s'] - t0:+8.2f} s  {e['kind']:<14}{where} {e['message']}")
    return lines


def _aligned(info: StreamInfo) -> bool:
    """The streams whose samples the sync section's IMU⇄pose alignment reads."""
    return info.modality in (Modality.IMU, Modality.POSE)


def run(args) -> int:
    f = load(args.path, recover=True, values=False if args.no_sync else _aligned)
    print(f"{f.path}: {f.size_bytes / 1e6:.2f} MB, writer {f.writer or 'unknown'}")
    if f.bad_regions:
        lost_bytes = sum(b - a for a, b in f.bad_regions)
        print(
            f"  DAMAGED: {lost_bytes} bytes unreadable (first at byte {f.bad_regions[0][0]}); "
            f"run 'wearsense repair {f.path}'"
        )
    elif not f.closed_cleanly:
        print(
            f"  not closed cleanly (no stream footers: the recorder was killed?); "
            f"'wearsense repair {f.path}' adds them"
        )
    print(
        f"  {'stream':<20} {'type':<7} {'ch':>3} {'samples':>9} {'dur s':>8} {'nominal':>8} "
        f"{'eff. Hz':>9} {'gaps':>5} {'lost':>7} {'loss %':>7} {'jumps':>5}  clock"
    )
    for r in summarise(f):
        print(
            f"  {r['name']:<20} {r['modality']:<7} {r['channels']:>3} {r['samples']:>9} "
            f"{r['duration_s']:>8.2f} {r['rate_hz']:>8.1f} {r['effective_hz']:>9.2f} {r['gaps']:>5} "
            f"{r['lost']:>7} {r['loss_pct']:>7.2f} {r['jumps']:>5}  {r['clock']}"
        )
    for name, s in f.streams.items():
        cal = s.info.metadata.get("calibration")
        if isinstance(cal, dict):
            kinds = [k for k in ("gyro", "accel", "mag", "emg", "segment", "sync") if k in cal]
            print(
                f"  {name}: recorded with calibration profile of {cal.get('serial')} "
                f"(updated {cal.get('updated')}: {', '.join(kinds)}); the samples are raw"
            )
    for line in describe_events(f):
        print(line)
    if not args.no_sync:
        from wearsense.sync.report import summarize

        print(
            "sync quality (clocks fitted from arrival times; gaps and loss as above; "
            "'wearsense sync-report --png' draws it):"
        )
        try:
            from wearsense.io.xdf.events import clock_segments

            print(summarize(dict(f.streams), counts=False, segments=clock_segments(f.events)))
        except WearsenseError as e:
            print(f"  not available: {e}")
    return 0

"""The web dashboard: a local page fed over WebSocket with decimated frames.

``wearsense dashboard sim://mover`` opens the devices (through
:class:`~wearsense.recording.Recording`, which also records them with ``--record``),
and serves one page and one WebSocket on the same port (the ``websockets`` package;
nothing is fetched from the internet: the page, its script and its style sheet are
package data in ``wearsense/live/dashboard/static``).

What goes over the wire (JSON text frames, ``frame_hz`` of them per second, 60 by
default):

- EMG: per channel, the band-passed signal (causal 20-450 Hz,
  :class:`~wearsense.dsp.EmgChain`) as min/max pairs over bins of ``1 / bin_hz`` s
  (250 bins/s by default: 8 samples per bin at 2 kHz), so every spike shows without
  aliasing; the 100 ms RMS level and the quality flags of each channel; the running
  sample count;
- the newest pose frame (keypoints, m), the newest IMU orientation (tilt and heading,
  deg), effort factors, new pre-activation events, stream health, and a model's
  prediction and surprise when one runs;
- for display latency: ``sent_wall_ms`` (host wall clock when the frame was sent) and
  ``wait_ms`` (host time from the arrival of the oldest chunk in the frame to the
  send). The page adds the time from the send to the next ``requestAnimationFrame``
  that paints it (browser and host clocks reconciled by ping/pong) and reports the
  arrival->paint latency (p50/p99).

From the page: ``annotate`` messages (the buttons) become ``annotation`` rows of the
recording's ``wearsense-events`` marker stream (:meth:`~wearsense.io.xdf.Recorder.write_event`,
host ``time.monotonic()`` stamps) when recording; ``ping`` messages are answered with
the host wall clock.

Access: bound to 127.0.0.1 unless ``host`` says otherwise. On any other address a
token is required (generated when not given, part of the printed URL); every request
without it (page, script, socket, stats) is refused with 403. A WebSocket whose
``Origin`` is another site is refused too, so a page elsewhere in the same browser
cannot read the stream.
"""

from __future__ import annotations

import asyncio
import errno
import hmac
import ipaddress
import json
import logging
import math
import secrets
import socket
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import numpy as np

from wearsense.dsp import EmgChain, EmgChainSettings
from wearsense.errors import ConfigError
from wearsense.live.monitor import SKELETON, LiveMonitor
from wearsense.stream import Chunk, Modality, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["DashboardSettings", "DashboardStats", "DashboardResult", "FrameBuilder", "Dashboard",
           "run_dashboard", "is_loopback"]

#: Static files the page is made of: name -> content type.
STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "style.css": "text/css; charset=utf-8"}
#: The GIL switch interval (s) while a dashboard serves (see run_dashboard).
GIL_SWITCH_S = 0.001
#: Annotation buttons shown when no labels are given.
DEFAULT_LABELS = ("mark", "start", "end")


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class DashboardSettings:
    """How the dashboard serves.

    Attributes
    ----------
    host : str
        Address to bind; ``127.0.0.1`` (this machine only) by default.
    port : int
        TCP port; 0 picks a free one (the URL says which).
    token : str or None
        Access token; required (generated if None) when ``host`` is not a loopback
        address; optional otherwise (then requests must carry it too).
    frame_hz : float
        Frames sent per second (10-120).
    bin_hz : float
        EMG min/max bins per second (50-2000; at most the EMG rate).
    labels : tuple of str
        Annotation buttons on the page.
    """

    host: str = "127.0.0.1"
    port: int = 8765
    token: str | None = None
    frame_hz: float = 60.0
    bin_hz: float = 250.0
    labels: tuple[str, ...] = DEFAULT_LABELS

    def __post_init__(self) -> None:
        if not 10 <= self.frame_hz <= 120:
            raise ConfigError(f"frame_hz must lie in 10..120 Hz, got {self.frame_hz}", "frame_hz")
        if not 50 <= self.bin_hz <= 2000:
            raise ConfigError(f"bin_hz must lie in 50..2000 bins/s, got {self.bin_hz}", "bin_hz")
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"port must lie in 0..65535, got {self.port}", "port")
        if self.token is not None and len(self.token) < 8:
            raise ConfigError("the access token must have at least 8 characters", "token")
        if not self.labels or any(not lab.strip() for lab in self.labels):
            raise ConfigError(f"annotation labels must be non-empty words, got {list(self.labels)}", "labels")

    @property
    def needs_token(self) -> bool:
        return not is_loopback(self.host) or self.token is not None

    def resolved(self) -> DashboardSettings:
        """These settings with a generated token where one is required and none was given."""
        if self.token is None and not is_loopback(self.host):
            from dataclasses import replace

            return replace(self, token=secrets.token_urlsafe(16))
        return self


class _MinMax:
    """Causal band-pass, then min/max over bins of ``bin_len`` samples (state kept across chunks)."""

    def __init__(self, info: StreamInfo, bin_hz: float) -> None:
        self.info = info
        self.filter = EmgChain(info.rate_hz, EmgChainSettings(notch=None, rectify=False, envelope=None))
        self.bin_len = max(1, int(round(info.rate_hz / bin_hz)))
        self._carry = np.zeros((0, info.n_channels))
        self._lo: list[np.ndarray] = []
        self._hi: list[np.ndarray] = []
        self.samples = 0

    def push(self, chunk: Chunk) -> None:
        x = self.filter.process(chunk).data.astype(np.float64)
        self.samples += chunk.n
        if self._carry.size:
            x = np.vstack([self._carry, x])
        n = (x.shape[0] // self.bin_len) * self.bin_len
        if n:
            b = x[:n].reshape(-1, self.bin_len, x.shape[1])
            self._lo.append(b.min(axis=1))
            self._hi.append(b.max(axis=1))
        self._carry = x[n:]

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The bins completed since the last call: (min, max), each bins x channels (V)."""
        if not self._lo:
            z = np.zeros((0, self.info.n_channels))
            return z, z
        lo, hi = np.vstack(self._lo), np.vstack(self._hi)
        self._lo, self._hi = [], []
        return lo, hi


def _r(x: float | None, nd: int = 1) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), nd)


class FrameBuilder:
    """Turns what arrived since the last frame into one JSON-able frame (see the module docstring)."""

    def __init__(self, monitor: LiveMonitor, settings: DashboardSettings) -> None:
        self.monitor = monitor
        self.settings = settings
        self.traces: dict[str, _MinMax] = {}
        self._oldest = math.inf  # host arrival of the oldest chunk not yet sent (s)
        self._newest = -math.inf
        self._events_sent = 0
        self.seq = 0

    def push(self, info: StreamInfo, chunk: Chunk) -> None:
        if chunk.n == 0:
            return
        if info.modality is Modality.EMG and info.rate_hz > 0:
            tr = self.traces.get(info.name)
            if tr is None:
                tr = self.traces[info.name] = _MinMax(info, self.settings.bin_hz)
            tr.push(chunk)
        if math.isfinite(chunk.received_s):
            self._oldest = min(self._oldest, chunk.received_s)
            self._newest = max(self._newest, chunk.received_s)

    def hello(self, recording: str | None) -> dict[str, Any]:
        return {
            "type": "hello", "frame_hz": self.settings.frame_hz, "bin_hz": self.settings.bin_hz,
            "bones": [list(b) for b in SKELETON], "labels": list(self.settings.labels),
            "recording": recording,
        }

    def frame(self, now_s: float) -> dict[str, Any]:
        """The frame to send now (host monotonic ``now_s``); resets the arrival window."""
        m = self.monitor
        self.seq += 1
        emg = []
        levels = m.emg_levels()
        for name, tr in sorted(self.traces.items()):
            lo, hi = tr.take()
            rows = levels.get(name, [])
            emg.append({
                "stream": name, "labels": list(tr.info.channels), "rate_hz": tr.info.rate_hz,
                "samples": tr.samples,
                "min_uv": np.round(lo.T * 1e6, 1).tolist(), "max_uv": np.round(hi.T * 1e6, 1).tolist(),
                "level_uv": [_r(r["level_v"] * 1e6 if r["level_v"] is not None else None) for r in rows],
                "flags": [r["flags"] for r in rows],
            })
        pose = None
        if m.pose is not None:
            pose = {"stream": m.pose.stream, "age_ms": _r((now_s - m.pose.received_s) * 1e3),
                    "keypoints": {k: [_r(c, 3) for c in v] for k, v in m.pose.keypoints.items()}}
        imu = []
        for name, o in sorted(m.orientation.items()):
            info = m.infos.get(name)
            imu.append({"stream": name, "segment": info.metadata.get("segment", "") if info else "",
                        "tilt_deg": _r(o.tilt_deg), "heading_deg": _r(o.heading_deg), "flags": list(o.flags)})
        events = list(m.events)
        new_events = events[max(0, len(events) - (m.events_total - self._events_sent)):] \
            if m.events_total > self._events_sent else []
        self._events_sent = m.events_total
        pred = None
        if m.prediction is not None:
            p = m.prediction
            pred = {"horizon_ms": p.horizon_ms, "surprise": _r(p.surprise, 3),
                    "keypoints": ({k: [_r(c, 3) for c in v] for k, v in p.keypoints.items()}
                                  if p.keypoints else None),
                    "angles": {k: _r(v) for k, v in p.angles.items()}}
        wait_ms = (now_s - self._oldest) * 1e3 if math.isfinite(self._oldest) else None
        if wait_ms is not None and not -1e3 < wait_ms < 60e3:  # arrival times in another clock
            wait_ms = None
        self._oldest, self._newest = math.inf, -math.inf
        return {
            "type": "frame", "seq": self.seq, "sent_wall_ms": time.time() * 1e3, "wait_ms": _r(wait_ms, 2),
            "emg": emg, "pose": pose, "imu": imu, "effort": m.effort_rows(), "effort_note": m.effort_note,
            "events": [m.describe_event(e) for e in new_events], "health": m.health(), "prediction": pred,
        }


@dataclass
class DashboardStats:
    """What the server did (``/stats`` returns it as JSON)."""

    started_wall_s: float = field(default_factory=time.monotonic)
    started_cpu_s: float = field(default_factory=time.process_time)
    frames: int = 0
    dropped: int = 0  # frames not sent to a client whose socket buffer was full
    bytes_sent: int = 0
    annotations: int = 0
    clients: int = 0
    chunks: int = 0
    work_s: float = 0.0  # host time spent handling chunks and building/encoding frames

    def as_dict(self) -> dict[str, Any]:
        wall = time.monotonic() - self.started_wall_s
        cpu = time.process_time() - self.started_cpu_s
        return {
            "wall_s": wall, "cpu_s": cpu, "cpu_fraction": cpu / wall if wall > 0 else None,
            "work_fraction": self.work_s / wall if wall > 0 else None, "frames": self.frames,
            "dropped": self.dropped, "bytes_sent": self.bytes_sent, "annotations": self.annotations,
            "clients": self.clients, "chunks": self.chunks,
        }


def _static(name: str) -> bytes:
    return resources.files("wearsense.live.dashboard").joinpath("static", name).read_bytes()


class Dashboard:
    """The server side: HTTP for the page, WebSocket for the frames and annotations.

    Parameters
    ----------
    monitor : LiveMonitor
    settings : DashboardSettings
        Already :meth:`~DashboardSettings.resolved`.
    annotate : callable, optional
        ``annotate(label, host_s) -> str``: writes an annotation (into the recording);
        None when not recording (the page's buttons then say so).
    recording : str, optional
        The file being recorded, shown on the page.
    """

    def __init__(self, monitor: LiveMonitor, settings: DashboardSettings,
                 annotate: Callable[[str, float], str] | None = None, recording: str | None = None) -> None:
        self.monitor = monitor
        self.settings = settings
        self.builder = FrameBuilder(monitor, settings)
        self.annotate = annotate
        self.recording = recording
        self.stats = DashboardStats()
        self.clients: set = set()
        self.port: int | None = None
        self.last_sent_s = -math.inf  # host monotonic time the last frame went out
        self.next_due_s = -math.inf  # host monotonic time the next frame is due

    # -- HTTP ---------------------------------------------------------------------------
    def _authorised(self, query: dict[str, list[str]]) -> bool:
        if not self.settings.needs_token:
            return True
        given = query.get("token", [""])[0]
        return hmac.compare_digest(given.encode(), (self.settings.token or "").encode())

    def _respond(self, status: int, body: bytes, ctype: str):
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        reasons = {200: "OK", 403: "Forbidden", 404: "Not Found"}
        headers = Headers([("Content-Type", ctype), ("Content-Length", str(len(body))),
                           ("Cache-Control", "no-store"), ("X-Content-Type-Options", "nosniff")])
        return Response(status, reasons.get(status, "Error"), headers, body)

    def process_request(self, connection, request):
        """Serve the page, its files and ``/stats``; let ``/ws`` through to the WebSocket."""
        parts = urlsplit(request.path)
        query = parse_qs(parts.query)
        if not self._authorised(query):
            log.info("dashboard: refused %s without a valid token", parts.path)
            return self._respond(403, b"403 Forbidden: this dashboard needs its token: open the URL it "
                                 b"printed (with ?token=...)\n", "text/plain; charset=utf-8")
        path = parts.path.lstrip("/") or "index.html"
        if path == "ws":
            origin = request.headers.get("Origin")
            host = request.headers.get("Host", "")
            if origin is not None and urlsplit(origin).netloc != host:
                return self._respond(403, b"403 Forbidden: WebSocket from another site\n", "text/plain")
            return None
        if path == "stats":
            return self._respond(200, json.dumps(self.stats.as_dict()).encode(), "application/json")
        if path in STATIC:
            body = _static(path)
            if path == "index.html":
                q = f"?token={self.settings.token}" if self.settings.needs_token else ""
                body = body.replace(b"__QUERY__", q.encode())
            return self._respond(200, body, STATIC[path])
        return self._respond(404, b"404 Not Found\n", "text/plain")

    # -- WebSocket ----------------------------------------------------------------------
    async def handler(self, connection) -> None:
        self.clients.add(connection)
        self.stats.clients = len(self.clients)
        try:
            await connection.send(json.dumps(self.builder.hello(self.recording)))
            async for message in connection:
                reply = self._on_message(message)
                if reply is not None:
                    await connection.send(json.dumps(reply))
        except Exception as e:  # noqa: BLE001 - a client that goes away is not an error of the server
            log.info("dashboard: client closed: %s", e)
        finally:
            self.clients.discard(connection)
            self.stats.clients = len(self.clients)

    def _on_message(self, message: str | bytes) -> dict[str, Any] | None:
        try:
            msg = json.loads(message)
        except (ValueError, TypeError):
            return {"type": "error", "message": "messages are JSON objects"}
        if not isinstance(msg, dict):
            return {"type": "error", "message": "messages are JSON objects"}
        kind = msg.get("type")
        if kind == "ping":
            return {"type": "pong", "client_ms": msg.get("client_ms"), "server_ms": time.time() * 1e3}
        if kind == "annotate":
            label = str(msg.get("label", "")).strip()[:200]
            if not label:
                return {"type": "annotated", "ok": False, "message": "empty label"}
            if self.annotate is None:
                return {"type": "annotated", "ok": False, "label": label,
                        "message": "not recording: start the dashboard with --record session.xdf"}
            host_s = time.monotonic()
            self.annotate(label, host_s)
            self.stats.annotations += 1
            return {"type": "annotated", "ok": True, "label": label, "host_s": host_s}
        return {"type": "error", "message": f"unknown message type {kind!r}; known: ping, annotate"}

    def push(self, info: StreamInfo, chunk: Chunk) -> None:
        """One chunk from the devices (after the monitor has seen it)."""
        self.stats.chunks += 1
        self.builder.push(info, chunk)

    def send_frame(self) -> None:
        """Build one frame, encode it once and send it to every client whose socket keeps up.

        Never waits: the text goes into each client's transport buffer; a client with
        more than 1 MiB unsent (a stalled page) misses the frame (counted in ``dropped``).
        """
        t0 = time.perf_counter()
        now = self.last_sent_s = time.monotonic()
        period = 1.0 / self.settings.frame_hz
        # the next frame is due one period after this one was due (a steady frame_hz), or one
        # period from now when this one came more than a period late (no burst to catch up)
        self.next_due_s = self.next_due_s + period if now - self.next_due_s < period else now + period
        frame = self.builder.frame(now)
        if self.clients:
            text = json.dumps(frame, separators=(",", ":"), allow_nan=False)
            for c in list(self.clients):
                transport = getattr(c, "transport", None)
                if transport is not None and transport.get_write_buffer_size() > 1 << 20:
                    self.stats.dropped += 1
                    continue
                self._send_now(c, text)
            self.stats.bytes_sent += len(text) * len(self.clients)
        self.stats.frames += 1
        self.stats.work_s += time.perf_counter() - t0

    def frame_due(self, now_s: float | None = None) -> bool:
        """Whether the next frame is due (frames go out ``frame_hz`` times a second)."""
        now_s = time.monotonic() if now_s is None else now_s
        return now_s >= self.next_due_s

    @staticmethod
    def _send_now(connection, text: str) -> None:
        from websockets.asyncio.server import broadcast

        broadcast([connection], text)

    async def tick(self, stop: asyncio.Event) -> None:
        """Send a frame every ``1 / frame_hz`` s. The chunk pump also sends one as soon as
        a chunk arrives when a frame is due, so a frame never waits for a run of queued
        chunks to be handled first; this loop covers the times no chunk comes."""
        while not stop.is_set():
            if self.frame_due():
                self.send_frame()
            await asyncio.sleep(max(0.0, self.next_due_s - time.monotonic()))

    def url(self) -> str:
        host = self.settings.host
        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        if ":" in shown:
            shown = f"[{shown}]"
        q = f"/?token={self.settings.token}" if self.settings.needs_token else "/"
        return f"http://{shown}:{self.port}{q}"


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket, or an error that says which port is taken and what to do."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {port} on {host} is in use (another dashboard?); choose another with "
                              "--port, or --port 0 for any free one", "port") from None
        if e.errno == errno.EADDRNOTAVAIL or isinstance(e, socket.gaierror):
            raise ConfigError(f"cannot serve on {host!r}: not an address of this machine; use 127.0.0.1 "
                              "(this machine only) or 0.0.0.0 (every network)", "host") from None
        raise


@dataclass(frozen=True)
class DashboardResult:
    """How a dashboard session ended."""

    url: str
    stats: dict[str, Any]
    recording: Any  # RecordingResult-like counters, or None
    failures: tuple = ()


async def run_dashboard(
    uris: Sequence[str],
    *,
    settings: DashboardSettings = DashboardSettings(),
    record: str | Path | None = None,
    overwrite: bool = False,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[str], None] | None = None,
    monitor: LiveMonitor | None = None,
    on_chunk: Callable[[StreamInfo, Chunk], None] | None = None,
) -> DashboardResult:
    """Open the devices, serve the dashboard until ``duration_s`` passes, ``stop`` is set
    or every device has ended; returns what the server did.

    ``on_ready(url)`` is called once the server listens (the URL carries the token when
    one is required). ``on_chunk`` sees every chunk after the monitor (a publisher).
    """
    from websockets.asyncio.server import serve

    from wearsense.recording import Recording

    settings = settings.resolved()
    monitor = monitor or LiveMonitor()
    # The monitor's worker thread (effort, pre-activation, a model) runs Python for tens of
    # ms at a time; each time the event loop's thread gives up the GIL (every socket call)
    # it waits up to the switch interval (5 ms by default) to get it back. 1 ms bounds
    # that wait for the frames; restored on the way out.
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(min(switch_interval, GIL_SWITCH_S))
    try:
        stop = stop or asyncio.Event()
        rec = Recording(list(uris), record, overwrite=overwrite)

        def annotate(label: str, host_s: float) -> str:
            return rec.recorder.write_event("annotation", label, device="dashboard", host_s=host_s,
                                            source="dashboard")

        dash = Dashboard(monitor, settings, annotate if record is not None else None)
        # the port is taken before any device opens or any file is made: a port in use costs nothing
        sock = _listen(settings.host, settings.port)
        async with serve(dash.handler, sock=sock, process_request=dash.process_request, compression=None,
                         max_size=1 << 16) as server:
            dash.port = server.sockets[0].getsockname()[1]
            async with rec:
                monitor.start(rec.streams)
                dash.recording = str(rec.recorder.path) if rec.recorder is not None else None
                if on_ready is not None:
                    on_ready(dash.url())

                async def pump() -> None:
                    n = 0
                    async for info, chunk in rec:
                        if stop.is_set():  # (Python 3.11's wait_for can swallow a cancel: do not rely on it)
                            break
                        t0 = time.perf_counter()
                        monitor.update(info, chunk)
                        dash.push(info, chunk)
                        if on_chunk is not None:
                            on_chunk(info, chunk)
                        dash.stats.work_s += time.perf_counter() - t0
                        if dash.frame_due():
                            dash.send_frame()
                        n += 1
                        if n % 32 == 0:  # a never-empty queue never suspends: let frames and Ctrl-C in
                            await asyncio.sleep(0)

                ticker = asyncio.create_task(dash.tick(stop))
                pumping = asyncio.create_task(pump())
                stopping = asyncio.create_task(stop.wait())
                try:
                    await asyncio.wait({pumping, stopping}, timeout=duration_s,
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stop.set()
                    for task in (ticker, pumping, stopping):
                        task.cancel()
                    outcomes = await asyncio.gather(ticker, pumping, stopping, return_exceptions=True)
                    dash.send_frame()  # the last chunks
                failed = next((o for o in outcomes if isinstance(o, Exception)), None)
                if failed is not None:
                    raise failed
    finally:
        sys.setswitchinterval(switch_interval)
    return DashboardResult(dash.url(), dash.stats.as_dict(), rec.state, tuple(rec.failures))

"""``serial://`` — a microcontroller speaking the firmware_bridge protocol over a serial port.

::

    async with open_device("serial:///dev/ttyUSB0?baud=921600&sync_interval_s=1") as dev:
        async for info, chunk in dev:
            ...

This module is the protocol session: HELLO, commands and their ACKs, TIME_SYNC,
and turning DATA frames into chunks. The bytes come from
:class:`~wearsense.devices.serial_transport.SerialTransport` (the port, its reader
thread and reopening it), so the event loop never blocks. Bytes are decoded many
frames at a time (:mod:`wearsense.bridge`: one compiled COBS+CRC pass, then numpy
gathers; no Python loop per sample).

What the chunks carry
---------------------
- ``t``: the device's own clock in seconds (clock ``"device:<serial>"``): the frame
  timestamp (µs, 32-bit counters unwrapped) plus ``index x period`` for the samples
  after the first, plus the offset of the current clock segment (below; 0 until the
  device's clock jumps or restarts). Nothing else is corrected; the sync layer maps
  this clock to the host with the ``(host_send_s, device_s, host_recv_s)`` triples in
  :attr:`SerialDevice.state` ``.time_sync``.
- ``seq``: the device's sample counter (32-bit, unwrapped); a gap is lost samples
  (counted in ``state.lost_samples``).
- ``received_s``: host ``time.monotonic()`` when the bytes of the chunk's last frame
  were read.

Clock segments: a device clock never ends the stream. When the device resets (a
HELLO with a new boot id, or a board that reuses its boot id: a HELLO and then
sequence numbers and time that start over), its clock and counters start over; the
driver continues ``seq`` after the last one and ``t`` after the last sample by the
host time that passed between their arrivals (the offsets are listed in
``state.epochs``), and sends START again. When a frame's timestamp is off from the
previous frame's plus ``seq`` difference x period by more than ``jump_tolerance_us``
(a clock that jumped back or forward), the samples from that frame on are shifted by
the jump, so ``t`` continues by the sampling clock. Each new segment is reported as
a ``clock_segment`` :class:`~wearsense.devices.base.DeviceEvent` (stream, first
sample's ``t``, ``offset_s`` = ``t`` minus the device's reading, ``step_s``), resets as
``reset``, lost and reopened ports as ``disconnect``/``reconnect``; the recording
writes them into the file. When the port disappears the driver reopens it (same
path) until ``reconnect_timeout_s``; the samples missed meanwhile are a seq gap.
Corrupted frames are skipped and counted in ``state.frames_bad``; they never end the
stream.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from wearsense import bridge as wb
from wearsense.devices.base import Device, DeviceEvent, Param
from wearsense.devices.serial_transport import SerialTransport
from wearsense.errors import DeviceError
from wearsense.stream import Chunk, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["BridgeState", "SerialDevice", "SerialSettings"]


@dataclass(frozen=True)
class SerialSettings:
    """Settings of one ``serial://`` device (from the URI query).

    Parameters
    ----------
    port : str
        Serial port path (``/dev/ttyUSB0``, ``COM3``, or a pty / symlink).
    baud : int
        Baud rate (bits/s); ignored by USB CDC devices and ptys.
    sync_interval_s : float
        Seconds between TIME_SYNC pings; 0 disables them.
    reconnect_timeout_s : float
        How long to keep reopening a port that disappeared; 0 = fail at once.
    hello_timeout_s : float
        How long to wait for the device's HELLO when opening.
    batch_s : float
        Seconds of data decoded at once (latency vs host CPU).
    start : bool
        Send START after the HELLO (else the device streams when told elsewhere).
    duration_s : float
        End the iteration after this many host seconds; 0 = until closed.
    name : str
        Prefix of the stream names; default the device serial number.
    jump_tolerance_us : float
        A frame timestamp further than this (plus 200 ppm of the gap) from where the
        previous frame and the sample period put it counts as a clock jump.
    """

    port: str
    baud: int = 921600
    sync_interval_s: float = 1.0
    reconnect_timeout_s: float = 10.0
    hello_timeout_s: float = 3.0
    batch_s: float = 0.1
    start: bool = True
    duration_s: float = 0.0
    name: str = ""
    jump_tolerance_us: float = 1000.0


@dataclass
class BridgeState:
    """What the driver has seen; read it any time (a live view shows it).

    Attributes
    ----------
    frames_ok : int
        Frames that passed COBS, CRC and version checks.
    frames_bad : dict
        Frames skipped, by reason: ``cobs``, ``crc``, ``short``, ``oversize``,
        ``version``, ``payload`` (DATA shorter than its header says).
    unknown_frames : int
        Valid frames of an unknown type or stream id (ignored, per PROTOCOL.md).
    lost_samples : dict
        Samples missing from the seq counter, per stream name.
    out_of_order : dict
        DATA frames dropped because their seq went backwards, per stream name.
    clock_jumps : dict
        Frame timestamps off their expected time by more than the tolerance, per stream.
    resets, disconnects, reconnects : int
        Device resets seen (HELLO with a new boot id), ports lost, ports reopened.
    status : dict
        The last STATUS frame: battery_mv, battery_pct, tx_fill_pct, overruns,
        dropped_samples, rx_errors (device-side counters since its boot).
    events : list of dict
        EVENT frames: code, value, text, t (device clock, s).
    time_sync : list of (float, float, float)
        ``(host_send_s, device_s, host_recv_s)``: host monotonic time the ping was sent,
        device time (same clock as the chunks) when the device received it, host
        monotonic time the answer was read.
    epochs : list of dict
        One per device boot seen: boot_id, t_offset_s and seq offset added.
    """

    bytes_received: int = 0
    frames_ok: int = 0
    frames_bad: dict[str, int] = field(default_factory=dict)
    unknown_frames: int = 0
    lost_samples: dict[str, int] = field(default_factory=dict)
    out_of_order: dict[str, int] = field(default_factory=dict)
    clock_jumps: dict[str, int] = field(default_factory=dict)
    resets: int = 0
    disconnects: int = 0
    reconnects: int = 0
    status: dict[str, int] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    time_sync: list[tuple[float, float, float]] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def corrupt_frames(self) -> int:
        """All frames skipped as corrupt."""
        return sum(self.frames_bad.values())


@dataclass
class _StreamTrack:
    """Per-stream decoding state carried between batches."""

    info: StreamInfo
    layout: wb.StreamLayout
    last_seq_raw: int | None = None
    last_seq: int = 0
    next_seq: int | None = None  # unwrapped seq expected next (end of the last frame)
    last_t0_us: float | None = None
    last_t0_seq: int = 0
    last_period_us: float = 0.0
    seq_offset: int = 0
    jump_us: float = 0.0  # clock jumps absorbed in this boot (subtracted from the device's times)
    hello_since_data: bool = False  # a device HELLO came after this stream's last DATA
    segment: str = ""  # why the next DATA starts a clock segment ("" = it does not)


class _Hello:
    """Collects the HELLO frames of one device (device part + one per stream)."""

    def __init__(self) -> None:
        self.device: dict[str, Any] | None = None
        self.streams: dict[int, dict[str, Any]] = {}
        self.version = wb.VERSION

    def add(self, stream: int, payload: bytes, version: int) -> None:
        if stream == wb.STREAM_DEVICE:
            self.device = wb.parse_hello_device(payload)
            self.streams = {}
            self.version = version
        else:
            self.streams[stream] = wb.parse_hello_stream(payload)

    @property
    def complete(self) -> bool:
        return self.device is not None and all(i in self.streams for i in range(self.device["n_streams"]))


class SerialDevice(Device):
    """A firmware_bridge device on a serial port (see the module docstring)."""

    scheme = "serial"
    summary = "a microcontroller speaking the firmware_bridge protocol (firmware_bridge/PROTOCOL.md)"
    params = (
        Param("baud", int, 921600, "baud rate, bits/s (USB CDC and ptys ignore it)", min=300),
        Param("sync_interval_s", float, 1.0, "seconds between TIME_SYNC pings; 0 = none", min=0),
        Param("reconnect_timeout_s", float, 10.0, "seconds to keep reopening a lost port; 0 = fail", min=0),
        Param("hello_timeout_s", float, 3.0, "seconds to wait for the device's HELLO", min=0.05),
        Param(
            "batch_s", float, 0.1, "seconds of data decoded at once (latency vs host CPU)", min=0.001, max=1.0
        ),
        Param("start", bool, True, "send START once the device has said HELLO"),
        Param("duration_s", float, 0.0, "end after this many host seconds; 0 = until closed", min=0),
        Param("name", str, "", "prefix of stream names (default: the device serial number)"),
        Param("jump_tolerance_us", float, 1000.0, "timestamp error counted as a clock jump, us", min=0),
    )

    def __init__(self, uri) -> None:
        super().__init__(uri)
        if not self.uri.target:
            raise DeviceError(
                f"{self.uri.raw}: no port given; write serial:///dev/ttyUSB0 (Linux), "
                "serial:///dev/cu.usbmodem1 (macOS) or serial://COM3 (Windows)",
                self.uri.raw,
            )
        self.settings = SerialSettings(port=self.uri.target, **self.options)
        self.state = BridgeState()
        self.device_info: dict[str, Any] = {}
        s = self.settings
        self._transport = SerialTransport(self.uri.raw, s.port, s.baud, s.batch_s, s.reconnect_timeout_s)
        self._decoder = wb.FrameDecoder()
        self._tracks: dict[int, _StreamTrack] = {}
        self._queue: asyncio.Queue | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cmd_seq = 0
        self._boot_id: int | None = None
        self._hello = _Hello()
        self._pings: dict[int, float] = {}
        self._next_sync: float | None = None
        self._token = 0
        self._ts_last_raw: int | None = None
        self._ts_last = 0
        self._t_offset_us = 0.0
        self._rebase = False  # a new boot: the next DATA sets _t_offset_us from its arrival
        self._hellos_asked = 0  # HELLO sets asked for (HELLO_REQ, SET_RATE) and not yet complete
        self._last_t_us = 0.0
        self._last_t_host = 0.0
        self._reads: deque[tuple[int, float]] = deque()
        self._acks: dict[int, asyncio.Future] = {}
        self._streaming = False
        self._hello_event: asyncio.Event | None = None
        self._outbox: list[Any] = []

    # ------------------------------------------------------------------ commands
    def _command(self, type_: int, stream: int = wb.STREAM_DEVICE, payload: bytes = b"") -> int:
        self._cmd_seq += 1
        frame = wb.build_frame(type_, stream, self._cmd_seq, int(time.monotonic() * 1e6), payload, ts64=True)
        self._transport.write(frame)
        return self._cmd_seq

    # ------------------------------------------------------------------ lifecycle
    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue()
        await self._loop.run_in_executor(None, self._open_blocking)
        self._transport.start(self)

    def _open_blocking(self) -> None:
        self._transport.open()
        self._command(wb.T_STOP)
        self._command(wb.T_HELLO_REQ)
        self._transport.flush()
        deadline = time.monotonic() + self.settings.hello_timeout_s
        while not self._hello.complete:
            if time.monotonic() > deadline:
                self._transport.close()
                got = "an incomplete HELLO" if self._hello.device else "no HELLO"
                raise DeviceError(
                    f"{self.uri.raw}: {got} from {self.settings.port!r} within "
                    f"{self.settings.hello_timeout_s:g} s; is firmware speaking firmware_bridge "
                    f"protocol 1.x flashed, and is the baud rate right (baud={self.settings.baud})? "
                    "Raise hello_timeout_s for slow boots.",
                    self.uri.raw,
                )
            data = self._transport.read_now()
            batch = self._decoder.feed(data)
            for i in np.flatnonzero(batch.type == wb.T_HELLO):
                self._take_hello(batch, int(i))
        self._apply_hello(first=True)
        if self.settings.start:
            self._command(wb.T_START)
            self._streaming = True
        self._transport.flush()

    def _take_hello(self, batch: wb.FrameBatch, i: int) -> None:
        version = int(batch.version[i])
        if version >> 4 != wb.VERSION_MAJOR:
            raise DeviceError(
                f"{self.uri.raw}: device speaks protocol {version >> 4}.{version & 15}, "
                f"wearsense speaks {wb.VERSION_MAJOR}.x; update wearsense or the firmware",
                self.uri.raw,
            )
        try:
            self._hello.add(int(batch.stream[i]), batch.payload(i), version)
        except wb.FrameError as e:
            self.state.frames_bad["payload"] = self.state.frames_bad.get("payload", 0) + 1
            log.warning("%s: malformed HELLO skipped: %s", self.uri.raw, e)

    def _apply_hello(self, first: bool) -> None:
        """Build StreamInfos from a complete HELLO (on open, or after SET_RATE/reconnect)."""
        h = self._hello
        dev = h.device
        assert dev is not None
        if not first and dev["serial"] != self.device_info.get("serial"):
            raise DeviceError(
                f"{self.uri.raw}: a different device answered after reconnecting "
                f"(serial {dev['serial']!r}, expected {self.device_info.get('serial')!r}); "
                "reopen the device to start a new recording",
                self.uri.raw,
            )
        self.device_info = dict(dev, protocol=f"{h.version >> 4}.{h.version & 15}")
        prefix = self.settings.name or dev["serial"]
        tracks = {}
        for sid in range(dev["n_streams"]):
            s = h.streams[sid]
            if s["format"] not in wb.FORMATS or s["modality"] not in wb.MODALITIES:
                raise DeviceError(
                    f"{self.uri.raw}: stream {sid} uses format {s['format']} / modality {s['modality']}, "
                    f"unknown to protocol {wb.VERSION_MAJOR}.{wb.VERSION_MINOR}; update wearsense",
                    self.uri.raw,
                )
            info = StreamInfo(
                name=f"{prefix}-{s['name']}",
                modality=wb.MODALITIES[s["modality"]],
                channels=tuple(s["channels"]),
                units=tuple(s["units"]),
                rate_hz=float(s["rate_hz"]),
                source_id=dev["serial"],
                metadata={
                    "device_name": dev["name"],
                    "firmware": dev["firmware"],
                    "protocol": self.device_info["protocol"],
                    "stream_id": sid,
                    "format": wb.FORMATS[s["format"]][0],
                    "scale": [float(x) for x in s["scale"]],
                },
            )
            layout = wb.StreamLayout(sid, s["format"], len(s["channels"]), np.asarray(s["scale"], np.float32))
            old = self._tracks.get(sid)
            track = _StreamTrack(info, layout)
            if old is not None:
                for k in ("last_seq_raw", "last_seq", "next_seq", "last_t0_us", "last_t0_seq",
                          "last_period_us", "seq_offset", "jump_us", "segment"):  # fmt: skip
                    setattr(track, k, getattr(old, k))
            track.hello_since_data = not first
            tracks[sid] = track
        self._tracks = tracks
        self.streams = tuple(t.info for t in tracks.values())
        boot = dev["boot_id"]
        if self._boot_id is None:
            self.state.epochs.append({"boot_id": boot, "t_offset_s": 0.0, "seq_offset": 0})
        elif boot != self._boot_id:
            self._new_epoch(boot, "it announced a new boot id")
        self._boot_id = boot

    def _new_epoch(self, boot: int, why: str) -> None:
        """The device rebooted: continue seq after the last one, and t once its first DATA arrives."""
        self.state.resets += 1
        self._rebase = True
        for tr in self._tracks.values():
            tr.seq_offset = tr.next_seq if tr.next_seq is not None else tr.last_seq
            tr.last_seq_raw = None
            tr.next_seq = None
            tr.last_t0_us = None
            tr.jump_us = 0.0
            tr.hello_since_data = False
            tr.segment = "reset"
        self.state.epochs.append(
            {"boot_id": boot, "t_offset_s": math.nan, "seq_offset": {
                t.info.name: t.seq_offset for t in self._tracks.values()}}
        )  # fmt: skip
        self._report(DeviceEvent(
            "reset", f"device rebooted ({why}, boot id {boot:08x}); its clock and counters restarted, "
            "t and seq continue after the last sample", detail={"boot_id": boot, "reason": why}))
        if self._streaming:
            self._command(wb.T_START)

    async def _close(self) -> None:
        farewell = wb.build_frame(wb.T_STOP, wb.STREAM_DEVICE, self._cmd_seq + 1, 0)
        await asyncio.get_running_loop().run_in_executor(None, self._transport.close, farewell)

    # ------------------------------------------------------------------ commands from the loop
    async def send(
        self, type_: int, stream: int = wb.STREAM_DEVICE, payload: bytes = b"", timeout_s: float = 2.0
    ) -> dict:
        """Send a host command and wait for its ACK; returns the ACK (command, status, command_seq).

        Raises :class:`DeviceError` when no ACK comes within ``timeout_s`` or the device
        refuses the command.
        """
        loop = asyncio.get_running_loop()
        fut: asyncio.Future = loop.create_future()
        seq = self._command(type_, stream, payload)
        self._acks[seq] = fut
        try:
            ack = await asyncio.wait_for(fut, timeout_s)
        except asyncio.TimeoutError:
            raise DeviceError(
                f"{self.uri.raw}: no ACK to {wb.TYPE_NAMES.get(type_, hex(type_))} within {timeout_s:g} s",
                self.uri.raw,
            ) from None
        finally:
            self._acks.pop(seq, None)
        if ack["status"] != 0:
            raise DeviceError(
                f"{self.uri.raw}: device refused {wb.TYPE_NAMES.get(type_, hex(type_))}: "
                f"{wb.ACK_STATUS.get(ack['status'], ack['status'])}",
                self.uri.raw,
            )
        return ack

    async def set_rate(self, stream: str, rate_hz: float, timeout_s: float = 2.0) -> StreamInfo:
        """Change a stream's sampling rate (STOP, SET_RATE, new HELLO, START); returns its new StreamInfo."""
        info = self.stream(stream)
        sid = info.metadata["stream_id"]
        await self.send(wb.T_STOP)
        self._hello_event = asyncio.Event()
        self._hellos_asked += 1
        await self.send(wb.T_SET_RATE, sid, wb.payload_set_rate(rate_hz), timeout_s)
        await asyncio.wait_for(self._hello_event.wait(), timeout_s)
        for tr in self._tracks.values():  # the pause is real time, not a clock jump
            tr.last_t0_us = None
        if self._streaming:
            await self.send(wb.T_START)
        return self.stream(stream)

    # ------------------------------------------------------------------ the reader thread
    def _emit(self, item: Any) -> None:
        """Queue an item for the event loop; chunks go out once per batch (one wake-up)."""
        self._outbox.append(item)
        if not isinstance(item, tuple):
            self._flush()

    def _flush(self) -> None:
        if not self._outbox:
            return
        items, self._outbox = self._outbox, []
        if self._loop is not None and self._queue is not None:
            q = self._queue
            self._loop.call_soon_threadsafe(lambda: [q.put_nowait(i) for i in items])

    # called by the transport's reader thread (see serial_transport.Listener)
    def tick(self, now: float) -> None:
        if self.settings.sync_interval_s > 0 and (self._next_sync is None or now >= self._next_sync):
            self._ping()
            self._next_sync = now + self.settings.sync_interval_s

    def awaiting_reply(self) -> bool:
        return bool(self._pings) or bool(self._acks)

    def received(self, data: bytes, reads: list[tuple[int, float]]) -> None:
        end = self._decoder.bytes_in
        for n, t in reads:
            end += n
            self._reads.append((end, t))
        self._process(data)
        self._flush()

    def disconnected(self, error: BaseException) -> None:
        self.state.disconnects += 1
        self._report(DeviceEvent("disconnect", f"serial port lost ({error}); reopening for up to "
                                 f"{self.settings.reconnect_timeout_s:g} s", detail={"error": str(error)}))

    def reconnected(self) -> None:
        self.state.reconnects += 1
        self._report(DeviceEvent("reconnect", "serial port reopened; samples missed meanwhile are a seq gap"))
        self._decoder.reset()
        self._reads.clear()
        self._pings.clear()
        self._hellos_asked += 1
        self._command(wb.T_HELLO_REQ)
        if self._streaming:
            self._command(wb.T_START)

    def failed(self, error: DeviceError) -> None:
        self._emit(error)

    def ended(self) -> None:
        self._emit(None)

    def _ping(self) -> None:
        self._token = (self._token + 1) & 0xFFFFFFFF
        t = time.monotonic()
        self._pings[self._token] = t
        self._command(wb.T_TIME_SYNC_REQ, payload=wb.payload_time_sync_req(self._token, int(t * 1e6)))
        if len(self._pings) > 16:  # answers lost: forget the oldest
            self._pings.pop(next(iter(self._pings)))

    # ------------------------------------------------------------------ decoding
    def _process(self, data: bytes) -> None:
        dec = self._decoder
        batch = dec.feed(data)
        st = self.state
        st.bytes_received = dec.bytes_in
        st.frames_ok = dec.frames_ok
        st.frames_bad.update({k: v for k, v in dec.errors.items() if v})
        if not len(batch):
            return
        # arrival time of each frame: the read that brought its delimiter
        ends = np.array([e for e, _ in self._reads], np.int64)
        times = np.array([t for _, t in self._reads])
        arrival = times[np.minimum(np.searchsorted(ends, batch.wire_end, side="right"), times.size - 1)]
        while len(self._reads) > 1 and self._reads[0][0] <= batch.wire_end[-1]:
            self._reads.popleft()
        # a device HELLO may announce a reboot: handle the frames before it, then it
        cut = np.flatnonzero((batch.type == wb.T_HELLO) & (batch.stream == wb.STREAM_DEVICE))
        edges = [0, *cut.tolist(), len(batch)]
        for a, z in itertools.pairwise(edges):
            if z > a:
                seg = batch.select(slice(a, z))
                if a in cut:
                    self._peek_boot(seg)
                self._segment(seg, self._unwrap_ts(seg), arrival[a:z])

    def _peek_boot(self, seg: wb.FrameBatch) -> None:
        """Before unwrapping a segment that starts with a device HELLO: a new boot restarts the clock."""
        try:
            boot = wb.parse_hello_device(seg.payload(0))["boot_id"]
        except wb.FrameError:
            return
        if self._boot_id is not None and boot != self._boot_id:
            self._ts_last_raw = None

    def _unwrap_ts(self, batch: wb.FrameBatch) -> np.ndarray:
        raw = batch.timestamp_us
        is64 = (batch.flags & wb.FLAG_TS64) != 0
        out = np.empty(raw.size, np.float64)
        if is64.all():
            out[:] = raw.astype(np.float64)
        else:
            u = wb.unwrap(raw & np.uint64(0xFFFFFFFF), self._ts_last_raw, self._ts_last)
            self._ts_last_raw = int(raw[-1] & np.uint64(0xFFFFFFFF))
            self._ts_last = int(u[-1])
            out[:] = np.where(is64, raw.astype(np.float64), u.astype(np.float64))
        return out

    def _segment(self, batch: wb.FrameBatch, ts_us: np.ndarray, arrival: np.ndarray) -> None:
        types = batch.type
        data_mask = types == wb.T_DATA
        for i in np.flatnonzero(~data_mask):
            self._control(batch, int(i), float(ts_us[i]), float(arrival[i]))
        if not data_mask.any():
            return
        stream = batch.stream
        for sid in np.unique(stream[data_mask]):
            track = self._tracks.get(int(sid))
            sel = data_mask & (stream == sid)
            if track is None:
                self.state.unknown_frames += int(np.count_nonzero(sel))
                continue
            self._data(track, batch.select(sel), ts_us[sel], arrival[sel])

    def _control(self, batch: wb.FrameBatch, i: int, t_us: float, arrival: float) -> None:
        ty = int(batch.type[i])
        payload = batch.payload(i)
        try:
            if ty == wb.T_HELLO:
                self._take_hello(batch, i)
                if self._hello.complete:
                    self._apply_hello(first=False)
                    if self._hellos_asked:
                        self._hellos_asked -= 1
                    elif self._streaming:  # a HELLO nobody asked for: the device booted, stopped
                        self._command(wb.T_START)
                    self._hello = _Hello()
                    if self._hello_event is not None and self._loop is not None:
                        self._loop.call_soon_threadsafe(self._hello_event.set)
            elif ty == wb.T_STATUS:
                self.state.status = wb.parse_status(payload)
            elif ty == wb.T_EVENT:
                ev = wb.parse_event(payload)
                ev["t"] = (t_us + self._t_offset_us) * 1e-6
                self.state.events.append(ev)
            elif ty == wb.T_TIME_SYNC_RESP:
                r = wb.parse_time_sync_resp(payload)
                sent = self._pings.pop(r["token"], None)
                if sent is not None:
                    if batch.flags[i] & wb.FLAG_TS64:
                        dev_us = float(r["device_rx_us"])
                    else:  # 32-bit device: unwrap against this frame's (unwrapped) timestamp
                        back = (int(batch.timestamp_us[i]) - r["device_rx_us"]) & 0xFFFFFFFF
                        dev_us = t_us - (back if back < 2**31 else back - 2**32)
                    if not self._rebase:  # (in a new boot, only once its clock offset is known)
                        jump = next(iter(self._tracks.values())).jump_us if self._tracks else 0.0
                        dev_s = (dev_us + self._t_offset_us - jump) * 1e-6
                        self.state.time_sync.append((sent, dev_s, arrival))
            elif ty == wb.T_ACK:
                ack = wb.parse_ack(payload)
                fut = self._acks.get(ack["command_seq"])
                if fut is not None and self._loop is not None:
                    self._loop.call_soon_threadsafe(lambda f=fut, a=ack: f.done() or f.set_result(a))
            else:
                self.state.unknown_frames += 1
        except wb.FrameError as e:
            self.state.frames_bad["payload"] = self.state.frames_bad.get("payload", 0) + 1
            log.debug("%s: bad %s payload: %s", self.uri.raw, wb.TYPE_NAMES.get(ty, ty), e)

    def _data(self, tr: _StreamTrack, batch: wb.FrameBatch, t0_us: np.ndarray, arrival: np.ndarray) -> None:
        name = tr.info.name
        block = wb.decode_samples(batch, tr.layout, physical=True)
        if block.bad:
            self.state.frames_bad["payload"] = self.state.frames_bad.get("payload", 0) + block.bad
        keep = block.frame_n > 0
        fseq = wb.unwrap(batch.seq, tr.last_seq_raw, tr.last_seq)
        if tr.hello_since_data and keep.any() and tr.next_seq is not None and tr.last_t0_us is not None:
            i = int(np.argmax(keep))
            if fseq[i] < tr.next_seq and t0_us[i] < tr.last_t0_us:
                # a HELLO, then counter and clock start over: a reboot the boot id did not announce
                why = "it kept its boot id, but its counters and clock started over"
                self._new_epoch(self._boot_id or 0, why)
                fseq = wb.unwrap(batch.seq, None, 0)
        tr.hello_since_data = False
        tr.last_seq_raw = int(batch.seq[-1])
        tr.last_seq = int(fseq[-1])
        n = block.frame_n
        # frames whose seq goes backwards (replays, stale data) are dropped
        prev_end = np.empty(fseq.size, np.int64)
        ends = fseq + n
        prev_end[0] = tr.next_seq if tr.next_seq is not None else fseq[0]
        if fseq.size > 1:
            prev_end[1:] = np.maximum.accumulate(ends[:-1])
            prev_end[1:] = np.maximum(prev_end[1:], prev_end[0])
        backwards = keep & (fseq < prev_end)
        if backwards.any():
            n_back = int(np.count_nonzero(backwards))
            self.state.out_of_order[name] = self.state.out_of_order.get(name, 0) + n_back
            keep &= ~backwards
        if not keep.any():
            return
        kf = np.flatnonzero(keep)
        gap = fseq[kf] - prev_end[kf]
        lost = int(gap[gap > 0].sum())
        if lost:
            self.state.lost_samples[name] = self.state.lost_samples.get(name, 0) + lost
        self.state.lost_samples.setdefault(name, 0)
        # clock jumps: frame time vs previous frame time + seq difference x period
        t0 = t0_us[kf]
        s0 = fseq[kf]
        per = block.frame_period_us[kf]
        if self._rebase:
            # a new boot: its first frame's last sample goes after the last sample seen, by the
            # host time between their arrivals (the device's clock says nothing about the gap)
            j = int(kf[0])
            last_raw = float(t0[0] + (n[j] - 1) * per[0])
            gap_us = (float(arrival[j]) - self._last_t_host) * 1e6 if self._last_t_host else 0.0
            self._t_offset_us = self._last_t_us + max(gap_us, float(n[j] * per[0])) - last_raw
            self._rebase = False
            self.state.epochs[-1]["t_offset_s"] = self._t_offset_us * 1e-6
        prev_t = np.concatenate(([tr.last_t0_us if tr.last_t0_us is not None else t0[0]], t0[:-1]))
        prev_s = np.concatenate(([tr.last_t0_seq if tr.last_t0_us is not None else s0[0]], s0[:-1]))
        prev_p = np.concatenate(([tr.last_period_us if tr.last_t0_us is not None else per[0]], per[:-1]))
        expect = (s0 - prev_s) * prev_p
        off_us = t0 - prev_t - expect
        jump = np.abs(off_us) > self.settings.jump_tolerance_us + 2e-4 * np.abs(expect)
        if jump.any():
            self.state.clock_jumps[name] = self.state.clock_jumps.get(name, 0) + int(np.count_nonzero(jump))
        self.state.clock_jumps.setdefault(name, 0)
        # a jump starts a clock segment: from that frame on its size is taken off, so t
        # continues by the sampling clock (seq x period)
        absorbed = tr.jump_us + np.cumsum(np.where(jump, off_us, 0.0))
        per_frame = np.zeros(len(keep))
        per_frame[kf] = absorbed
        starts = [(int(kf[0]), tr.segment)] if tr.segment else []
        starts += [(int(kf[i]), "clock_jump") for i in np.flatnonzero(jump)]
        tr.segment = ""
        tr.jump_us = float(absorbed[-1])
        tr.last_t0_us, tr.last_t0_seq, tr.last_period_us = float(t0[-1]), int(s0[-1]), float(per[-1])
        tr.next_seq = int(ends[kf].max())
        # samples of the kept frames
        smask = keep[block.frame]
        frame = block.frame[smask]
        t_us = t0_us[frame] + block.offset_us[smask] + self._t_offset_us - per_frame[frame]
        seq = fseq[frame] + block.index[smask] + tr.seq_offset
        for j, why in starts:
            off = self._t_offset_us - per_frame[j]
            detail = {"seq": int(fseq[j] + tr.seq_offset), "offset_s": off * 1e-6, "reason": why}
            if why == "clock_jump":
                detail["step_s"] = float(off_us[np.searchsorted(kf, j)]) * 1e-6
                what = f"device clock jumped {detail['step_s'] * 1e3:+.3f} ms"
            else:
                what = "device restarted its clock"
            self._report(DeviceEvent(
                "clock_segment", f"{name}: {what}; the samples from here on are a new clock segment, their t "
                f"continued by the sampling clock (t = device time {off * 1e-6:+.6f} s)",
                stream=name, t=(float(t0_us[j]) + off) * 1e-6, detail=detail))
        values = block.raw[smask] if not smask.all() else block.raw
        self._last_t_us = max(self._last_t_us, float(t_us[-1]))
        self._last_t_host = float(arrival[-1])
        t = t_us * 1e-6
        clock = f"device:{tr.info.source_id}"
        # a backward clock jump would make t decrease: cut the chunk there
        cuts = np.flatnonzero(np.diff(t) < 0) + 1 if t.size > 1 else np.zeros(0, np.int64)
        bounds = [0, *cuts.tolist(), t.size]
        for a, z in itertools.pairwise(bounds):
            self._emit((tr.info, Chunk(values[a:z], t[a:z], seq[a:z], clock, float(arrival[frame[z - 1]]))))

    # ------------------------------------------------------------------ iteration
    async def _chunks(self):
        assert self._queue is not None
        deadline = None if not self.settings.duration_s else time.monotonic() + self.settings.duration_s
        while True:
            if deadline is None:
                item = await self._queue.get()
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    item = await asyncio.wait_for(self._queue.get(), left)
                except asyncio.TimeoutError:
                    return
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

"""The byte transport of ``serial://``: one serial port, its reader thread, and reopening it.

This module knows ports and bytes, not frames: :class:`SerialTransport` opens the
port (pyserial), writes queued frames, reads whatever arrived with the host time of
each read, hands the bytes to its :class:`Listener` in batches of ``batch_s``, and
reopens the same path when the port disappears (a pulled cable, a device reset
that re-enumerates USB) until ``reconnect_timeout_s``. The protocol session on top
(:mod:`wearsense.devices.serial`) decides what the bytes mean and what to send.

The reader runs in one background thread so that the event loop never blocks;
every listener method is called from that thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Protocol

import serial as pyserial

from wearsense.errors import DeviceError

log = logging.getLogger("wearsense")

__all__ = ["Listener", "SerialTransport"]


class Listener(Protocol):
    """What the transport tells the protocol session (called from the reader thread)."""

    def tick(self, now: float) -> None:
        """Once per loop turn, before writing: queue periodic commands (``now``: host monotonic s)."""

    def awaiting_reply(self) -> bool:
        """Whether an answer is expected soon: the port is then polled every millisecond."""

    def received(self, data: bytes, reads: list[tuple[int, float]]) -> None:
        """Bytes of one batch; ``reads``: ``(n_bytes, host monotonic s)`` of each read in it, in order."""

    def disconnected(self, error: BaseException) -> None:
        """The port failed; the transport now tries to reopen it."""

    def reconnected(self) -> None:
        """The port is open again (bytes of a partial frame before the loss are gone)."""

    def failed(self, error: DeviceError) -> None:
        """The transport gave up (the port did not come back, or the session raised)."""

    def ended(self) -> None:
        """The reader thread has stopped; nothing more will be received."""


class SerialTransport:
    """One serial port read by a background thread, reopened when it disappears.

    Parameters
    ----------
    uri : str
        The device URI, for error messages.
    port : str
        Serial port path (``/dev/ttyUSB0``, ``COM3``, a pty or a symlink to one).
    baud : int
        Baud rate, bits/s (USB CDC devices and ptys ignore it).
    batch_s : float
        Seconds of bytes handed over at once (latency vs host CPU).
    reconnect_timeout_s : float
        How long to keep reopening a port that disappeared; 0 = fail at once.
    """

    def __init__(self, uri: str, port: str, baud: int, batch_s: float, reconnect_timeout_s: float) -> None:
        self.uri = uri
        self.port = port
        self.baud = baud
        self.batch_s = batch_s
        self.reconnect_timeout_s = reconnect_timeout_s
        self._serial: pyserial.Serial | None = None
        self._writes: queue.SimpleQueue[bytes] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ port
    def open(self) -> None:
        """Open the port (blocking); the error says how to find the right one."""
        try:
            self._serial = self._new_port()
        except (pyserial.SerialException, OSError, ValueError) as e:
            raise DeviceError(
                f"{self.uri}: cannot open serial port {self.port!r} ({e}); check that the device is "
                "plugged in and the path is right (list ports: python -m serial.tools.list_ports), "
                "and that no other program holds it",
                self.uri,
            ) from e

    def _new_port(self) -> pyserial.Serial:
        return pyserial.Serial(self.port, self.baud, timeout=self.batch_s, write_timeout=1.0)

    def read_now(self) -> bytes:
        """What has arrived, or wait up to ``batch_s`` for at least one byte (before the thread runs)."""
        assert self._serial is not None
        return self._serial.read(max(1, self._serial.in_waiting))

    def write(self, frame: bytes) -> None:
        """Queue bytes for the port; written in order by the reader thread (or :meth:`flush`)."""
        self._writes.put(frame)

    def flush(self) -> None:
        """Write every queued frame now."""
        while True:
            try:
                frame = self._writes.get_nowait()
            except queue.Empty:
                return
            if self._serial is not None:
                self._serial.write(frame)

    def close(self, farewell: bytes = b"") -> None:
        """Stop the reader (wait up to 5 s), write ``farewell`` if the port still works, close it."""
        self.stop()
        if self._serial is not None:
            if farewell:
                try:
                    self._serial.write(farewell)
                except (pyserial.SerialException, OSError):
                    pass
            self._serial.close()
            self._serial = None

    # ------------------------------------------------------------------ the reader thread
    def start(self, listener: Listener) -> None:
        self._thread = threading.Thread(
            target=self._run, args=(listener,), name=f"wearsense-serial:{self.port}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def _run(self, listener: Listener) -> None:
        # Read as soon as bytes arrive: a read blocks until the first byte (or poll_s) and is
        # stamped when it returns, and that stamp is the frames' arrival time, which the sync
        # layer's clock model fits. Sleeping between reads (to batch them) would stamp frames
        # up to the sleep late, in a pattern that beats slowly against the device's frame
        # period and reads as tens to hundreds of ppm of false drift. Decoding is still
        # batched (batch_s).
        poll_s = min(0.02, self.batch_s)
        last_decode = time.monotonic()
        pending = bytearray()
        reads: list[tuple[int, float]] = []
        timeout = None
        try:
            while not self._stop.is_set():
                listener.tick(time.monotonic())
                prompt = listener.awaiting_reply()
                try:
                    self.flush()
                    port = self._serial
                    if port is None:
                        raise pyserial.SerialException("port closed")
                    want = 0.001 if prompt else poll_s
                    if timeout != want:
                        port.timeout = timeout = want
                    data = port.read(port.in_waiting or 1)
                except (pyserial.SerialException, OSError) as e:
                    if pending:
                        listener.received(bytes(pending), reads)
                        pending.clear()
                        reads = []
                    listener.disconnected(e)
                    self._reopen(e)
                    if self._serial is not None:
                        listener.reconnected()
                    timeout = None
                    continue
                if data:
                    reads.append((len(data), time.monotonic()))
                    pending += data
                if pending and (prompt or time.monotonic() - last_decode >= self.batch_s):
                    listener.received(bytes(pending), reads)
                    pending.clear()
                    reads = []
                    last_decode = time.monotonic()
        except DeviceError as e:
            listener.failed(e)
        except Exception as e:  # the thread must report, never die silently
            log.exception("%s: reader thread failed", self.uri)
            listener.failed(DeviceError(f"{self.uri}: reader failed: {e!r}", self.uri))
        finally:
            listener.ended()

    def _reopen(self, error: BaseException) -> None:
        """Reopen the same path until ``reconnect_timeout_s``; raises :class:`DeviceError` after."""
        log.warning("%s: port lost (%s); reopening for up to %g s", self.uri, error, self.reconnect_timeout_s)
        if self._serial is not None:
            try:
                self._serial.close()
            except (pyserial.SerialException, OSError):
                pass
            self._serial = None
        deadline = time.monotonic() + self.reconnect_timeout_s
        while not self._stop.is_set():
            try:
                self._serial = self._new_port()
                break
            except (pyserial.SerialException, OSError, ValueError):
                if time.monotonic() >= deadline:
                    raise DeviceError(
                        f"{self.uri}: serial port {self.port!r} disappeared ({error}) and did not come "
                        f"back within {self.reconnect_timeout_s:g} s; check the cable and power, then reopen "
                        "(raise reconnect_timeout_s to wait longer)",
                        self.uri,
                    ) from None
                self._stop.wait(0.05)
        if self._serial is not None:
            log.info("%s: port reopened", self.uri)

"""``replay://session.xdf?speed=1``: a recorded session played back as a live device.

Every stream of the file becomes a stream of the device, and the stored chunks come
out in the order they were recorded, with their original timestamps (``Chunk.t``, the
device clock), sequence numbers, clock name and arrival times (``received_s``), so a
recording fed back through :class:`~wearsense.io.xdf.Recorder` gives the same streams
bit for bit. ``speed=1`` paces chunks as they arrived (by ``received_s``, or by the
last timestamp where the file has no arrival times), ``speed=2`` twice as fast,
``speed=0`` as fast as possible.

The target is a file path: ``replay://session.xdf`` (relative) or
``replay:///data/session.xdf`` (absolute).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator

import numpy as np

from wearsense.devices.base import Device, Param
from wearsense.errors import DeviceError, FormatError
from wearsense.io import xdf
from wearsense.stream import Chunk, StreamInfo

__all__ = ["ReplayDevice"]


class ReplayDevice(Device):
    """Plays an XDF recording back through the device interface."""

    scheme = "replay"
    summary = "a recorded XDF session played back as live devices"
    params = (
        Param(
            "speed",
            float,
            1.0,
            "playback speed: 1 = real time, 2 = twice as fast, 0 = as fast as possible",
            min=0.0,
        ),
        Param(
            "recover", bool, False, "play what can be read from a truncated/corrupted file instead of failing"
        ),
    )

    def __init__(self, uri) -> None:
        super().__init__(uri)
        self.file: xdf.XDFFile | None = None

    async def _open(self) -> None:
        path = self.uri.target
        if not path:
            raise DeviceError(
                f"{self.uri.raw}: give the file to replay, e.g. replay://session.xdf?speed=1", self.uri.raw
            )
        try:
            self.file = await asyncio.to_thread(xdf.load, path, recover=self.options["recover"])
        except FormatError as e:
            raise DeviceError(f"{self.uri.raw}: {e}", self.uri.raw) from e
        self.streams = tuple(s.info for s in self.file.streams.values())

    async def _close(self) -> None:
        self.file = None

    async def _chunks(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        assert self.file is not None
        speed = float(self.options["speed"])
        received = [s.received_s[np.isfinite(s.received_s)] for s in self.file.streams.values()]
        received = [r for r in received if r.size]
        host0 = min(float(r[0]) for r in received) if received else math.nan
        start_wall = time.monotonic()
        own0: dict[str, float] = {}
        for k, (info, chunk) in enumerate(self.file.iter_chunks()):
            # pace by arrival time (one host clock for all streams) where the file has
            # it, else by the stream's own timestamps from its first chunk
            if math.isfinite(chunk.received_s):
                elapsed = chunk.received_s - host0
            else:
                elapsed = float(chunk.t[-1]) - own0.setdefault(info.name, float(chunk.t[-1]))
            if speed > 0:
                delay = start_wall + elapsed / speed - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            elif k % 64 == 0:
                await asyncio.sleep(0)
            yield info, chunk

"""``lsl://type=MoCap``: Lab Streaming Layer streams in, and any wearsense device out to LSL.

Inlet
-----
``lsl://type=MoCap``, ``lsl://name=Kinect-pose``, ``lsl://source_id=abc``: the target is
``key=value`` pairs, parsed exactly like a query (``lsl://type=MoCap&timeout_s=2`` is
``lsl://type=MoCap?timeout_s=2``; an unknown key is an error listing the valid ones),
and every stream matching all the properties given at open time becomes a stream of the device
(resolved with ``pylsl.resolve_bypred`` within ``timeout_s``). Channel labels and
units are read from the stream's ``<desc><channels><channel><label/><unit/>``.

Timestamps are the sender's own (``Chunk.t`` in the sender's LSL clock, clock name
``lsl:<source_id or uid>``), untouched. LSL's clock offsets are kept for the clock
model: :meth:`LslDevice.clock_offsets` returns the ``time_correction`` measurements
of each stream, ``(local_s, offset_s)`` with ``sender time + offset_s = local time``
(the local clock is ``pylsl.local_clock()``, which on Linux is the same monotonic
clock as ``time.monotonic()``, so it is also the clock of ``received_s``). A new
measurement is taken every ``correction_s`` seconds. ``Chunk.seq`` counts the
samples received (LSL's TCP transport loses nothing unless the inlet buffer of
``max_buffer_s`` overflows).

Outlet
------
:func:`publish` (``wearsense stream <uri>``) republishes every stream of any device as
one LSL outlet, channel labels, units and types in ``<desc>``, so LabRecorder and
other LSL tools see it. ``timestamps="host"`` (the default) maps each device's clock to
the local LSL clock with the sync layer's clock model (the lower envelope of arrivals,
passed in as ``host_clock``: see :mod:`wearsense.sync.clock`); ``"device"`` sends the
device timestamps untouched (for consumers that do their own synchronisation).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pylsl
from pylsl.util import LostError
from pylsl.util import TimeoutError as LslTimeoutError

from wearsense.devices.base import Device, Param
from wearsense.errors import DeviceError, DeviceURIError
from wearsense.stream import Chunk, Modality, StreamInfo

log = logging.getLogger("wearsense")

__all__ = ["LslDevice", "ClockOffset", "publish", "PublishState", "modality_of", "lsl_type_of"]

_PROPS = ("name", "type", "source_id", "hostname")
#: LSL content types (XDF "type" conventions) -> wearsense modality
_MODALITY = {
    "mocap": Modality.POSE,
    "pose": Modality.POSE,
    "keypoints": Modality.POSE,
    "emg": Modality.EMG,
    "eeg": Modality.EEG,
    "imu": Modality.IMU,
    "accelerometer": Modality.IMU,
    "gyroscope": Modality.IMU,
    "markers": Modality.MARKER,
    "marker": Modality.MARKER,
    "force": Modality.FORCE,
}
_NUMERIC = {
    pylsl.cf_float32,
    pylsl.cf_double64,
    pylsl.cf_int8,
    pylsl.cf_int16,
    pylsl.cf_int32,
    pylsl.cf_int64,
}


def modality_of(lsl_type: str) -> Modality:
    """Wearsense modality of an LSL content type (``MoCap`` -> POSE, unknown -> OTHER)."""
    return _MODALITY.get(lsl_type.strip().lower(), Modality.OTHER)


def lsl_type_of(modality: Modality) -> str:
    """LSL content type for a wearsense modality (``POSE`` -> ``MoCap``, as LabRecorder users expect)."""
    return {Modality.POSE: "MoCap", Modality.MARKER: "Markers"}.get(modality, modality.value)


def _quote(value: str) -> str:
    if "'" in value:
        raise DeviceURIError(f"LSL property values may not contain a single quote: {value!r}")
    return f"'{value}'"


@dataclass(frozen=True)
class ClockOffset:
    """One LSL ``time_correction`` measurement: ``sender time + offset_s = local time`` at ``local_s``."""

    local_s: float
    offset_s: float


@dataclass
class _Inlet:
    inlet: Any
    info: StreamInfo
    clock: str
    next_seq: int = 0
    offsets: list[ClockOffset] = field(default_factory=list)
    next_correction_s: float = 0.0
    last_t: float = -math.inf


def _desc_channels(info: Any, n: int) -> tuple[list[str], list[str]]:
    labels, units = [], []
    try:
        root = ET.fromstring(info.as_xml())
    except ET.ParseError:
        root = None
    chans = root.findall("./desc/channels/channel") if root is not None else []
    for i in range(n):
        ch = chans[i] if i < len(chans) else None
        label = (ch.findtext("label") if ch is not None else None) or f"ch{i + 1}"
        unit = (ch.findtext("unit") if ch is not None else None) or "1"
        labels.append(label.strip())
        units.append(unit.strip())
    seen: dict[str, int] = {}
    for i, lab in enumerate(labels):  # StreamInfo needs unique labels
        if lab in seen:
            labels[i] = f"{lab}_{i + 1}"
        seen[lab] = i
    return labels, units


class LslDevice(Device):
    """LSL inlet(s) as a wearsense device (see the module docstring)."""

    scheme = "lsl"
    summary = "Lab Streaming Layer streams (mocap, camera pose, other EMG systems) by type/name/source_id"
    params = (
        *(Param(p, str, "", f"match streams whose {p} is exactly this") for p in _PROPS),
        Param("timeout_s", float, 5.0, "how long to look for matching streams, s", min=0.1, max=600),
        Param(
            "max_buffer_s",
            int,
            360,
            "inlet buffer, s of data (older data is dropped if not read)",
            min=1,
            max=3600,
        ),
        Param(
            "correction_s", float, 5.0, "seconds between LSL time_correction measurements", min=0.1, max=3600
        ),
        Param("poll_s", float, 0.005, "wait between reads when no data is pending, s", min=0.0005, max=1.0),
    )

    target_is_query = True

    def __init__(self, uri) -> None:
        super().__init__(uri)
        props = {p: self.options[p] for p in _PROPS if self.options[p]}
        if not props:
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: say which streams, e.g. lsl://type=MoCap or "
                "lsl://name=<stream name>",
                uri=self.uri.raw,
            )
        self.predicate = " and ".join(f"{k}={_quote(v)}" for k, v in props.items())
        self._inlets: list[_Inlet] = []

    async def _open(self) -> None:
        found = await asyncio.to_thread(pylsl.resolve_bypred, self.predicate, 1, self.options["timeout_s"])
        if not found:
            raise DeviceError(
                f"{self.uri.raw}: no LSL stream matches {self.predicate} within "
                f"{self.options['timeout_s']:g} s; "
                "check the sender runs on this network (same subnet, multicast allowed), or list streams "
                "with "
                "pylsl.resolve_streams()",
                self.uri.raw,
            )
        taken: set[str] = set()
        seen_uid: set[str] = set()
        for si in found:
            if si.uid() in seen_uid:
                continue
            seen_uid.add(si.uid())
            if si.channel_format() not in _NUMERIC:
                log.warning(
                    "%s: skipping LSL stream %r: string samples are not read by wearsense",
                    self.uri.raw,
                    si.name(),
                )
                continue
            inlet = pylsl.StreamInlet(si, max_buflen=self.options["max_buffer_s"], recover=True)
            full = await asyncio.to_thread(inlet.info, self.options["timeout_s"])
            n = full.channel_count()
            labels, units = _desc_channels(full, n)
            name = si.name() or "lsl"
            k = 2
            while name in taken:
                name, k = f"{si.name()}@{k}", k + 1
            taken.add(name)
            source = si.source_id() or si.uid()
            info = StreamInfo(
                name,
                modality_of(si.type()),
                tuple(labels),
                tuple(units),
                max(0.0, si.nominal_srate()),
                source,
                {
                    "lsl_type": si.type(),
                    "lsl_uid": si.uid(),
                    "lsl_hostname": si.hostname(),
                    "lsl_created_at": si.created_at(),
                    "clock": "sender's pylsl.local_clock()",
                },
            )
            self._inlets.append(_Inlet(inlet, info, f"lsl:{source}"))
        if not self._inlets:
            raise DeviceError(
                f"{self.uri.raw}: the LSL streams matching {self.predicate} carry strings only", self.uri.raw
            )
        for il in self._inlets:
            await asyncio.to_thread(il.inlet.open_stream, self.options["timeout_s"])
        self.streams = tuple(il.info for il in self._inlets)

    async def _close(self) -> None:
        inlets, self._inlets = self._inlets, []
        for il in inlets:
            il.inlet.close_stream()

    def clock_offsets(self, name: str) -> list[ClockOffset]:
        """LSL ``time_correction`` measurements of stream ``name`` so far (oldest first)."""
        for il in self._inlets:
            if il.info.name == name:
                return list(il.offsets)
        raise DeviceError(
            f"{self.uri.raw}: no stream {name!r}; streams: {', '.join(s.name for s in self.streams)}",
            self.uri.raw,
        )

    async def _correct(self, il: _Inlet) -> None:
        now = time.monotonic()
        if now < il.next_correction_s:
            return
        il.next_correction_s = now + self.options["correction_s"]
        try:
            offset = await asyncio.to_thread(il.inlet.time_correction, 2.0)
        except (LslTimeoutError, LostError) as e:
            log.info("%s: LSL time_correction for %r failed: %s", self.uri.raw, il.info.name, e)
            return
        il.offsets.append(ClockOffset(pylsl.local_clock(), float(offset)))

    async def _chunks(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        poll = self.options["poll_s"]
        while self._inlets:
            got = False
            for il in list(self._inlets):
                await self._correct(il)
                try:
                    samples, stamps = il.inlet.pull_chunk(timeout=0.0)
                except LostError as e:
                    raise DeviceError(
                        f"{self.uri.raw}: LSL stream {il.info.name!r} was lost ({e}); restart the sender",
                        self.uri.raw,
                    ) from e
                if not stamps:
                    continue
                got = True
                received = time.monotonic()
                t = np.asarray(stamps, dtype=np.float64)
                t = np.maximum.accumulate(np.maximum(t, il.last_t))
                il.last_t = float(t[-1])
                seq = np.arange(il.next_seq, il.next_seq + t.size, dtype=np.int64)
                il.next_seq += t.size
                yield (
                    il.info,
                    Chunk(
                        np.asarray(samples, dtype=np.float32).reshape(t.size, -1), t, seq, il.clock, received
                    ),
                )
            if not got:
                await asyncio.sleep(poll)


# ---------------------------------------------------------------------------------------
# outlet
# ---------------------------------------------------------------------------------------
def _outlet_info(info: StreamInfo, prefix: str, uri: str) -> Any:
    si = pylsl.StreamInfo(
        f"{prefix}{info.name}",
        lsl_type_of(info.modality),
        info.n_channels,
        info.rate_hz,
        pylsl.cf_float32,
        info.source_id or f"{uri}#{info.name}",
    )
    desc = si.desc()
    chans = desc.append_child("channels")
    for label, unit in zip(info.channels, info.units):
        ch = chans.append_child("channel")
        ch.append_child_value("label", label)
        ch.append_child_value("unit", unit)
        ch.append_child_value("type", info.modality.value)
    acq = desc.append_child("acquisition")
    acq.append_child_value("manufacturer", "wearsense")
    acq.append_child_value("device_uri", uri)
    return si


@dataclass
class PublishState:
    """Counters of :func:`publish`: samples pushed per outlet name."""

    outlets: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0


async def publish(
    device: Device | str,
    *,
    duration_s: float | None = None,
    stop: asyncio.Event | None = None,
    timestamps: str = "host",
    prefix: str = "",
    host_clock: Any = None,
    on_ready: Callable[[list[str]], None] | None = None,
) -> PublishState:
    """Republish every stream of a device as LSL outlets until it ends, ``stop`` or ``duration_s``.

    Parameters
    ----------
    device : Device or str
        An unopened device or a URI.
    duration_s : float, optional
        Stop after this long (host monotonic clock).
    stop : asyncio.Event, optional
        Set it to stop.
    timestamps : {"host", "device"}
        ``host``: device time mapped to ``pylsl.local_clock()`` by ``host_clock``;
        ``device``: device timestamps untouched.
    prefix : str
        Put before each outlet name (e.g. ``"ws-"``).
    host_clock : object with ``process(info, chunk) -> Chunk``
        Needed for ``timestamps="host"``: maps each chunk to the local LSL clock. The
        sync layer's clock model does it, e.g. ``wearsense.sync.Timeline(TimelineSettings(
        reference_offset_s=pylsl.local_clock() - time.monotonic()))``; devices sit below
        the sync layer, so the caller passes it in (``wearsense stream`` does).
    on_ready : callable, optional
        Called with the outlet names once they exist.
    """
    from wearsense.devices.registry import open_device

    if timestamps not in ("host", "device"):
        raise DeviceError(f"publish: timestamps must be 'host' or 'device', got {timestamps!r}")
    if timestamps == "host" and host_clock is None:
        raise DeviceError(
            "publish: timestamps='host' needs host_clock (e.g. a wearsense.sync.Timeline whose "
            "reference_offset_s is pylsl.local_clock() - time.monotonic())"
        )
    dev = open_device(device) if isinstance(device, str) else device
    stop = stop or asyncio.Event()
    state = PublishState()
    t0 = time.monotonic()
    deadline = math.inf if duration_s is None else t0 + duration_s
    async with dev:
        outlets = {
            s.name: pylsl.StreamOutlet(_outlet_info(s, prefix, dev.uri.raw), 0, 360) for s in dev.streams
        }
        names = {s.name: f"{prefix}{s.name}" for s in dev.streams}
        state.outlets = {n: 0 for n in names.values()}
        if on_ready is not None:
            on_ready(list(names.values()))
        it = dev.__aiter__()
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                timeout = None if deadline == math.inf else max(0.0, deadline - time.monotonic())
                stopper = asyncio.ensure_future(stop.wait())
                nxt = asyncio.ensure_future(it.__anext__())
                done, _ = await asyncio.wait(
                    {nxt, stopper}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                stopper.cancel()
                if nxt not in done:
                    nxt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                        await nxt
                    break
                try:
                    info, chunk = nxt.result()
                except StopAsyncIteration:
                    break
                if chunk.n == 0 or info.name not in outlets:
                    continue
                if timestamps == "host":
                    chunk = host_clock.process(info, chunk)
                    if chunk.n == 0:
                        continue  # a repeated chunk: nothing new in it
                stamps = chunk.t
                outlets[info.name].push_chunk(
                    np.ascontiguousarray(chunk.data), np.ascontiguousarray(stamps).tolist()
                )
                state.outlets[names[info.name]] += chunk.n
        finally:
            aclose = getattr(it, "aclose", None)
            if aclose is not None:
                await aclose()
            state.elapsed_s = time.monotonic() - t0
            outlets.clear()
    return state

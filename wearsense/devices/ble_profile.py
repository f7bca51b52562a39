"""``ble://profile/<address>?profile=board.toml``: a lab's own BLE board, described, not coded.

A profile is a small TOML file naming the characteristics to subscribe to and the
layout of their notifications; wearsense then connects, decodes, reconnects and
records such a board like any other device. Example (an nRF52 with a 4-channel EMG
front end and a packet counter)::

    name = "labemg"                       # stream names are "<name>-<stream name>"
    advertised_name = "LabEMG"            # optional: how `wearsense scan --profile` recognises it
    service = "6e400001-b5a3-f393-e0a9-e50e24dcca9e"   # optional, also for scanning

    [[on_connect]]                        # optional writes after subscribing (start streaming)
    characteristic = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
    value = "01"                          # hex bytes
    [[on_close]]                          # optional writes before disconnecting
    characteristic = "6e400002-b5a3-f393-e0a9-e50e24dcca9e"
    value = "00"

    [[stream]]
    name = "emg"
    modality = "EMG"
    characteristic = "6e400003-b5a3-f393-e0a9-e50e24dcca9e"
    header_bytes = 2                      # bytes before the samples
    counter = { offset = 0, dtype = "uint16", counts = "packets" }   # optional
    dtype = "int16"                       # int8 uint8 int16 uint16 int24 uint24 int32 uint32 float32
    byte_order = "little"                 # or "big"
    channels = ["flexor", "extensor", "biceps", "triceps"]   # or a count: channels = 4
    units = "V"
    scale = 0.000000195                   # physical = raw * scale + offset
    offset = 0.0
    rate_hz = 1000.0

Samples follow the header back to back, channel after channel, sample after sample;
a notification holds as many whole samples as fit. Optional ``timestamp = { offset,
dtype, unit_s }`` reads the device time of the first sample of each notification
(unwrapped on overflow); without it the device clock is ``seq / rate_hz``. The
optional counter (unwrapped on overflow) counts packets or samples; a jump in it is
lost data. Without a counter, sequence numbers count the samples received and jump
over a reconnection by the samples the outage should have held.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.devices.base import Param
from wearsense.devices.ble_common import BleDevice
from wearsense.errors import DeviceURIError, FormatError, MalformedNotification
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "ProfileDevice",
    "BleProfile",
    "StreamLayout",
    "Field",
    "Write",
    "load_profile",
    "decode_payload",
    "DTYPES",
]

#: dtype name -> (bytes, kind) with kind "i" signed, "u" unsigned, "f" float
DTYPES = {
    "int8": (1, "i"),
    "uint8": (1, "u"),
    "int16": (2, "i"),
    "uint16": (2, "u"),
    "int24": (3, "i"),
    "uint24": (3, "u"),
    "int32": (4, "i"),
    "uint32": (4, "u"),
    "float32": (4, "f"),
}


@dataclass(frozen=True)
class Field:
    """An integer field in a notification header (a counter or a timestamp).

    Attributes
    ----------
    offset : int
        Byte offset in the notification.
    dtype : str
        Unsigned integer type (``uint8`` ... ``uint32``); it wraps around.
    unit_s : float
        Seconds per count (timestamps only).
    counts : str
        ``"packets"`` or ``"samples"`` (counters only).
    """

    offset: int
    dtype: str
    unit_s: float = 0.0
    counts: str = "packets"

    @property
    def size(self) -> int:
        return DTYPES[self.dtype][0]


@dataclass(frozen=True)
class Write:
    """Bytes written to a characteristic (start/stop commands)."""

    characteristic: str
    value: bytes
    response: bool = True


@dataclass(frozen=True)
class StreamLayout:
    """How one characteristic's notifications become one stream."""

    name: str
    modality: Modality
    characteristic: str
    dtype: str
    byte_order: str
    channels: tuple[str, ...]
    units: tuple[str, ...]
    scale: float
    offset: float
    rate_hz: float
    header_bytes: int = 0
    counter: Field | None = None
    timestamp: Field | None = None

    @property
    def sample_bytes(self) -> int:
        return DTYPES[self.dtype][0] * len(self.channels)


@dataclass(frozen=True)
class BleProfile:
    """A declarative description of a BLE board (see the module docstring)."""

    name: str
    streams: tuple[StreamLayout, ...]
    advertised_name: str = ""
    service: str = ""
    on_connect: tuple[Write, ...] = ()
    on_close: tuple[Write, ...] = ()
    path: str = ""

    def advertises(self, name: str, service_uuids: tuple[str, ...]) -> bool:
        """Whether an advertisement looks like this board (name prefix or service UUID)."""
        if self.service and self.service in service_uuids:
            return True
        return bool(self.advertised_name) and name.startswith(self.advertised_name)


def _fail(path: str, where: str, why: str) -> FormatError:
    return FormatError(f"BLE profile {path}: {where}: {why}", path)


def _field(raw: Any, path: str, where: str, timestamp: bool) -> Field:
    if not isinstance(raw, dict):
        raise _fail(path, where, 'must be a table like { offset = 0, dtype = "uint16" }')
    unknown = set(raw) - {"offset", "dtype", "unit_s", "counts"}
    if unknown:
        raise _fail(
            path,
            where,
            f"unknown key(s) {sorted(unknown)}; valid: offset, dtype, "
            + ("unit_s" if timestamp else "counts"),
        )
    dtype = raw.get("dtype", "")
    if dtype not in ("uint8", "uint16", "uint24", "uint32"):
        raise _fail(path, f"{where}.dtype", f"must be uint8, uint16, uint24 or uint32, got {dtype!r}")
    offset = raw.get("offset")
    if not isinstance(offset, int) or offset < 0:
        raise _fail(path, f"{where}.offset", f"must be a byte offset >= 0, got {offset!r}")
    if timestamp:
        unit = raw.get("unit_s")
        if not isinstance(unit, (int, float)) or not unit > 0:
            raise _fail(
                path,
                f"{where}.unit_s",
                f"must be the seconds per count (> 0, e.g. 1e-6 for us), got {unit!r}",
            )
        return Field(offset, dtype, unit_s=float(unit))
    counts = raw.get("counts", "packets")
    if counts not in ("packets", "samples"):
        raise _fail(path, f"{where}.counts", f"must be 'packets' or 'samples', got {counts!r}")
    return Field(offset, dtype, counts=counts)


def _writes(raw: Any, path: str, key: str) -> tuple[Write, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(path, key, "must be an array of tables ([[" + key + "]])")
    out = []
    for i, w in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(w, dict) or "characteristic" not in w or "value" not in w:
            raise _fail(path, where, 'needs characteristic = "<uuid>" and value = "<hex bytes>"')
        try:
            value = bytes.fromhex(str(w["value"]).replace("0x", ""))
        except ValueError:
            raise _fail(path, f"{where}.value", f'{w["value"]!r} is not hex bytes like "01 ff"') from None
        out.append(Write(str(w["characteristic"]).lower(), value, bool(w.get("response", True))))
    return tuple(out)


def load_profile(path: str | Path) -> BleProfile:
    """Read and check a TOML profile; every error names the file, the key and the fix.

    Raises
    ------
    FormatError
        Missing file, invalid TOML, a missing or wrong key.
    """
    p = Path(path)
    where = str(p)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FormatError(
            f"BLE profile {where} does not exist; give the path of a .toml profile (see docs/devices.md)",
            where,
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise FormatError(f"cannot read BLE profile {where}: {e}", where) from None
    except tomllib.TOMLDecodeError as e:
        raise FormatError(f"BLE profile {where} is not valid TOML: {e}", where) from None
    known = {"name", "advertised_name", "service", "on_connect", "on_close", "stream"}
    unknown = set(raw) - known
    if unknown:
        raise _fail(
            where, "top level", f"unknown key(s) {sorted(unknown)}; valid: {', '.join(sorted(known))}"
        )
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise _fail(where, "name", "give the board a name (stream names start with it)")
    streams_raw = raw.get("stream")
    if not isinstance(streams_raw, list) or not streams_raw:
        raise _fail(
            where, "stream", "declare at least one [[stream]] with characteristic, dtype, channels, rate_hz"
        )
    stream_keys = {
        "name",
        "modality",
        "characteristic",
        "dtype",
        "byte_order",
        "channels",
        "units",
        "scale",
        "offset",
        "rate_hz",
        "header_bytes",
        "counter",
        "timestamp",
    }
    layouts = []
    for i, s in enumerate(streams_raw):
        at = f"stream[{i}]"
        unknown = set(s) - stream_keys
        if unknown:
            raise _fail(
                where, at, f"unknown key(s) {sorted(unknown)}; valid: {', '.join(sorted(stream_keys))}"
            )
        for key in ("name", "characteristic", "dtype", "channels", "rate_hz"):
            if key not in s:
                raise _fail(where, at, f"missing {key!r}")
        if s["dtype"] not in DTYPES:
            raise _fail(where, f"{at}.dtype", f"{s['dtype']!r} unknown; one of {', '.join(DTYPES)}")
        order = s.get("byte_order", "little")
        if order not in ("little", "big"):
            raise _fail(where, f"{at}.byte_order", f"must be 'little' or 'big', got {order!r}")
        ch = s["channels"]
        channels = (
            tuple(f"ch{k + 1}" for k in range(ch))
            if isinstance(ch, int) and ch > 0
            else tuple(ch)
            if isinstance(ch, list)
            else ()
        )
        if not channels or not all(isinstance(c, str) for c in channels):
            raise _fail(where, f"{at}.channels", "give a list of labels or a channel count >= 1")
        rate = s["rate_hz"]
        if not isinstance(rate, (int, float)) or not rate > 0:
            raise _fail(where, f"{at}.rate_hz", f"must be the sampling rate in Hz (> 0), got {rate!r}")
        units = s.get("units", "1")
        units = (units,) * len(channels) if isinstance(units, str) else tuple(units)
        if len(units) != len(channels):
            raise _fail(where, f"{at}.units", f"{len(units)} units for {len(channels)} channels")
        header = s.get("header_bytes", 0)
        if not isinstance(header, int) or header < 0:
            raise _fail(where, f"{at}.header_bytes", f"must be an int >= 0, got {header!r}")
        try:
            modality = Modality.parse(s.get("modality", "OTHER"))
        except ValueError as e:
            raise _fail(where, f"{at}.modality", str(e)) from None
        counter = _field(s["counter"], where, f"{at}.counter", False) if "counter" in s else None
        stamp = _field(s["timestamp"], where, f"{at}.timestamp", True) if "timestamp" in s else None
        for f, k in ((counter, "counter"), (stamp, "timestamp")):
            if f is not None and f.offset + f.size > header:
                raise _fail(
                    where,
                    f"{at}.{k}",
                    f"bytes {f.offset}..{f.offset + f.size - 1} lie outside the {header}-byte header; "
                    "raise header_bytes",
                )
        layouts.append(
            StreamLayout(
                f"{name}-{s['name']}",
                modality,
                str(s["characteristic"]).lower(),
                s["dtype"],
                order,
                channels,
                units,
                float(s.get("scale", 1.0)),
                float(s.get("offset", 0.0)),
                float(rate),
                header,
                counter,
                stamp,
            )
        )
    return BleProfile(
        name,
        tuple(layouts),
        str(raw.get("advertised_name", "")),
        str(raw.get("service", "")).lower(),
        _writes(raw.get("on_connect"), where, "on_connect"),
        _writes(raw.get("on_close"), where, "on_close"),
        where,
    )


def _read_uint(payload: bytes, f: Field) -> int:
    return int.from_bytes(payload[f.offset : f.offset + f.size], "little")


def decode_payload(layout: StreamLayout, payload: bytes) -> np.ndarray:
    """Samples of one notification in physical units (pure).

    Returns
    -------
    ndarray, float32, shape (n_samples, n_channels)

    Raises
    ------
    MalformedNotification
        Shorter than the header, or the sample bytes are not whole samples.
    """
    body = payload[layout.header_bytes :]
    if len(payload) < layout.header_bytes or not body or len(body) % layout.sample_bytes:
        raise MalformedNotification(
            f"{layout.name}: notification of {len(payload)} bytes does not hold a "
            f"{layout.header_bytes}-byte header "
            f"plus whole samples of {layout.sample_bytes} bytes ({len(layout.channels)} x {layout.dtype})",
            layout.characteristic,
            payload,
        )
    size, kind = DTYPES[layout.dtype]
    n = len(body) // size
    if size == 3:
        b = np.frombuffer(body, np.uint8).reshape(n, 3).astype(np.int64)
        if layout.byte_order == "big":
            b = b[:, ::-1]
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        if kind == "i":
            v = np.where(v >= 1 << 23, v - (1 << 24), v)
        values = v.astype(np.float64)
    else:
        dt = np.dtype(f"{'<' if layout.byte_order == 'little' else '>'}{kind}{size}")
        values = np.frombuffer(body, dt).astype(np.float64)
    out = values.reshape(-1, len(layout.channels)) * layout.scale + layout.offset
    return out.astype(np.float32)


class _Unwrap:
    """Unwraps an unsigned counter that overflows at ``2**bits``."""

    def __init__(self, size: int) -> None:
        self.modulus = 1 << (8 * size)
        self.last: int | None = None
        self.wraps = 0

    def __call__(self, raw: int) -> int:
        if self.last is not None and raw < self.last:
            self.wraps += 1
        self.last = raw
        return self.wraps * self.modulus + raw


class _Track:
    def __init__(self, layout: StreamLayout) -> None:
        self.layout = layout
        self.counter = _Unwrap(layout.counter.size) if layout.counter else None
        self.stamp = _Unwrap(layout.timestamp.size) if layout.timestamp else None
        self.next_seq = 0
        self.first_counter: int | None = None
        self.last_seq = -1
        self.last_t = -math.inf
        self.last_rx_s = math.nan


class ProfileDevice(BleDevice):
    """A BLE board described by a TOML profile (``?profile=board.toml``)."""

    kind = "profile"
    summary = "any BLE board described by a TOML profile (UUIDs, payload layout, scale, rate)"
    params = (
        *BleDevice.common_params,
        Param("profile", str, "", "path of the TOML profile describing the board (required)"),
    )

    def __init__(self, uri, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        if not self.options["profile"]:
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: give the board's profile, e.g. "
                "ble://profile/<address>?profile=board.toml "
                "(format in docs/devices.md)",
                uri=self.uri.raw,
                parameter="profile",
            )
        try:
            self.profile = load_profile(self.options["profile"])
        except FormatError as e:
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: {e}", uri=self.uri.raw, parameter="profile"
            ) from e
        self._tracks = {lay.characteristic: _Track(lay) for lay in self.profile.streams}
        self._infos: dict[str, StreamInfo] = {}

    async def _setup(self, client: Any, first: bool) -> None:
        if first:
            src = f"{self.profile.name}-{self.address}"
            for lay in self.profile.streams:
                self._infos[lay.characteristic] = StreamInfo(
                    lay.name,
                    lay.modality,
                    lay.channels,
                    lay.units,
                    lay.rate_hz,
                    src,
                    {
                        "device": self.profile.name,
                        "address": self.address,
                        "profile": self.profile.path,
                        "dtype": lay.dtype,
                        "scale": lay.scale,
                        "offset": lay.offset,
                    },
                )
            self.streams = tuple(self._infos.values())
        for lay in self.profile.streams:
            await self._subscribe(client, lay.characteristic)
        for w in self.profile.on_connect:
            await client.write_gatt_char(w.characteristic, w.value, response=w.response)

    async def _teardown(self, client: Any) -> None:
        for w in self.profile.on_close:
            await client.write_gatt_char(w.characteristic, w.value, response=w.response)

    def _link_restored(self, dropped_s: float, restored_s: float) -> None:
        for tr in self._tracks.values():
            if tr.counter is None and math.isfinite(tr.last_rx_s):
                tr.next_seq += max(0, int(round((restored_s - tr.last_rx_s) * tr.layout.rate_hz)))

    def _decode(
        self, characteristic: str, payload: bytes, received_s: float
    ) -> list[tuple[StreamInfo, Chunk]]:
        tr = self._tracks.get(characteristic)
        if tr is None:
            raise MalformedNotification(
                f"notification from unexpected characteristic {characteristic}", characteristic, payload
            )
        lay = tr.layout
        data = decode_payload(lay, payload)
        n = data.shape[0]
        if lay.counter is not None:
            c = tr.counter(_read_uint(payload, lay.counter))
            if tr.first_counter is None:
                tr.first_counter = c
            rel = c - tr.first_counter
            seq0 = rel * n if lay.counter.counts == "packets" else rel
        else:
            seq0 = tr.next_seq
        if seq0 <= tr.last_seq:
            raise MalformedNotification(
                f"{lay.name}: counter went back (sample {seq0} after {tr.last_seq}); repeated or reordered "
                "notification",
                characteristic,
                payload,
            )
        seq = np.arange(seq0, seq0 + n, dtype=np.int64)
        if lay.timestamp is not None:
            t0 = tr.stamp(_read_uint(payload, lay.timestamp)) * lay.timestamp.unit_s
            t = t0 + np.arange(n) / lay.rate_hz
        else:
            t = seq / lay.rate_hz
        if t[0] < tr.last_t:
            raise MalformedNotification(
                f"{lay.name}: timestamp went back ({t[0]:.6f} s after {tr.last_t:.6f} s)",
                characteristic,
                payload,
            )
        tr.next_seq = int(seq[-1]) + 1
        tr.last_seq, tr.last_t, tr.last_rx_s = int(seq[-1]), float(t[-1]), received_s
        clock = f"device:{self.profile.name}-{self.address}"
        return [(self._infos[characteristic], Chunk(data, t, seq, clock, received_s))]

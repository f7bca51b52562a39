"""``ble://``: the shared Bluetooth Low Energy lifecycle of every BLE driver, through bleak.

One URI scheme covers every BLE wearable; the first part of the target picks the
driver, the rest is the device address (a MAC address on Linux/Windows, a UUID on
macOS)::

    ble://myo/D2:3A:...            Myo armband        (wearsense.devices.ble_myo)
    ble://polar/A0:9E:...?acc=52   Polar H10 / Verity  (wearsense.devices.ble_polar)
    ble://profile/C4:...?profile=board.toml  a lab's own board (wearsense.devices.ble_profile)

An empty address (``ble://myo``) takes the first device of that kind that answers a
scan. ``wearsense scan`` lists the supported devices nearby with their RSSI.

What this module does for every driver (:class:`BleDevice`):

- **find**: ``BleakScanner.find_device_by_address``; a device that is not found is a
  :class:`~wearsense.errors.DeviceError` that names ``wearsense scan``.
- **connect, subscribe**: ``BleakClient.connect`` within ``connect_timeout_s``, then the
  driver's :meth:`BleDevice._setup` (commands, ``start_notify``). Cancelling the task
  while it connects disconnects the half-open client.
- **notifications**: the bleak callback only timestamps the bytes with the host
  monotonic clock and queues them; decoding happens in the iterator (the driver's
  :meth:`BleDevice._decode`), so a slow consumer never stalls bleak. A notification
  the decoder rejects (:class:`MalformedNotification`) is counted per characteristic
  in :attr:`BleDevice.state` and skipped, never fatal.
- **reconnect**: when the link drops (bleak's ``disconnected_callback``), the iterator
  reconnects with exponential backoff (``backoff_s`` doubling up to ``backoff_max_s``,
  forever unless ``reconnect_attempts`` is set) and the stream resumes; the driver
  advances its sequence numbers over the gap so the loss is recorded (``Chunk.seq``
  jumps) and :attr:`BleLinkState.gaps` holds the host-time span of each outage.

The BleakClient and BleakScanner are injected: ``client_factory(device, on_disconnect)``
and ``scanner`` default to bleak's, and tests pass doubles (see
tests/devices/test_ble_lifecycle.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from wearsense.devices.base import Device, DeviceEvent, DeviceURI, Param
from wearsense.devices.registry import driver_class, kinds, missing_dependency
from wearsense.errors import DeviceError, DeviceURIError, MalformedNotification
from wearsense.stream import Chunk, StreamInfo

log = logging.getLogger("wearsense")

__all__ = [
    "BleDevice",
    "BleLinkState",
    "MalformedNotification",
    "Found",
    "scan",
    "bluetooth_unavailable",
]

_BLUEZ_HINT = (
    "bleak needs a Bluetooth adapter and, on Linux, BlueZ running behind the D-Bus system bus "
    "(/run/dbus/system_bus_socket): install bluez, run 'sudo systemctl start bluetooth', "
    "check 'bluetoothctl show' lists a powered controller; in a container, share the host's D-Bus socket"
)


def bluetooth_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` means "no Bluetooth stack here" rather than "this device failed".

    bleak raises ``FileNotFoundError`` when the D-Bus socket is missing,
    ``BleakDBusError`` when BlueZ is not on the bus, and
    ``BleakBluetoothNotAvailableError`` when no adapter is powered.
    """
    if isinstance(exc, FileNotFoundError):
        return True
    name = type(exc).__name__
    if name in ("BleakBluetoothNotAvailableError", "BleakDBusError"):
        return True
    text = str(exc).lower()
    return any(
        w in text for w in ("org.bluez", "dbus", "no bluetooth adapter", "bluetooth device is turned off")
    )


def _bleak():
    try:
        return importlib.import_module("bleak")
    except ImportError as e:
        raise missing_dependency("ble", "bleak", "ble", "", e) from e


def _default_client_factory(timeout_s: float) -> Callable[[Any, Callable[[Any], None]], Any]:
    def make(device: Any, on_disconnect: Callable[[Any], None]) -> Any:
        return _bleak().BleakClient(device, disconnected_callback=on_disconnect, timeout=timeout_s)

    return make


# ---------------------------------------------------------------------------------------
# discovery
# ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """One advertising device seen by :func:`scan`.

    Attributes
    ----------
    address : str
        MAC address (Linux/Windows) or CoreBluetooth UUID (macOS).
    name : str
        Advertised local name ("" when none).
    rssi_dbm : int or None
        Received signal strength, dBm (closer to 0 is nearer).
    kind : str
        ``"myo"``, ``"polar"``, a profile's name, or ``""`` for an unsupported device.
    service_uuids : tuple of str
        Advertised service UUIDs (lower case).
    """

    address: str
    name: str
    rssi_dbm: int | None
    kind: str
    service_uuids: tuple[str, ...] = ()

    @property
    def uri(self) -> str:
        """The URI that opens this device (``""`` for unsupported devices)."""
        if not self.kind:
            return ""
        kind = self.kind if self.kind in kinds("ble") else "profile"
        return f"ble://{kind}/{self.address}"


def _classify(
    name: str, uuids: Iterable[str], matchers: Sequence[tuple[str, Callable[[str, tuple[str, ...]], bool]]]
) -> str:
    uuids = tuple(u.lower() for u in uuids)
    for kind, match in matchers:
        if match(name, uuids):
            return kind
    return ""


def _driver_matchers() -> list[tuple[str, Callable[[str, tuple[str, ...]], bool]]]:
    out = []
    for kind in ("myo", "polar"):
        out.append((kind, driver_class("ble", f"ble://{kind}").advertises))
    return out


async def scan(
    timeout_s: float = 5.0,
    *,
    scanner: Any = None,
    include_all: bool = False,
    extra_matchers: Sequence[tuple[str, Callable[[str, tuple[str, ...]], bool]]] = (),
) -> list[Found]:
    """Scan for advertising BLE devices and say which ones wearsense can open.

    Parameters
    ----------
    timeout_s : float
        How long to listen, s.
    scanner : object, optional
        Something with bleak's ``BleakScanner.discover(timeout=, return_adv=True)``
        (a test double); default: bleak's scanner.
    include_all : bool
        Also list devices no driver supports.
    extra_matchers : sequence of (kind, predicate(name, service_uuids))
        More device kinds to recognise (e.g. from ``--profile`` files).

    Returns
    -------
    list of Found
        Strongest signal first.

    Raises
    ------
    DeviceError
        Bluetooth is not available here; the message says what bleak needs (BlueZ,
        D-Bus, a powered adapter).
    """
    if scanner is None:
        scanner = _bleak().BleakScanner
    try:
        seen = await scanner.discover(timeout=timeout_s, return_adv=True)
    except Exception as e:  # bleak has no common base for "no stack": classify, re-raise
        if bluetooth_unavailable(e):
            raise DeviceError(
                f"cannot scan for BLE devices: Bluetooth is not available ({e!r}); {_BLUEZ_HINT}"
            ) from e
        raise DeviceError(f"BLE scan failed: {e}") from e
    matchers = [*_driver_matchers(), *extra_matchers]
    found = []
    for address, (dev, adv) in dict(seen).items():
        name = getattr(adv, "local_name", None) or getattr(dev, "name", None) or ""
        uuids = tuple(str(u).lower() for u in (getattr(adv, "service_uuids", None) or ()))
        kind = _classify(name, uuids, matchers)
        if kind or include_all:
            found.append(
                Found(str(getattr(dev, "address", address)), name, getattr(adv, "rssi", None), kind, uuids)
            )
    found.sort(key=lambda f: -(f.rssi_dbm if f.rssi_dbm is not None else -999))
    return found


# ---------------------------------------------------------------------------------------
# lifecycle
# ---------------------------------------------------------------------------------------
@dataclass
class BleLinkState:
    """What the link has been through (inspectable while streaming).

    Attributes
    ----------
    address : str
        The device address in use.
    connected : bool
        Link up now.
    connects : int
        Successful connections (1 + reconnections).
    drops : int
        Times the link was lost while streaming.
    reconnect_attempts : int
        Connection attempts made after drops (failed and successful).
    gaps : list of (float, float)
        Host monotonic time (s) of each drop and of the reconnection that ended it.
    notifications : int
        Notifications received.
    malformed : dict
        Characteristic UUID -> notifications rejected by the decoder.
    last_error : str
        The most recent connection error, ``""`` if none.
    """

    address: str = ""
    connected: bool = False
    connects: int = 0
    drops: int = 0
    reconnect_attempts: int = 0
    gaps: list[tuple[float, float]] = field(default_factory=list)
    notifications: int = 0
    malformed: dict[str, int] = field(default_factory=dict)
    last_error: str = ""

    @property
    def malformed_total(self) -> int:
        return sum(self.malformed.values())


class _Dropped:
    """Queue marker: the link went down at host time ``at_s``."""

    def __init__(self, at_s: float) -> None:
        self.at_s = at_s


_CLOSED = object()
_ADDRESS = re.compile(
    r"^([0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{8}-([0-9A-Fa-f]{4}-){3}[0-9A-Fa-f]{12})$"
)


class BleDevice(Device):
    """Base of every BLE driver (``ble://<kind>/<address>``).

    The registry picks the driver from the first part of the target
    (``ble://myo/AA:BB:...`` opens :class:`~wearsense.devices.ble_myo.MyoDevice`, the
    registry's ``"ble/myo"``); this base class only declares what every kind shares.

    Parameters
    ----------
    uri : str or DeviceURI
    client_factory : callable, optional
        ``client_factory(device, on_disconnect) -> client`` with bleak's ``BleakClient``
        interface (``connect``, ``disconnect``, ``start_notify``, ``stop_notify``,
        ``write_gatt_char``, ``read_gatt_char``). Default: bleak.
    scanner : object, optional
        With bleak's ``BleakScanner`` static methods ``find_device_by_address`` and
        ``discover``. Default: bleak.

    Subclasses implement :meth:`_setup` (after connecting: commands, notifications,
    and ``self.streams`` on the first connection), :meth:`_decode` (one notification to
    ``(StreamInfo, Chunk)`` pairs) and optionally :meth:`_teardown` (before a clean
    disconnect) and :meth:`advertises` (for ``wearsense scan``).
    """

    scheme = "ble"
    summary = "BLE wearables through bleak: ble://myo/<address>, ble://polar/<address>, ble://profile/<address>?profile=x.toml"
    kind: ClassVar[str] = ""
    common_params: ClassVar[tuple[Param, ...]] = (
        Param(
            "connect_timeout_s",
            float,
            20.0,
            "time allowed to find and connect the device, s",
            min=0.5,
            max=600,
        ),
        Param("reconnect", bool, True, "reconnect automatically when the link drops"),
        Param(
            "reconnect_attempts", int, 0, "give up after this many failed reconnections (0 = never)", min=0
        ),
        Param(
            "backoff_s", float, 0.5, "first wait before reconnecting, s (doubles each try)", min=0.0, max=60
        ),
        Param(
            "backoff_max_s", float, 10.0, "longest wait between reconnection attempts, s", min=0.0, max=600
        ),
    )
    params = common_params

    def __init__(
        self, uri: DeviceURI | str, *, client_factory: Callable[..., Any] | None = None, scanner: Any = None
    ) -> None:
        super().__init__(uri)
        if type(self) is BleDevice:
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: say which kind of BLE device; write "
                + ", ".join(f"ble://{k}/<address>" for k in kinds("ble"))
                + " (run 'wearsense scan' to list nearby devices and their URIs)",
                uri=self.uri.raw,
            )
        parts = self.uri.target.strip("/").split("/", 1)
        self.address = parts[1].strip("/") if len(parts) > 1 else ""
        if self.address and not _ADDRESS.match(self.address):
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: {self.address!r} is not a BLE address; expected "
                "AA:BB:CC:DD:EE:FF (Linux, Windows) or a 36-character UUID (macOS); run 'wearsense scan'",
                uri=self.uri.raw,
            )
        self._client_factory = client_factory or _default_client_factory(self.options["connect_timeout_s"])
        self._scanner = scanner
        self.state = BleLinkState(address=self.address)
        self._client: Any = None
        self._queue: asyncio.Queue = asyncio.Queue()
        self._closing = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- for subclasses -------------------------------------------------------------
    @classmethod
    def advertises(cls, name: str, service_uuids: tuple[str, ...]) -> bool:
        """Whether an advertisement (local name, service UUIDs) is a device of this kind."""
        return False

    async def _setup(self, client: Any, first: bool) -> None:
        """After each connection: send commands, subscribe, and (``first``) set ``self.streams``."""
        raise NotImplementedError

    def _decode(
        self, characteristic: str, payload: bytes, received_s: float
    ) -> list[tuple[StreamInfo, Chunk]]:
        """One notification -> chunks; raise :class:`MalformedNotification` for bad bytes."""
        raise NotImplementedError

    async def _teardown(self, client: Any) -> None:
        """Before a clean disconnect (stop measurements, let the device sleep)."""

    def _link_restored(self, dropped_s: float, restored_s: float) -> None:
        """Called after a reconnection; drivers advance sequence numbers over the gap."""

    # -- helpers for subclasses --------------------------------------------------------
    async def _subscribe(self, client: Any, characteristic: str) -> None:
        """``start_notify`` whose callback queues ``(uuid, bytes, host time)``."""
        uuid = characteristic.lower()

        def on_notify(_sender: Any, data: bytearray) -> None:
            self._post((uuid, bytes(data), time.monotonic()))

        await client.start_notify(uuid, on_notify)

    def _post(self, item: Any) -> None:
        loop = self._loop
        if loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._queue.put_nowait(item)
        else:  # bleak backends may call back from another thread
            loop.call_soon_threadsafe(self._queue.put_nowait, item)

    # -- lifecycle ----------------------------------------------------------------------
    def _on_disconnect(self, client: Any) -> None:
        if client is not self._client or self._closing.is_set():
            return
        self.state.connected = False
        self._post(_Dropped(time.monotonic()))

    async def _find(self) -> Any:
        scanner = self._scanner if self._scanner is not None else _bleak().BleakScanner
        timeout = self.options["connect_timeout_s"]
        try:
            if self.address:
                device = await scanner.find_device_by_address(self.address, timeout=timeout)
            else:
                found = await scan(timeout, scanner=scanner)
                match = [f for f in found if f.kind == self.kind]
                device = None
                if match:
                    self.address = self.state.address = match[0].address
                    device = await scanner.find_device_by_address(self.address, timeout=timeout)
        except DeviceError:
            raise
        except Exception as e:  # classify bleak/OS errors into one clear message
            if bluetooth_unavailable(e):
                raise DeviceError(
                    f"{self.uri.raw}: Bluetooth is not available ({e!r}); {_BLUEZ_HINT}", self.uri.raw
                ) from e
            raise DeviceError(f"{self.uri.raw}: looking for the device failed: {e}", self.uri.raw) from e
        if device is None:
            what = f"no BLE device with address {self.address}" if self.address else f"no {self.kind} device"
            raise DeviceError(
                f"{self.uri.raw}: {what} found within {timeout:g} s; check it is switched on, charged, "
                "in range and not connected to another app or phone, then run 'wearsense scan' to list "
                "nearby devices and their addresses",
                self.uri.raw,
            )
        return device

    async def _connect_once(self, first: bool) -> None:
        device = await self._find()
        client = self._client_factory(device, self._on_disconnect)
        self._client = client
        ok = False
        try:
            try:
                await asyncio.wait_for(client.connect(), self.options["connect_timeout_s"])
            except asyncio.TimeoutError:
                raise DeviceError(
                    f"{self.uri.raw}: connecting took longer than {self.options['connect_timeout_s']:g} s; "
                    "move closer, make sure no phone app holds the device, or raise connect_timeout_s",
                    self.uri.raw,
                ) from None
            except DeviceError:
                raise
            except Exception as e:  # bleak raises BleakError/OSError subclasses
                if bluetooth_unavailable(e):
                    raise DeviceError(
                        f"{self.uri.raw}: Bluetooth is not available ({e!r}); {_BLUEZ_HINT}", self.uri.raw
                    ) from e
                raise DeviceError(f"{self.uri.raw}: connection failed: {e}", self.uri.raw) from e
            try:
                await self._setup(client, first)
            except DeviceError:
                raise
            except Exception as e:  # GATT errors from bleak while subscribing/writing
                raise DeviceError(f"{self.uri.raw}: setting up the device failed: {e}", self.uri.raw) from e
            ok = True
        finally:
            if not ok:
                self._client = None
                with contextlib.suppress(Exception):
                    await client.disconnect()
        self.state.connected = True
        self.state.connects += 1
        log.info("%s: connected to %s", self.uri.raw, self.address)

    async def _open(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._closing.clear()
        await self._connect_once(first=True)

    async def _close(self) -> None:
        self._closing.set()
        self._post(_CLOSED)
        client, self._client = self._client, None
        self.state.connected = False
        if client is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._teardown(client), 5.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.disconnect(), 5.0)

    async def _wait_or_closed(self, aw: Any) -> bool:
        """Await ``aw`` unless the device is closed first (then cancel it); True if it finished."""
        task = asyncio.ensure_future(aw)
        closed = asyncio.ensure_future(self._closing.wait())
        try:
            done, _ = await asyncio.wait({task, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        if task in done:
            task.result()
            return True
        return False

    async def _reconnect(self, dropped: _Dropped) -> bool:
        """Reconnect with exponential backoff; False if closed meanwhile."""
        o = self.options
        self.state.drops += 1
        if not o["reconnect"]:
            raise DeviceError(
                f"{self.uri.raw}: the BLE link dropped and reconnect=0; reopen the device, or leave "
                "reconnect on",
                self.uri.raw,
            )
        old, self._client = self._client, None
        if old is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(old.disconnect(), 2.0)
        msg = "BLE link lost; reconnecting (the samples missed are a seq gap)"
        self._report(DeviceEvent("disconnect", msg, host_s=dropped.at_s))
        delay = o["backoff_s"]
        failures = 0
        while True:
            if not await self._wait_or_closed(asyncio.sleep(delay)):
                return False
            self.state.reconnect_attempts += 1
            try:
                if not await self._wait_or_closed(self._connect_once(first=False)):
                    return False
            except DeviceError as e:
                failures += 1
                self.state.last_error = str(e)
                if o["reconnect_attempts"] and failures >= o["reconnect_attempts"]:
                    raise DeviceError(
                        f"{self.uri.raw}: link lost and {failures} reconnection attempts failed (last: {e}); "
                        "bring the device back in range and reopen it",
                        self.uri.raw,
                    ) from e
                log.info("%s: reconnection attempt %d failed: %s", self.uri.raw, failures, e)
                delay = min(max(delay, 0.05) * 2.0, o["backoff_max_s"])
                continue
            restored = time.monotonic()
            self.state.gaps.append((dropped.at_s, restored))
            self._link_restored(dropped.at_s, restored)
            self._report(
                DeviceEvent(
                    "reconnect",
                    f"BLE link back after {restored - dropped.at_s:.2f} s",
                    host_s=restored,
                    detail={"lost_s": restored - dropped.at_s},
                )
            )
            return True

    async def _chunks(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        while True:
            item = await self._queue.get()
            if item is _CLOSED or self._closing.is_set():
                return
            if isinstance(item, _Dropped):
                if not await self._reconnect(item):
                    return
                continue
            uuid, payload, received_s = item
            self.state.notifications += 1
            try:
                out = self._decode(uuid, payload, received_s)
            except MalformedNotification as e:
                self.state.malformed[uuid] = self.state.malformed.get(uuid, 0) + 1
                log.debug("%s: skipped malformed notification on %s: %s", self.uri.raw, uuid, e)
                continue
            for pair in out:
                yield pair

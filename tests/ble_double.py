"""A test double of bleak (BleakClient, BleakScanner) and of the BLE peripherals it
talks to, shared by the BLE driver tests and the fault matrix. The drivers under test
are the real ones; only bleak is replaced (CI has no radio)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace


class Peripheral:
    """One simulated BLE device: GATT reads, writes, notifications, link drops."""

    def __init__(self, address: str, name: str, reads: dict[str, bytes] | None = None) -> None:
        self.address = address
        self.name = name
        self.reads = dict(reads or {})
        self.writes: list[tuple[str, bytes]] = []
        self.subscribers: dict[str, object] = {}
        self.client: FakeClient | None = None
        self.connects = 0
        self.refuse = 0  # refuse this many connection attempts
        self.hang = False  # connect() never returns
        self.answer = None  # called with (uuid, data) on each write

    def notify(self, uuid: str, data: bytes) -> None:
        cb = self.subscribers.get(uuid.lower())
        assert cb is not None, f"nobody subscribed to {uuid}"
        cb(SimpleNamespace(uuid=uuid), bytearray(data))

    def offer(self, uuid: str, data: bytes) -> bool:
        """Send a notification if anybody is subscribed (a dropped link has nobody)."""
        if uuid.lower() not in self.subscribers:
            return False
        self.notify(uuid, data)
        return True

    def drop(self) -> None:
        client, self.client = self.client, None
        self.subscribers.clear()
        client.connected = False
        client.on_disconnect(client)


class FakeClient:
    """Test double of bleak.BleakClient, talking to a :class:`Peripheral`."""

    def __init__(self, peripheral: Peripheral, on_disconnect) -> None:
        self.p = peripheral
        self.on_disconnect = on_disconnect
        self.connected = False
        self.disconnects = 0

    async def connect(self) -> None:
        if self.p.hang:
            await asyncio.Event().wait()
        if self.p.refuse:
            self.p.refuse -= 1
            raise OSError("le-connection-abort-by-local")
        self.connected = True
        self.p.client = self
        self.p.connects += 1

    async def disconnect(self) -> None:
        self.disconnects += 1
        self.connected = False

    async def start_notify(self, uuid, callback) -> None:
        self.p.subscribers[str(uuid).lower()] = callback

    async def stop_notify(self, uuid) -> None:
        self.p.subscribers.pop(str(uuid).lower(), None)

    async def read_gatt_char(self, uuid) -> bytearray:
        return bytearray(self.p.reads[str(uuid).lower()])

    async def write_gatt_char(self, uuid, data, response=None) -> None:
        self.p.writes.append((str(uuid).lower(), bytes(data)))
        if self.p.answer is not None:
            self.p.answer(str(uuid).lower(), bytes(data))


class FakeScanner:
    """Test double of bleak.BleakScanner (the two static methods wearsense uses)."""

    def __init__(self, *peripherals: Peripheral) -> None:
        self.peripherals = {p.address: p for p in peripherals}
        self.hidden: set[str] = set()

    async def find_device_by_address(self, address, timeout=10.0):
        p = self.peripherals.get(address)
        return (
            None
            if p is None or address in self.hidden
            else SimpleNamespace(address=address, name=p.name, peripheral=p)
        )

    async def discover(self, timeout=5.0, return_adv=False):
        return {
            a: (
                SimpleNamespace(address=a, name=p.name),
                SimpleNamespace(local_name=p.name, rssi=-60, service_uuids=[]),
            )
            for a, p in self.peripherals.items()
            if a not in self.hidden
        }


class Radio:
    """What a BLE driver sees: a scanner that finds ``peripherals``, and every client made."""

    def __init__(self, *peripherals: Peripheral, scanner: FakeScanner | None = None) -> None:
        self.scanner = scanner if scanner is not None else FakeScanner(*peripherals)
        self.clients: list[FakeClient] = []

    def _make(self, device, on_disconnect) -> FakeClient:
        c = FakeClient(device.peripheral, on_disconnect)
        self.clients.append(c)
        return c

    def device(self, cls, uri: str):
        """The real driver ``cls`` for ``uri``, with bleak replaced by this radio's doubles."""
        return cls(uri, client_factory=self._make, scanner=self.scanner)

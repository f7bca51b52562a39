"""The serial:// transport alone (no protocol): bytes in order with the host time of each
read, queued writes, and a clear error when the port cannot be opened; on a pseudo-terminal."""

from __future__ import annotations

import os
import threading
import time

import pytest

from wearsense.devices.serial_transport import SerialTransport
from wearsense.errors import DeviceError


class Recorder:
    """A listener that keeps what the transport tells it."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.reads: list[tuple[int, float]] = []
        self.ticks = 0
        self.events: list[str] = []
        self.done = threading.Event()

    def tick(self, now: float) -> None:
        self.ticks += 1

    def awaiting_reply(self) -> bool:
        return False

    def received(self, data: bytes, reads: list[tuple[int, float]]) -> None:
        assert sum(n for n, _ in reads) == len(data)  # every byte belongs to one read
        self.data += data
        self.reads += reads

    def disconnected(self, error: BaseException) -> None:
        self.events.append("disconnected")

    def reconnected(self) -> None:
        self.events.append("reconnected")

    def failed(self, error: DeviceError) -> None:
        self.events.append(f"failed: {error}")

    def ended(self) -> None:
        self.done.set()


@pytest.fixture
def pty():
    master, slave = os.openpty()
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def test_bytes_arrive_in_order_with_the_host_time_of_each_read_and_writes_go_out(pty):
    master, path = pty
    transport = SerialTransport("serial://" + path, path, 921600, batch_s=0.01, reconnect_timeout_s=0)
    transport.open()
    listener = Recorder()
    transport.start(listener)
    sent = bytes(range(256)) * 40
    t0 = time.monotonic()
    for k in range(0, len(sent), 1000):
        os.write(master, sent[k : k + 1000])
    transport.write(b"\x01\x02\x03")
    deadline = time.monotonic() + 30
    while len(listener.data) < len(sent) and time.monotonic() < deadline:
        time.sleep(0.01)
    echoed = b""
    while len(echoed) < 3 and time.monotonic() < deadline:
        echoed += os.read(master, 3 - len(echoed))
    transport.close()
    assert bytes(listener.data) == sent
    times = [t for _, t in listener.reads]
    assert times == sorted(times) and times[0] >= t0
    assert echoed == b"\x01\x02\x03" and listener.ticks > 0
    assert listener.done.is_set() and listener.events == []


def test_a_port_that_cannot_be_opened_names_the_port_and_how_to_list_ports():
    transport = SerialTransport("serial:///dev/ttyWEARSENSE9", "/dev/ttyWEARSENSE9", 9600, 0.1, 0)
    with pytest.raises(DeviceError, match=r"cannot open serial port '/dev/ttyWEARSENSE9'.*list_ports"):
        transport.open()

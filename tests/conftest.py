"""Fixtures shared by every test folder: the firmware_bridge C build (made once per test
session into a temp dir) and the rule for a missing toolchain (skip on a laptop, fail in CI)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIRMWARE = ROOT / "firmware_bridge"


def require_toolchain(env: Mapping[str, str] = os.environ, which=shutil.which) -> None:
    """Skip the calling test when ``make`` or the C compiler (``$CC``, default ``cc``) is missing;
    fail instead when ``CI=true``, so that CI can never pass by skipping the C core."""
    missing = [tool for tool in ("make", env.get("CC", "cc")) if which(tool) is None]
    if not missing:
        return
    why = (
        f"the firmware_bridge tests need make and a C compiler; missing: {', '.join(missing)}; "
        "install build-essential (Debian/Ubuntu) or the Xcode command-line tools (macOS)"
    )
    if env.get("CI", "").lower() == "true":
        pytest.fail(f"{why} (CI=true: a missing toolchain fails the run instead of skipping)")
    pytest.skip(why)


def make(build: Path, *targets: str, sanitize: bool = False) -> subprocess.CompletedProcess:
    require_toolchain()
    cmd = ["make", "-s", "-C", str(FIRMWARE), f"BUILD={build}", *targets]
    if sanitize:
        cmd.append("SANITIZE=1")
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="session")
def build_dir(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("wsb-build")
    r = make(build, "all")
    assert r.returncode == 0, r.stdout + r.stderr
    return build


@pytest.fixture(scope="session")
def firmware_dir() -> Path:
    return FIRMWARE


@pytest.fixture(scope="session")
def make_firmware():
    """``make_firmware(build_dir, *targets, sanitize=False)`` runs the firmware_bridge Makefile."""
    return make


@pytest.fixture(scope="session")
def toolchain_check():
    """``toolchain_check(env, which)``: the skip-or-fail rule every C-building fixture applies."""
    return require_toolchain


@pytest.fixture(scope="session")
def emulator_binary(build_dir) -> Path:
    """``wsb_emulator``, the board emulator built from firmware_bridge/."""
    return build_dir / "wsb_emulator"


class EmulatedBoard:
    """One emulated wearable (``wsb_emulator``) on a pseudo-terminal reached through a stable
    link path, as a USB serial node is: ``uri()`` to open it, ``log()`` for what it injected
    and did; it can be killed (power lost) and started again (the same board).
    """

    def __init__(self, binary: Path, tmp: Path, args: list[str], link_name: str = "ttyEMU") -> None:
        self.binary, self.args = binary, list(args)
        self.link = tmp / link_name
        self.logs: list[Path] = []
        self.proc: subprocess.Popen | None = None
        self.pty = ""
        self.start()

    def uri(self, **params) -> str:
        q = "&".join(f"{k}={v}" for k, v in params.items())
        return f"serial://{self.link}" + (f"?{q}" if q else "")

    def start(self, *extra: str) -> None:
        """Power the board on (again): a new process on a new pty behind the same link."""
        log = self.link.with_name(f"{self.link.name}-run{len(self.logs)}.jsonl")
        self.logs.append(log)
        cmd = [str(self.binary), "--link", str(self.link), "--log", str(log), *self.args, *extra]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("PTY "):
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r} {self.proc.stderr.read()}")
        self.pty = line.split()[1]

    def log(self) -> list[dict]:
        """Every JSON line the board's runs logged, in order."""
        out = []
        for p in self.logs:
            if p.exists():
                out += [json.loads(x) for x in p.read_text().splitlines() if x.strip()]
        return out

    def kill(self) -> None:
        """SIGKILL: the board loses power; its pty vanishes with the process, and so does the
        link to it (as a USB serial node does: left dangling, the link could meet another
        program's pty that reuses the number)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.link.unlink(missing_ok=True)
        self._close()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._close()

    def _close(self) -> None:
        if self.proc is not None:
            self.proc.stdout.close()
            self.proc.stderr.close()
            self.proc = None


@pytest.fixture
def emulator(emulator_binary, tmp_path):
    """Factory: ``emulator("--speed", "5", ...)`` starts one :class:`EmulatedBoard`; all are
    stopped after the test."""
    started: list[EmulatedBoard] = []

    def start(*args: str, link_name: str = "ttyEMU") -> EmulatedBoard:
        board = EmulatedBoard(emulator_binary, tmp_path, list(args), link_name)
        started.append(board)
        return board

    yield start
    for board in started:
        board.stop()


class OscReceiver:
    """A real python-osc server on 127.0.0.1 (a free port) that keeps every packet and message.

    ``packets``: the raw datagrams, in arrival order; ``messages``: ``(address, args)`` of
    every message, bundles unpacked; :meth:`wait_for` polls until a predicate holds.
    """

    def __init__(self) -> None:
        import socket
        import threading

        from pythonosc import dispatcher, osc_server

        receiver = self
        self.packets: list[bytes] = []
        self.messages: list[tuple[str, tuple]] = []
        self._lock = threading.Lock()

        class Recording(dispatcher.Dispatcher):
            def call_handlers_for_packet(self, data, client_address):
                with receiver._lock:
                    receiver.packets.append(bytes(data))
                return super().call_handlers_for_packet(data, client_address)

        d = Recording()
        d.set_default_handler(self._on_message)
        self.server = osc_server.ThreadingOSCUDPServer(("127.0.0.1", 0), d)
        # a fast (realtime=0) run sends bursts; the default receive buffer (~200 kB) can overflow
        # on a loaded machine, and UDP drops what does not fit
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.port = self.server.server_address[1]
        self.target = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _on_message(self, address, *args) -> None:
        with self._lock:
            self.messages.append((address, args))

    def by_address(self, address: str) -> list[tuple]:
        with self._lock:
            return [args for a, args in self.messages if a == address]

    def wait_for(self, predicate, timeout_s: float = 10.0) -> bool:
        import time

        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if predicate(self):
                return True
            time.sleep(0.02)
        return predicate(self)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def osc_receiver():
    """A live OSC server on a free loopback port: ``osc_receiver.target`` is its ``host:port``."""
    receiver = OscReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def module_osc_receiver():
    """:func:`osc_receiver` shared by the tests of one module (one run, several checks)."""
    receiver = OscReceiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="session")
def fresh_fusion_model():
    """A FusionModel with fresh (seeded, untrained) weights sized for the virtual mover's
    channels, for tests of what does not depend on its weights: clocks, steps, publishing,
    checkpoints, the live views. Skips where torch is not installed."""
    torch = pytest.importorskip("torch")
    import wearsense
    from wearsense.fusion.featurize import StepFeaturizer
    from wearsense.fusion.frames import FeatureSpec
    from wearsense.fusion.model import FusionModel, ModelConfig
    from wearsense.sim.body import JOINTS, KEYPOINTS

    torch.set_num_threads(1)
    torch.manual_seed(0)
    spec = FeatureSpec()
    with wearsense.open("sim://mover?realtime=0&duration_s=0.1") as dev:
        names = dict(StepFeaturizer(spec, dev.streams).names)
    names.update(joints=[j.name for j in JOINTS], keypoints=[k[0] for k in KEYPOINTS])
    dims = {"C": len(names["emg"]), "P": spec.emg_patch, "S": len(names["imu"]),
            "F": len(names["imu_features"]), "D": len(names["pose"]), "E": spec.event_slots,
            "H": len(spec.horizons_ms), "J": len(JOINTS), "Q": len(KEYPOINTS)}  # fmt: skip
    return FusionModel(ModelConfig(d_model=32, heads=2), spec, dims, names).eval()

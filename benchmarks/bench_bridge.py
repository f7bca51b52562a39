"""firmware_bridge decoding: throughput of the vectorised decoder, and host CPU of a live device.

1. Decoder throughput (MB/s of wire bytes, to samples x channels arrays per stream) on
   the target load: 16 EMG channels int24 @ 2 kHz (10 ms frames) + 4 IMUs x 9 ch int16
   @ 200 Hz, fed in 1 MB pieces (a file or a backlog; the live path is item 2).
   Reference, same run and same bytes: a naive per-frame loop (split on 0x00,
   COBS in Python, ``binascii.crc_hqx``, ``struct.unpack`` of header and samples).
   Targets (issue 4): >= 20x the naive loop and >= 50 MB/s.
2. Host CPU of ``serial://`` reading the emulator (real C encoder, pty, real time) at
   that load: process CPU time / wall time while streaming. Target: < 5 % of one core.
"""

import asyncio
import struct
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from wearsense import bridge as wb
from wearsense.devices import open_device

ROOT = Path(__file__).resolve().parents[1]
EMG_CH, EMG_RATE, EMG_SPF = 16, 2000, 20
IMUS, IMU_CH, IMU_RATE, IMU_SPF = 4, 9, 200, 2


def _stream_bytes(duration_s: float, seed: int = 0) -> bytes:
    """Wire bytes of the target load; EMG counts ~ N(0, 20000) (about 0.45 mV RMS at the ADS1299 LSB)."""
    rng = np.random.default_rng(seed)
    frames = []
    n_emg_frames = int(duration_s * EMG_RATE / EMG_SPF)
    for f in range(n_emg_frames):
        t_us = f * EMG_SPF * 500
        emg = np.clip(rng.normal(0, 20000, (EMG_SPF, EMG_CH)), -(2**23), 2**23 - 1).astype(np.int64)
        payload = wb.payload_data(wb.FMT_INT24, emg, 128000)
        frames.append(wb.build_frame(wb.T_DATA, 0, f * EMG_SPF, t_us, payload))
        if f % 5 == 0:  # IMU frames every 10 ms... every 2 samples at 200 Hz
            k = (f // 5) * IMU_SPF
            for i in range(IMUS):
                imu = rng.integers(-4000, 4000, (IMU_SPF, IMU_CH))
                payload = wb.payload_data(wb.FMT_INT16, imu, 1280000)
                frames.append(wb.build_frame(wb.T_DATA, 1 + i, k, t_us, payload))
    return b"".join(frames)


def _layouts():
    out = {0: wb.StreamLayout(0, wb.FMT_INT24, EMG_CH, np.full(EMG_CH, 2.2351741e-8, np.float32))}
    for i in range(IMUS):
        out[1 + i] = wb.StreamLayout(1 + i, wb.FMT_INT16, IMU_CH, np.ones(IMU_CH, np.float32))
    return out


def _vectorised(wire: bytes, piece: int = 1 << 20) -> int:
    dec = wb.FrameDecoder(resync=False)
    layouts = _layouts()
    n = 0
    mv = memoryview(wire)
    for a in range(0, len(wire), piece):
        batch = dec.feed(mv[a : a + piece])
        data = batch.type == wb.T_DATA
        for sid, layout in layouts.items():
            block = wb.decode_samples(batch.select(data & (batch.stream == sid)), layout, physical=True)
            n += block.raw.shape[0]
    return n


def _naive(wire: bytes) -> int:
    layouts = {0: (wb.FMT_INT24, EMG_CH), **{1 + i: (wb.FMT_INT16, IMU_CH) for i in range(IMUS)}}
    out: dict[int, list] = {k: [] for k in layouts}
    for enc in wire.split(b"\x00"):
        if not enc:
            continue
        try:
            frame = wb.cobs_decode(enc)
        except wb.FrameError:
            continue
        if len(frame) < wb.MIN_FRAME or wb.crc16(frame[:-2]) != struct.unpack(">H", frame[-2:])[0]:
            continue
        _, type_, stream, _flags, seq, ts = struct.unpack_from("<BBBBII", frame)
        if type_ != wb.T_DATA or stream not in layouts:
            continue
        fmt, n_ch = layouts[stream]
        n, period = struct.unpack_from("<HI", frame, 12)
        if fmt == wb.FMT_INT16:
            vals = struct.unpack_from(f"<{n * n_ch}h", frame, 18)
        else:
            pairs = struct.unpack_from("<" + "Bh" * (n * n_ch), frame, 18)
            vals = [lo | (hi << 8) for lo, hi in zip(pairs[::2], pairs[1::2])]
        for i in range(n):
            out[stream].append((seq + i, ts + i * period / 256.0, vals[i * n_ch : (i + 1) * n_ch]))
    return sum(len(v) for v in out.values())


def _best_of(fn, repeats):
    best, result = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def _host_cpu(seconds: float) -> tuple[float, int]:
    """CPU fraction of one core used by this process while serial:// reads the emulator in real time."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            ["make", "-s", "-C", str(ROOT / "firmware_bridge"), f"BUILD={tmp}", f"{tmp}/wsb_emulator"],
            check=True,
            capture_output=True,
        )
        link = Path(tmp) / "tty"
        emu = subprocess.Popen(
            [f"{tmp}/wsb_emulator", "--link", str(link), "--emg-channels", str(EMG_CH), "--imus", str(IMUS),
             "--speed", "1"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        emu.stdout.readline()
        try:

            async def go():
                samples = 0
                async with open_device(f"serial://{link}?sync_interval_s=1") as dev:
                    it = dev.__aiter__()
                    await it.__anext__()  # streaming: start the clocks here
                    w0, c0 = time.perf_counter(), time.process_time()
                    while time.perf_counter() - w0 < seconds:
                        _, chunk = await it.__anext__()
                        samples += chunk.n
                    cpu = (time.process_time() - c0) / (time.perf_counter() - w0)
                    await it.aclose()
                    assert dev.state.corrupt_frames == 0
                return cpu, samples

            return asyncio.run(go())
        finally:
            emu.terminate()
            emu.wait()


def run(quick: bool = False) -> list[dict]:
    duration = 10.0 if quick else 60.0
    wire = _stream_bytes(duration)
    mb = len(wire) / 1e6
    _vectorised(wire[:100000])  # load the compiled kernel
    t_vec, n_vec = _best_of(lambda: _vectorised(wire), 3)
    t_naive, n_naive = _best_of(lambda: _naive(wire), 1 if quick else 2)
    assert n_vec == n_naive, (n_vec, n_naive)
    ratio = t_naive / t_vec
    cpu, samples = _host_cpu(3.0 if quick else 10.0)
    return [
        {
            "name": f"bridge decoder, 16 ch EMG @ 2 kHz int24 + 4 IMU @ 200 Hz ({mb:.1f} MB)",
            "value": mb / t_vec,
            "unit": "MB/s",
            "reference": "naive per-frame struct.unpack loop",
            "reference_value": mb / t_naive,
            "ratio": ratio,
            "target": ">= 20x and >= 50 MB/s",
            "met": bool(ratio >= 20 and mb / t_vec >= 50),
        },
        {
            "name": f"serial:// host CPU, emulator in real time, same load ({samples} samples read)",
            "value": 100 * cpu,
            "unit": "% of one core",
            "reference": "budget",
            "reference_value": 5.0,
            "ratio": 5.0 / max(100 * cpu, 1e-9),
            "target": "< 5 % of one core",
            "met": bool(100 * cpu < 5),
        },
    ]

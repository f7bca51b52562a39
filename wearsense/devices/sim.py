"""``sim://mover``: the virtual mover as a live device (no hardware needed).

Every stream of :mod:`wearsense.sim` arrives as it would from real wearables: one
chunk per packet, device timestamps (each device's own clock) and sequence numbers
untouched, host arrival time in ``received_s``, packets in order of arrival across
devices. Paced in real time by default; ``realtime=0`` delivers as fast as possible
(tests, benchmarks) with ``received_s`` on the simulated host clock.

Example: ``sim://mover?seed=3&emg=8&imu=4&drift_ppm=40&loss=0.01&realtime=0&duration_s=10``
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import AsyncIterator

import numpy as np

from wearsense.devices.base import Device, Param
from wearsense.errors import DeviceURIError, WearsenseError
from wearsense.sim import IMU_SITES, KINDS, MUSCLES
from wearsense.sim.mover import BLOCK_S, Mover, SimConfig
from wearsense.stream import Chunk, StreamInfo

__all__ = ["SimDevice"]

#: URI parameter -> SimConfig field, for parameters that map one to one.
_CONFIG_PARAMS = {
    "emg": "emg",
    "emg_rate": "emg_rate_hz",
    "imu": "imu",
    "imu_rate": "imu_rate_hz",
    "pose": "pose",
    "pose_rate": "pose_rate_hz",
    "emd_ms": "emd_ms",
    "drift_ppm": "drift_ppm",
    "offset_s": "offset_s",
    "latency_ms": "latency_ms",
    "jitter_ms": "jitter_ms",
    "ble_interval_ms": "ble_interval_ms",
    "ble_per_event": "ble_per_event",
    "loss": "loss",
    "packet_ms": "packet_ms",
    "pose_latency_ms": "pose_latency_ms",
    "pose_noise_m": "pose_noise_m",
    "occlusion": "occlusion_per_min",
    "mains_hz": "mains_hz",
    "mains_uv": "mains_uv",
    "emg_noise_uv": "emg_noise_uv",
    "person": "person",
    "emg_model": "emg_model",
    "session": "session",
    "tremor": "tremor",
    "body": "body",
    "ground": "ground",
}


class SimDevice(Device):
    """The virtual mover behind the device interface; see :mod:`wearsense.sim`."""

    scheme = "sim"
    summary = "built-in virtual mover: EMG, IMUs and camera pose with physiology, clocks and loss"
    params = (
        Param("seed", int, 0, "random seed: same seed, same movements, noise and clocks", min=0),
        Param("emg", int, 8, "EMG channels (muscles, SENIAM placements)", min=1, max=len(MUSCLES)),
        Param("emg_rate", float, 2000.0, "EMG sampling rate, Hz", min=100, max=20000),
        Param("imu", int, 4, "number of IMUs (each its own device)", min=0, max=len(IMU_SITES)),
        Param("imu_rate", float, 200.0, "IMU sampling rate, Hz", min=10, max=2000),
        Param("pose", bool, True, "include the camera pose stream"),
        Param("pose_rate", float, 60.0, "camera pose rate, Hz", min=5, max=500),
        Param("emd_ms", float, 50.0, "electromechanical delay, ms", min=0, max=200),
        Param(
            "drift_ppm", float, 30.0, "clock drift of each device drawn within +-this, ppm", min=0, max=10000
        ),
        Param("offset_s", float, 2.0, "clock offset of each device drawn within +-this, s", min=0),
        Param("latency_ms", float, 4.0, "minimum transport latency, ms", min=0, max=10000),
        Param("jitter_ms", float, 2.0, "mean exponential transport jitter, ms", min=0, max=10000),
        Param(
            "ble_interval_ms",
            float,
            0.0,
            "BLE connection interval (7.5-4000 ms; 0 = no BLE link)",
            min=0,
            max=4000,
        ),
        Param("ble_per_event", int, 4, "packets per BLE connection event at most", min=1, max=64),
        Param("loss", float, 0.0, "packet loss probability", min=0, max=0.99),
        Param("packet_ms", float, 10.0, "samples per packet, as a duration in ms", min=1, max=200),
        Param(
            "pose_latency_ms",
            float,
            50.0,
            "camera pipeline latency (capture -> timestamp), ms",
            min=0,
            max=1000,
        ),
        Param("pose_noise_m", float, 0.01, "keypoint noise (SD), m", min=0, max=1),
        Param("occlusion", float, 0.0, "occlusion gaps per keypoint per minute", min=0, max=600),
        Param("mains_hz", float, 0.0, "mains interference frequency (0 = none)", choices=(0.0, 50.0, 60.0)),
        Param("mains_uv", float, 0.0, "mains interference amplitude on EMG, uV", min=0),
        Param("emg_noise_uv", float, 3.0, "EMG amplifier noise floor (RMS), uV", min=0),
        Param(
            "person",
            str,
            "reference",
            "who moves: 'reference' (1.75 m lab reference, one EMD: emd_ms) or "
            "'drawn' (a person drawn from the seed: body, strength, EMD per muscle, timing)",
            choices=("reference", "drawn"),
        ),
        Param(
            "emg_model",
            str,
            "realistic",
            "EMG model: 'realistic' (spectra by muscle, recruitment, fatigue, crosstalk, rest bursts) "
            "or 'simple' (one amplitude-modulated spectrum)",
            choices=("realistic", "simple"),
        ),
        Param(
            "session",
            int,
            0,
            "electrode session of the same mover (gain, spectrum, crosstalk, noise differ)",
            min=0,
        ),
        Param(
            "tremor", float, 0.05, "physiological tremor: fraction of drive modulated at 8-12 Hz", min=0,
            max=0.5,
        ),
        Param(
            "body",
            str,
            "coupled",
            "body dynamics: 'coupled' (interaction torques, two-joint muscles, co-contraction stiffness) "
            "or 'independent' (each joint alone)",
            choices=("coupled", "independent"),
        ),
        Param(
            "ground",
            str,
            "contact",
            "feet: 'contact' (a ground reaction force at each foot in stance loads the legs) or "
            "'kinematic' (feet kept on the floor, legs loaded by a fixed gravity term)",
            choices=("contact", "kinematic"),
        ),
        Param(
            "vocabulary",
            str,
            "classic",
            "movement vocabulary: 'classic' (one movement at a time) or 'full' (every family, in phrases, "
            "with Effort)",
            choices=("classic", "full"),
        ),
        Param("families", str, "", "comma-separated movement families to draw from (default all)"),
        Param(
            "moves", str, "", "comma-separated movement kinds to draw from (default all): " + ",".join(KINDS)
        ),
        Param("realtime", bool, True, "pace delivery in real time (0 = as fast as possible)"),
        Param("duration_s", float, 0.0, "stop after this much simulated time, s (0 = endless)", min=0),
    )

    TARGETS = ("mover",)

    def __init__(self, uri) -> None:
        super().__init__(uri)
        target = self.uri.target.strip("/") or "mover"
        if target not in self.TARGETS:
            raise DeviceURIError(
                f"device URI {self.uri.raw!r}: unknown sim target {target!r}; valid: "
                + ", ".join(f"sim://{t}" for t in self.TARGETS),
                uri=self.uri.raw,
            )
        o = self.options
        overrides = {field: o[param] for param, field in _CONFIG_PARAMS.items()}
        if o["families"]:
            overrides["families"] = tuple(m.strip() for m in o["families"].split(",") if m.strip())
        overrides["vocabulary"] = o["vocabulary"]
        if o["moves"]:
            overrides["moves"] = tuple(m.strip() for m in o["moves"].split(",") if m.strip())
        try:
            self.config = SimConfig(**overrides)
        except WearsenseError as e:
            raise DeviceURIError(f"device URI {self.uri.raw!r}: {e}", uri=self.uri.raw) from None
        self.mover: Mover | None = None
        self.host_epoch_s = 0.0

    async def _open(self) -> None:
        self.mover = Mover(self.options["seed"], self.config, keep_truth=False)
        self.streams = tuple(self.mover.infos.values())
        self.host_epoch_s = time.monotonic() if self.options["realtime"] else 0.0

    async def _close(self) -> None:
        self.mover = None

    @property
    def clocks(self):
        """True clock parameters of each simulated device (what the sync layer should recover)."""
        if self.mover is None:
            raise WearsenseError(f"{self.uri.raw}: open the device first")
        return dict(self.mover.clocks)

    async def _chunks(self) -> AsyncIterator[tuple[StreamInfo, Chunk]]:
        mover = self.mover
        assert mover is not None
        realtime = self.options["realtime"]
        duration = self.options["duration_s"] or np.inf
        infos = mover.infos
        pending: list[tuple[float, int, str, int, int, object]] = []
        order = 0
        requested = mover.block_index  # blocks asked of the mover (one may be in the making)
        ahead: asyncio.Future | None = None
        while True:
            if ahead is not None or requested * BLOCK_S < duration:
                if realtime:
                    # in real time the next block is made while this one is delivered, so packets
                    # due at a block boundary are not held up by the making of the block
                    if ahead is None:
                        ahead = asyncio.ensure_future(asyncio.to_thread(mover.next_block))
                        requested += 1
                    block = await ahead
                    ahead = None
                    if requested * BLOCK_S < duration:
                        ahead = asyncio.ensure_future(asyncio.to_thread(mover.next_block))
                        requested += 1
                else:
                    block = mover.next_block()
                    requested += 1
                for name, sb in block.streams.items():
                    pk = sb.packets
                    for s, c, arrival, lost in zip(pk.start, pk.count, pk.arrival_true_s, pk.lost):
                        if lost or sb.true_t[s + c - 1] >= duration:
                            continue
                        heapq.heappush(pending, (float(arrival), order, name, int(s), int(c), sb))
                        order += 1
                horizon = block.t_end
            else:
                horizon = np.inf
            while pending and pending[0][0] < horizon:
                arrival, _, name, s, c, sb = heapq.heappop(pending)
                host = self.host_epoch_s + arrival
                if realtime:
                    delay = host - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                info = infos[name]
                yield (
                    info,
                    Chunk(
                        sb.data[s : s + c],
                        sb.stamps[s : s + c],
                        sb.seq[s : s + c],
                        f"device:{info.source_id}",
                        host,
                    ),
                )
            if horizon == np.inf:
                return

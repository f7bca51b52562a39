"""The virtual mover performs calibration protocol actions, with known sensor errors.

:class:`CalibrationSubject` is the person of the sim wearing the same devices as
``sim://mover?seed=N`` (same stream names, source ids, IMU sites and mountings, EMG
gains, and by default the same IMU biases and hard iron): asked to perform an action
of a calibration protocol (``still``, ``face``, ``figure8``, ``rest``, ``mvc``,
``npose``, ``functional``, ``gesture``), it returns the streams a device would deliver
for it. Every error it puts in is known (:attr:`CalibrationSubject.errors`,
``mounts``, ``mvc_v``), so each calibration fit is tested against ground truth; and
it can do an action badly (``mistake=``) to test that a step is rejected.

The actions are kinematic: the sensor (or its segment) follows a prescribed rotation
and position, the IMU signals are derived from that trajectory
(:func:`wearsense.sim.sensors.imu_from_trajectory`) and passed through the sensor
errors (:func:`wearsense.sim.sensors.apply_sensor_errors`); EMG is the sim's
amplitude-modulated band-limited noise with a prescribed drive. The gyro bias does
not random-walk here (it does in the mover). Imperfections a person brings are in:
the table is tilted by ``table_tilt_deg``, the N-pose is off by up to
``posture_error_deg``, functional movements wobble about the other axes.

Mistakes: ``"move"`` (still/face/npose/rest: the sensor is picked up half-way),
``"wrong_face"`` (face: lies on the next face), ``"small"`` (figure8: only a small
wrist roll; functional: 10 deg), ``"wobble"`` (functional: about two axes at once),
``"weak"`` (mvc: 3 % of maximum), ``"submax"`` (mvc: 80 % of maximum),
``"noisy"`` (rest: a loose electrode, 40 µV noise), ``"small"`` (gesture: timid
claps, the hands do not meet).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from wearsense.errors import StreamError
from wearsense.sim.mover import Mover, SimConfig, _rotation_from_axis_angle
from wearsense.sim.muscles import rest_activation
from wearsense.sim.sensors import (
    IMU_SITES,
    EMGCarrier,
    SensorErrors,
    apply_sensor_errors,
    imu_from_trajectory,
)
from wearsense.stream import Chunk, StreamInfo

__all__ = ["CalibrationSubject", "ACTIONS", "MISTAKES", "SensorErrors"]

ACTIONS = ("still", "face", "figure8", "rest", "mvc", "npose", "functional", "gesture")
MISTAKES = {
    "still": ("move",),
    "face": ("move", "wrong_face"),
    "npose": ("move",),
    "rest": ("move", "noisy"),
    "figure8": ("small",),
    "functional": ("small", "wobble"),
    "mvc": ("weak", "submax"),
    "gesture": ("small",),
}
_AXES = {"x": 0, "y": 1, "z": 2}


def _axis_vector(name: str) -> np.ndarray:
    if len(name) != 2 or name[0] not in "+-" or name[1] not in _AXES:
        raise StreamError(f"axis must be one of +x, -x, +y, -y, +z, -z; got {name!r}")
    v = np.zeros(3)
    v[_AXES[name[1]]] = 1.0 if name[0] == "+" else -1.0
    return v


def _rot(axis: np.ndarray, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices (n, 3, 3) about a fixed unit axis by angles (n,) (Rodrigues)."""
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    s, c = np.sin(angle_rad)[:, None, None], np.cos(angle_rad)[:, None, None]
    return np.eye(3) + s * k + (1 - c) * (k @ k)


def _rot_z(angle_rad: float) -> np.ndarray:
    return _rot(np.array([0.0, 0, 1]), np.array([angle_rad]))[0]


def _align(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A rotation taking unit vector ``a`` onto unit vector ``b``."""
    v = np.cross(a, b)
    c = float(a @ b)
    if np.linalg.norm(v) < 1e-12:
        if c > 0:
            return np.eye(3)
        perp = np.array([1.0, 0, 0]) if abs(a[0]) < 0.9 else np.array([0, 1.0, 0])
        axis = np.cross(a, perp)
        return _rotation_from_axis_angle(axis, np.pi)
    return _rotation_from_axis_angle(v, np.arctan2(np.linalg.norm(v), c))


def _bump(t: np.ndarray, t0: float, width: float) -> np.ndarray:
    """Smooth 0 -> 1 -> 0 bump over [t0, t0 + width]."""
    s = np.clip((t - t0) / width, 0.0, 1.0)
    return np.sin(np.pi * s) ** 2


@dataclass(frozen=True)
class _Truth:
    rot: dict[str, np.ndarray]  # IMU stream -> (n, 3, 3) sensor -> world
    drive: np.ndarray | None  # (n_emg, n_muscles) or None


class CalibrationSubject:
    """The sim's person performing calibration actions (see the module docstring).

    Parameters
    ----------
    seed : int
        The devices of ``sim://mover?seed=seed`` (mountings, EMG gains, IMU biases,
        hard iron); also seeds the noise and the person's imperfections.
    config : SimConfig, optional
        Channel counts, rates and noise levels.
    errors : mapping IMU index -> SensorErrors, optional
        Replace the mover's sensor errors (e.g. add scale, misalignment, soft iron).
    table_tilt_deg, posture_error_deg : float
        How far the table is from level, and the N-pose from neutral (deg).
    """

    def __init__(
        self,
        seed: int = 0,
        config: SimConfig | None = None,
        errors: Mapping[int, SensorErrors] | None = None,
        table_tilt_deg: float = 0.3,
        posture_error_deg: float = 1.5,
    ) -> None:
        self.seed = int(seed)
        self.config = cfg = config or SimConfig()
        mover = Mover(self.seed, cfg, keep_truth=False)
        self.infos: dict[str, StreamInfo] = dict(mover.infos)
        self.mounts = mover.mounts.copy()
        self.mvc_v = mover.mvc_v.copy()
        self.muscles = tuple(m.name for m in mover.muscles)
        self.imu_names = [f"sim-imu{i}" for i in mover.imu_sites]
        self.segments = {f"sim-imu{i}": IMU_SITES[i][0] for i in mover.imu_sites}
        defaults = {
            i: SensorErrors(
                gyro_bias_dps=mover.gyro_bias[i].copy(),
                accel_bias_ms2=mover.accel_bias[i].copy(),
                hard_iron_ut=mover.hard_iron[i].copy(),
                gyro_noise_dps_rthz=cfg.gyro_noise_dps_rthz,
                accel_noise_ug_rthz=cfg.accel_noise_ug_rthz,
                mag_noise_ut=cfg.mag_noise_ut,
            )
            for i in mover.imu_sites
        }
        self.errors: dict[int, SensorErrors] = {**defaults, **dict(errors or {})}
        self.table_tilt_deg = float(table_tilt_deg)
        self.posture_error_deg = float(posture_error_deg)
        self._rng_setup = np.random.default_rng([self.seed, 0xCA1])
        # the person's heading and N-pose error, fixed for the session
        self.heading_rad = float(self._rng_setup.uniform(-np.pi, np.pi))
        self.posture = {
            n: _rotation_from_axis_angle(
                self._rng_setup.normal(size=3), np.deg2rad(self._rng_setup.uniform(0, self.posture_error_deg))
            )
            for n in self.imu_names
        }
        self._carrier = EMGCarrier(cfg.emg_rate_hz, cfg.emg)
        self._t = 0.0
        self._seq = {n: 0 for n in self.infos}
        self._calls = 0
        self.last_truth: _Truth | None = None

    # -- helpers --------------------------------------------------------------------
    def _emit(self, name: str, data: np.ndarray, rate: float) -> tuple[StreamInfo, Chunk]:
        n = data.shape[0]
        k0 = self._seq[name]
        self._seq[name] = k0 + n
        t = self._t + np.arange(n) / rate
        info = self.infos[name]
        return info, Chunk(data.astype(np.float32), t, np.arange(k0, k0 + n), f"device:{info.source_id}")

    def _imu(
        self, rots: dict[str, np.ndarray], pos: dict[str, np.ndarray], t: np.ndarray, rng: np.random.Generator
    ) -> dict[str, tuple[StreamInfo, Chunk]]:
        out = {}
        for name in self.imu_names:
            idx = int(name.removeprefix("sim-imu"))
            f, g, m = imu_from_trajectory(t, rots[name], pos[name])
            raw = apply_sensor_errors(f, g, m, self.errors[idx], self.config.imu_rate_hz, rng)
            out[name] = self._emit(name, raw[2:-2], self.config.imu_rate_hz)
        return out

    def _grid(self, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
        rate = self.config.imu_rate_hz
        n = max(8, int(round(duration_s * rate)))
        t = (np.arange(-2, n + 2)) / rate
        return t, np.arange(n) / rate

    # -- the actions ----------------------------------------------------------------
    def perform(
        self,
        action: str,
        duration_s: float,
        options: Mapping[str, Any] | None = None,
        mistake: str | None = None,
    ) -> dict[str, tuple[StreamInfo, Chunk]]:
        """Do one protocol action for ``duration_s`` seconds; return ``{stream: (info, chunk)}``.

        IMU streams take part in IMU actions, EMG in ``rest``/``mvc``, pose in
        ``gesture``. Timestamps continue from the previous call (one device clock).
        """
        if action not in ACTIONS:
            raise StreamError(f"unknown calibration action {action!r}; valid: {', '.join(ACTIONS)}")
        if mistake is not None and mistake not in MISTAKES[action]:
            raise StreamError(
                f"action {action!r} has no mistake {mistake!r}; valid: {MISTAKES[action] or 'none'}"
            )
        if not duration_s > 0:
            raise StreamError(f"duration_s must be > 0, got {duration_s!r}")
        options = dict(options or {})
        self._calls += 1
        rng = np.random.default_rng([self.seed, self._calls])
        if action == "gesture":
            out = self._gesture(duration_s, options, rng, 0.15 if mistake == "small" else 1.0)
        elif action in ("rest", "mvc"):
            out = self._emg(action, duration_s, options, mistake, rng)
        else:
            out = self._motion(action, duration_s, options, mistake, rng)
        self._t += duration_s + 1.0  # a pause between steps
        return out

    def _motion(
        self,
        action: str,
        duration_s: float,
        options: Mapping[str, Any],
        mistake: str | None,
        rng: np.random.Generator,
    ) -> dict[str, tuple[StreamInfo, Chunk]]:
        tg, _ = self._grid(duration_s)
        n = tg.size
        rots: dict[str, np.ndarray] = {}
        pos: dict[str, np.ndarray] = {}
        tilt = _rotation_from_axis_angle(rng.normal(size=3), np.deg2rad(self.table_tilt_deg))
        for k, name in enumerate(self.imu_names):
            idx = int(name.removeprefix("sim-imu"))
            yaw = _rot_z(float(rng.uniform(-np.pi, np.pi)))
            p = np.zeros((n, 3))
            if action in ("still", "face"):
                up = "+z" if action == "still" else str(options["face"])
                if mistake == "wrong_face":
                    up = {"+x": "+y", "-x": "-y", "+y": "+z", "-y": "-z", "+z": "+x", "-z": "-x"}[up]
                base = tilt @ yaw @ _align(_axis_vector(up), np.array([0.0, 0, 1]))
                r = np.broadcast_to(base, (n, 3, 3)).copy()
            elif action == "figure8":
                # tumble through every orientation: yaw twice round, pitch and roll sweeps
                w = 2 * np.pi / duration_s
                big = 0.15 if mistake == "small" else 1.0
                ang = np.stack(
                    [
                        big * np.pi * np.sin(w * 1.5 * tg + k),
                        big * 0.45 * np.pi * np.sin(w * 2.5 * tg),
                        big * 2 * w * tg,
                    ],
                    1,
                )
                r = (
                    _rot(np.array([0, 0, 1.0]), ang[:, 2])
                    @ _rot(np.array([0, 1.0, 0]), ang[:, 1])
                    @ _rot(np.array([1.0, 0, 0]), ang[:, 0])
                )
                p = 0.15 * np.stack([np.sin(w * 2 * tg), np.sin(w * 4 * tg) / 2, 0 * tg], 1)
            else:  # npose, functional: the segment moves, the sensor is mounted on it
                seg_up = _axis_vector(str(options.get("segment_up", "+z")))
                base_seg = (
                    _rot_z(self.heading_rad) @ self.posture[name] @ _align(seg_up, np.array([0, 0, 1.0]))
                )
                r_seg = np.broadcast_to(base_seg, (n, 3, 3)).copy()
                seg = self.segments[name]
                if action == "functional" and seg in options.get("segments", ()):
                    axis = _axis_vector(str(options["axis"]))
                    amp = np.deg2rad(
                        10.0 if mistake == "small" else float(options.get("amplitude_deg", 60.0))
                    )
                    cycles = 3
                    s = np.clip((tg - 0.5) / max(duration_s - 1.0, 0.1), 0, 1)
                    theta = amp * 0.5 * (1 - np.cos(2 * np.pi * cycles * s))
                    r_move = _rot(axis, theta)
                    # a person never moves in one plane exactly: 3 % wobble, or a lot with "wobble"
                    other = np.cross(
                        axis, np.array([0, 0, 1.0]) if abs(axis[2]) < 0.9 else np.array([1.0, 0, 0])
                    )
                    other /= np.linalg.norm(other)
                    if mistake == "wobble":  # as much about another axis, a quarter cycle apart
                        wob = 0.4 * amp * np.sin(2 * np.pi * cycles * s)
                    else:
                        wob = 0.03 * amp * np.sin(2 * np.pi * 2 * cycles * s)
                    r_seg = r_seg @ r_move @ _rot(other, wob)
                offset = np.asarray(IMU_SITES[idx][1])
                p = r_seg @ offset
                r = r_seg @ self.mounts[k]
            if mistake == "move" and action in ("still", "face", "npose"):
                # picked up and put back half-way
                bump = 0.5 * _bump(tg, duration_s * 0.4, 1.0)
                r = r @ _rot(np.array([1.0, 0.3, 0.2]) / np.linalg.norm([1.0, 0.3, 0.2]), bump)
                p = p + 0.05 * bump[:, None] * np.array([0, 0, 1.0])
            rots[name], pos[name] = r, p
        out = self._imu(rots, pos, tg, rng)
        self.last_truth = _Truth({k: v[2:-2] for k, v in rots.items()}, None)
        return out

    def _emg(
        self,
        action: str,
        duration_s: float,
        options: Mapping[str, Any],
        mistake: str | None,
        rng: np.random.Generator,
    ) -> dict[str, tuple[StreamInfo, Chunk]]:
        cfg = self.config
        rate = cfg.emg_rate_hz
        n = int(round(duration_s * rate))
        t = np.arange(n) / rate
        tone = float(np.mean(rest_activation(cfg.tone)))
        drive = np.full((n, len(self.muscles)), tone)
        if action == "mvc":
            prefixes = tuple(options.get("muscles", ()))
            target = np.array([m.startswith(prefixes) for m in self.muscles])
            peak = {"weak": 0.03, "submax": 0.8}.get(mistake or "", 1.0)
            # build up over 1 s from 0.5 s, hold until 1 s before the end, relax over 0.5 s
            ramp = np.clip(np.minimum((t - 0.5) / 1.0, (duration_s - 0.5 - t) / 0.5), 0, 1)
            tremor = 1.0 - 0.03 * (1 + np.sin(2 * np.pi * 8 * t)) / 2
            drive[:, target] = tone + (peak - tone) * (ramp * tremor)[:, None]
        carrier = self._carrier.next(rng.standard_normal((n, len(self.muscles)), dtype=np.float32))
        noise_uv = 40.0 if mistake == "noisy" else cfg.emg_noise_uv
        emg = self.mvc_v * drive * carrier + rng.standard_normal(drive.shape) * noise_uv * 1e-6
        out = {"sim-emg": self._emit("sim-emg", emg, rate)}
        # the IMUs lie still meanwhile
        out.update(self._motion("still", duration_s, {}, "move" if mistake == "move" else None, rng))
        self.last_truth = _Truth(self.last_truth.rot if self.last_truth else {}, drive)
        return out

    def _gesture(
        self, duration_s: float, options: Mapping[str, Any], rng: np.random.Generator, scale: float = 1.0
    ) -> dict[str, tuple[StreamInfo, Chunk]]:
        """Claps on demand: the mover's body (joint dynamics, IMUs on their segments, the
        camera with its latency) performing ``count`` claps, one every ~1.5 s from 1 s."""
        from wearsense.sim.mover import BLOCK_S

        cfg = replace(self.config, offset_s=0.0, drift_ppm=0.0, jitter_ms=0.0, loss=0.0)
        mover = Mover(self.seed, cfg, keep_truth=False)
        count = int(options.get("count", 5))
        period = max(1.2, (duration_s - 2.0) / max(count, 1))
        mover.choreography = _Claps(
            self.seed, {"gesture": 1.0}, times=[1.0 + k * period for k in range(count)], rng=rng, scale=scale
        )
        parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
        for _ in range(int(np.ceil(duration_s / BLOCK_S))):
            for name, sb in mover.next_block().streams.items():
                parts.setdefault(name, []).append((sb.data, sb.true_t))
        out = {}
        for name, pieces in parts.items():
            if not (name.startswith("sim-imu") or name == "sim-pose"):
                continue
            rate = mover.rates[name]
            true_t = np.concatenate([p[1] for p in pieces])
            keep = true_t < duration_s
            data, true_t = np.concatenate([p[0] for p in pieces])[keep], true_t[keep]
            if name.startswith("sim-imu"):  # the calibration subject's own sensor errors
                idx = int(name.removeprefix("sim-imu"))
                e, m = self.errors[idx], mover
                data = data.astype(np.float64)
                data[:, 0:3] += e.accel_bias_ms2 - m.accel_bias[idx]
                data[:, 3:6] += e.gyro_bias_dps - m.gyro_bias[idx]
                data[:, 6:9] += e.hard_iron_ut - m.hard_iron[idx]
            info, chunk = self._emit(name, data, rate)
            # true capture times; the camera stamps frames after its pipeline's latency
            t = self._t + true_t + (cfg.pose_latency_ms * 1e-3 if name == "sim-pose" else 0.0)
            out[name] = (info, Chunk(chunk.data, t, chunk.seq, chunk.clock))
        self.last_truth = None
        return out


class _Claps:
    """A choreography of claps at given times (the sync gesture), in the mover's clap form:
    both arms flex forward and adduct until the hands meet in front of the chest."""

    def __init__(
        self,
        seed: int,
        kinds: Mapping[str, float],
        times: list[float],
        rng: np.random.Generator,
        scale: float = 1.0,
    ) -> None:
        from wearsense.sim.body import JOINTS
        from wearsense.sim.choreography import Movement, Ramp

        index = {j.name: i for i, j in enumerate(JOINTS)}
        self.movements = []
        for t in times:
            rise, hold, fall = float(rng.uniform(0.25, 0.4)), 0.05, float(rng.uniform(0.4, 0.6))
            ramps = tuple(
                Ramp(index[f"{j}_{sd}"], t, rise, hold, fall, a * scale)
                for sd in "rl"
                for j, a in (("shoulder_flex", 80.0), ("elbow_flex", 25.0), ("shoulder_abd", -8.0))
            )
            self.movements.append(Movement("gesture", t, t + rise + hold + fall, ramps, detail="clap"))

    def until(self, t_end: float) -> list:
        return self.movements

    def active(self, t0: float, t1: float) -> list:
        return [m for m in self.movements if m.end + 0.5 >= t0 and m.start - 0.5 <= t1]

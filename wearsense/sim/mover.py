"""The virtual mover engine: generates every stream block by block, with ground truth.

:class:`Mover` advances the body in blocks of :data:`BLOCK_S` seconds of true time.
Everything random is drawn from generators keyed by ``(seed, stream, block)``, so the
output depends on the seed only: the live device (``sim://``) and the batch API
(:func:`wearsense.sim.generate`) produce the same samples however the consumer cuts
them into chunks.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field, fields, replace

import numpy as np

from wearsense.errors import StreamError
from wearsense.sim import muscles as mus
from wearsense.sim.body import JOINTS, KEYPOINTS
from wearsense.sim.emg import EMGModel, crosstalk_matrix
from wearsense.sim.ground import ground_reaction
from wearsense.sim.vocabulary import FAMILIES, FAMILY_OF, VOCABULARY
from wearsense.sim.choreography import KINDS, Choreography, planned, planned_root
from wearsense.sim.population import PopulationConfig, draw_traits, reference_traits
from wearsense.sim.clocks import ClockTruth, LinkState, Packets, packetize
from wearsense.sim.sensors import (
    IMU_SITES,
    POSE_CHANNELS,
    EMGCarrier,
    imu_kinematics,
    pose_keypoints,
)
from wearsense.stream import Modality, StreamInfo

__all__ = ["SimConfig", "Mover", "Block", "StreamBlock", "BLOCK_S"]

BLOCK_S = 2.0
_PHYS_MARGIN_S = 0.02
_KIN_DECIMATE = 4  # kinematic grid = physics grid / 4 = 250 Hz
_KEEP_S = 0.6  # physics history kept for sensors whose packets straddle blocks


@dataclass(frozen=True)
class SimConfig:
    """Settings of the virtual mover (defaults: the lab default of wearsense).

    Rates in Hz, times in the unit their name says. Per-device clock parameters are
    drawn from the seed within the ranges given here (offset in ±``offset_s``, drift in
    ±``drift_ppm``); the values drawn are in ``SimRecording.truth.clocks``.
    """

    emg: int = 8
    emg_rate_hz: float = 2000.0
    imu: int = 4
    imu_rate_hz: float = 200.0
    pose: bool = True
    pose_rate_hz: float = 60.0
    emd_ms: float = 50.0
    tau_act_ms: float = 15.0
    tau_deact_ms: float = 50.0
    tone: float = 0.01
    emg_mvc_mv: tuple[float, float] = (0.4, 1.5)
    emg_noise_uv: float = 3.0
    mains_hz: float = 0.0
    mains_uv: float = 0.0
    offset_s: float = 2.0
    drift_ppm: float = 30.0
    latency_ms: float = 4.0
    jitter_ms: float = 2.0
    ble_interval_ms: float = 0.0
    ble_per_event: int = 4
    loss: float = 0.0
    packet_ms: float = 10.0
    pose_latency_ms: float = 50.0
    pose_noise_m: float = 0.01
    occlusion_per_min: float = 0.0
    gyro_noise_dps_rthz: float = 0.007
    gyro_bias_dps: float = 1.0
    gyro_bias_walk_dps_rts: float = 0.002
    accel_noise_ug_rthz: float = 150.0
    accel_bias_mg: float = 20.0
    mag_noise_ut: float = 0.3
    mag_hard_iron_ut: float = 3.0
    mount_misalign_deg: float = 8.0
    moves: tuple[str, ...] = ()
    vocabulary: str = "classic"
    families: tuple[str, ...] = ()
    effort: tuple[float, float, float, float] | None = None
    person: str = "reference"
    emg_model: str = "realistic"
    session: int = 0
    tremor: float = 0.05
    take: int = 0
    body: str = "coupled"
    ground: str = "contact"
    population: PopulationConfig = field(default_factory=PopulationConfig)

    def __post_init__(self) -> None:
        def bad(name: str, why: str) -> StreamError:
            return StreamError(f"SimConfig.{name}={getattr(self, name)!r}: {why}")

        if not 1 <= self.emg <= len(mus.MUSCLES):
            raise bad("emg", f"number of EMG channels must be 1..{len(mus.MUSCLES)}")
        if not 0 <= self.imu <= len(IMU_SITES):
            raise bad("imu", f"number of IMUs must be 0..{len(IMU_SITES)}")
        if not 100 <= self.emg_rate_hz <= 20000:
            raise bad("emg_rate_hz", "must be within 100..20000 Hz")
        if not 10 <= self.imu_rate_hz <= 2000:
            raise bad("imu_rate_hz", "must be within 10..2000 Hz")
        if not 5 <= self.pose_rate_hz <= 500:
            raise bad("pose_rate_hz", "must be within 5..500 Hz")
        if not 0 <= self.emd_ms <= 200:
            raise bad("emd_ms", "electromechanical delay must be within 0..200 ms (physiological: 10-100)")
        if not (1 <= self.tau_act_ms <= 200 and 1 <= self.tau_deact_ms <= 400):
            raise bad("tau_act_ms", "activation time constants must be 1..200 ms (act) and 1..400 ms (deact)")
        if not 0 <= self.loss < 1:
            raise bad("loss", "packet loss probability must be within [0, 1)")
        if not 1 <= self.packet_ms <= 200:
            raise bad("packet_ms", "packet duration must be within 1..200 ms")
        if not (self.ble_interval_ms == 0 or 7.5 <= self.ble_interval_ms <= 4000):
            raise bad("ble_interval_ms", "BLE connection interval must be 0 (no BLE link) or 7.5..4000 ms")
        if self.ble_per_event < 1:
            raise bad("ble_per_event", "at least one packet per connection event")
        if self.mains_hz not in (0, 0.0, 50, 60):
            raise bad("mains_hz", "mains frequency must be 0 (off), 50 or 60")
        for name in (
            "offset_s",
            "drift_ppm",
            "latency_ms",
            "jitter_ms",
            "pose_latency_ms",
            "pose_noise_m",
            "occlusion_per_min",
            "emg_noise_uv",
            "mains_uv",
        ):
            if not math.isfinite(getattr(self, name)) or getattr(self, name) < 0:
                raise bad(name, "must be finite and >= 0")
        if self.person not in ("reference", "drawn"):
            raise bad(
                "person",
                "must be 'reference' (the lab reference body, one EMD: emd_ms) or 'drawn' "
                "(a person drawn from the seed and `population`)",
            )
        if self.emg_model not in ("realistic", "simple"):
            raise bad(
                "emg_model",
                "must be 'realistic' (spectra by muscle, recruitment, fatigue, crosstalk, "
                "sessions) or 'simple' (amplitude-modulated noise, one spectrum)",
            )
        if not (isinstance(self.session, int) and self.session >= 0):
            raise bad("session", "electrode session must be an integer >= 0")
        if self.ground not in ("contact", "kinematic"):
            raise bad("ground", "must be 'contact' (a ground reaction force at each foot in stance loads "
                                "the leg joints) or 'kinematic' (feet kept on the floor, legs loaded by a "
                                "fixed gravity term, the body before ground contact)")
        if self.body not in ("coupled", "independent"):
            raise bad("body", "must be 'coupled' (interaction torques, two-joint muscles, co-contraction "
                              "stiffness) or 'independent' (each joint alone, the body before issue 13)")
        if not (isinstance(self.take, int) and self.take >= 0):
            raise bad("take", "recording take of the same mover must be an integer >= 0")
        if not 0 <= self.tremor <= 0.5:
            raise bad(
                "tremor", "physiological tremor (fraction of drive modulated at 8-12 Hz) must be 0..0.5"
            )
        if not isinstance(self.population, PopulationConfig):
            raise bad("population", "must be a wearsense.sim.population.PopulationConfig")
        if self.vocabulary not in ("classic", "full"):
            raise bad(
                "vocabulary",
                "must be 'classic' (reach, squat, step, gesture, brace, rest, improvise; one at "
                "a time) or 'full' (every family, in phrases, with Effort)",
            )
        pool = KINDS if self.vocabulary == "classic" else VOCABULARY
        unknown = [m for m in self.moves if m not in pool]
        if unknown:
            raise bad("moves", f"movement kinds of the {self.vocabulary} vocabulary: {', '.join(pool)}")
        bad_fam = [f for f in self.families if f not in FAMILIES]
        if bad_fam:
            raise bad("families", f"movement families: {', '.join(FAMILIES)}")
        if not self.kinds():
            raise bad("moves", "no movement kind left: `moves` and `families` have nothing in common")
        if self.effort is not None and (
            len(self.effort) != 4
            or not all(isinstance(x, (int, float)) and -1 <= x <= 1 for x in self.effort)
        ):
            raise bad(
                "effort", "Effort (weight, time, space, flow), each -1..1 (+1 strong, sudden, direct, bound)"
            )

    def kinds(self) -> dict[str, float]:
        """The movement kinds this mover draws from, with their relative frequency."""
        pool = KINDS if self.vocabulary == "classic" else VOCABULARY
        names = self.moves or tuple(pool)
        if self.families:
            names = tuple(k for k in names if FAMILY_OF[k] in self.families)
        return {k: pool[k] for k in names}

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]


@dataclass
class StreamBlock:
    """One block of one stream: every captured sample, including those in lost packets."""

    data: np.ndarray  # (n, c) float32
    stamps: np.ndarray  # (n,) device timestamps, s
    seq: np.ndarray  # (n,) int64
    true_t: np.ndarray  # (n,) true capture time, s
    packets: Packets


@dataclass
class Block:
    index: int
    t_end: float
    streams: dict[str, StreamBlock]
    truth: dict[str, np.ndarray] = field(default_factory=dict)


def _rotation_from_axis_angle(axis: np.ndarray, angle: float) -> np.ndarray:
    axis = axis / np.linalg.norm(axis)
    k = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + np.sin(angle) * k + (1 - np.cos(angle)) * (k @ k)


class Mover:
    """Block-wise generator of every stream of the virtual mover.

    Parameters
    ----------
    seed : int
        Everything (movements, noise, clocks) follows from it.
    config : SimConfig
        Settings.
    keep_truth : bool
        Fill ``Block.truth`` with drive, activation, force and joint angles on the
        physics grid, IMU orientations and noise-free keypoints.
    """

    def __init__(self, seed: int, config: SimConfig | None = None, keep_truth: bool = True) -> None:
        self.seed = int(seed)
        self.config = cfg = config or SimConfig()
        self.keep_truth = keep_truth
        self.muscles = mus.MUSCLES[: cfg.emg]
        self.imu_sites = list(range(cfg.imu))
        self.block_index = 0
        self.dt = 1.0 / mus.PHYSICS_RATE_HZ
        rng = self._rng("setup")
        # mounting of each IMU on its segment: a small random misalignment
        self.mounts = (
            np.stack(
                [
                    _rotation_from_axis_angle(
                        rng.normal(size=3), np.deg2rad(rng.uniform(0, cfg.mount_misalign_deg))
                    )
                    for _ in self.imu_sites
                ]
            )
            if self.imu_sites
            else np.zeros((0, 3, 3))
        )
        if cfg.person == "drawn":
            self.traits = draw_traits(self._rng("person", take=False), cfg.population)
        else:
            self.traits = reference_traits(cfg.emd_ms, cfg.tau_act_ms, cfg.tau_deact_ms, cfg.emg_mvc_mv)
            lo, hi = cfg.emg_mvc_mv
            self.traits = replace(
                self.traits, mvc_v=np.r_[rng.uniform(lo, hi, cfg.emg) * 1e-3, self.traits.mvc_v[cfg.emg :]]
            )
        tr = self.traits
        self._segment_scale = None if cfg.person == "reference" else tr.segment_scale
        coupled = cfg.body == "coupled"
        self._ground = cfg.ground == "contact"
        self.joint_params = mus.JointParams.of(
            tr.height_m, tr.mass_kg, tr.strength, coupled=coupled, ground=self._ground
        )
        # EMD of each actuator: its recorded muscles' mean, else the mover's median
        emd_of = {}
        for k, m in enumerate(mus.MUSCLES):
            emd_of.setdefault(m.actuator, []).append(tr.emd_ms[k])
        median = float(np.median(tr.emd_ms))
        self.actuator_emd = np.array(
            [
                int(round(np.mean(emd_of.get(a, [median])) * 1e-3 * mus.PHYSICS_RATE_HZ))
                for a in range(2 * len(JOINTS))
            ],
            dtype=np.int64,
        )
        self._emd_max = int(self.actuator_emd.max())
        self.emd_samples = int(round(median * 1e-3 * mus.PHYSICS_RATE_HZ))
        # the electrodes of this session: re-applying them shifts gain, spectrum, crosstalk, noise floor
        srng = self._rng("session", cfg.session, take=False)
        # session 0 is the placement the person's EMG traits describe; later sessions move from it
        shift = 1.0 if cfg.session else 0.0
        ne = cfg.emg
        realistic = cfg.emg_model == "realistic"
        self.session_gain = np.exp(shift * srng.normal(0.0, 0.2, ne)) if realistic else np.ones(ne)
        self.mvc_v = tr.mvc_v[:ne] * self.session_gain
        names = [m.name for m in self.muscles]
        if cfg.emg_model == "realistic":
            median = tr.median_frequency_hz[:ne] + shift * srng.normal(0.0, 5.0, ne)
            xt = crosstalk_matrix(names) * np.exp(shift * srng.normal(0.0, 0.3, (ne, ne)))
            self.emg_noise_scale = np.exp(shift * np.abs(srng.normal(0.0, 0.4, ne)))
            self._emg_model: EMGModel | None = EMGModel(
                cfg.emg_rate_hz, names, median, tr.amplitude_exponent[:ne], np.ones(ne), xt
            )
        else:
            self.emg_noise_scale = np.ones(ne)
            self._emg_model = None
        self._tremor_phase = self._rng("tremor").uniform(0, 2 * np.pi, len(JOINTS))
        self._tremor_amp = np.ones(len(JOINTS))
        self.choreography = Choreography(
            self.seed if not cfg.take else (self.seed, cfg.take),
            cfg.kinds(),
            tempo=tr.tempo,
            tempo_jitter=tr.tempo_jitter,
            pause=tr.pause,
            right_handed=tr.right_handed,
            vocabulary=cfg.vocabulary,
            effort=None if cfg.effort is None else tuple(float(x) for x in cfg.effort),
        )
        self.gyro_bias = rng.uniform(-1, 1, (cfg.imu, 3)) * cfg.gyro_bias_dps
        self.accel_bias = rng.uniform(-1, 1, (cfg.imu, 3)) * cfg.accel_bias_mg * 1e-3 * 9.80665
        self.hard_iron = rng.uniform(-1, 1, (cfg.imu, 3)) * cfg.mag_hard_iron_ut
        self.clocks: dict[str, ClockTruth] = {}
        self.rates: dict[str, float] = {}
        for name, rate, stamp_latency in self._stream_specs():
            self.rates[name] = rate
            packet = max(1, int(round(cfg.packet_ms * 1e-3 * rate))) if "pose" not in name else 1
            self.clocks[name] = ClockTruth(
                offset_s=float(rng.uniform(-cfg.offset_s, cfg.offset_s)),
                drift_ppm=float(rng.uniform(-cfg.drift_ppm, cfg.drift_ppm)),
                phase_s=float(rng.uniform(0, 1.0 / rate)),
                stamp_latency_s=stamp_latency,
                latency_s=cfg.latency_ms * 1e-3,
                jitter_s=cfg.jitter_ms * 1e-3,
                loss=cfg.loss,
                packet_samples=packet,
                interval_s=cfg.ble_interval_ms * 1e-3,
                interval_phase_s=float(self._rng("ble", name).uniform(0, cfg.ble_interval_ms * 1e-3)),
                per_event=cfg.ble_per_event,
            )
        self.infos = self._infos()
        # stream state
        self._next_k = {name: 0 for name in self.clocks}
        self._links = {name: LinkState() for name in self.clocks}
        self._carrier = EMGCarrier(cfg.emg_rate_hz, cfg.emg) if self._emg_model is None else None
        #: per EMG channel, (start, end) true times (s) of the spontaneous rest bursts so far
        self.rest_bursts: list[list[tuple[float, float]]] = [[] for _ in range(cfg.emg)]
        self._occluded_until = np.zeros(len(KEYPOINTS))
        # physics state and buffer (rows i0 .. i0+len)
        rest_ground = None
        if self._ground:
            rest = np.tile([j.rest_deg for j in JOINTS], (3, 1))
            rest_ground = self._ground_reaction(rest, np.zeros((3, 3)))[1][1]
        self.rest_activation = mus.rest_activation(cfg.tone, self.joint_params, rest_ground)
        self._state = mus.MuscleState.at_rest(self.rest_activation, self._emd_max)
        self._i_next = 0
        self._buf_i0 = 0
        self._buf: dict[str, np.ndarray] = {
            "drive": np.zeros((0, 2 * len(JOINTS))),
            "theta": np.zeros((0, len(JOINTS))),
        }

    # -- setup --------------------------------------------------------------------
    def _rng(self, *key: object, take: bool = True) -> np.random.Generator:
        """Generator keyed by (seed, key...); a later take (``SimConfig.take``) adds its number,
        except for what stays with the person and the electrodes (``take=False``)."""
        words = [self.seed] + [k if isinstance(k, int) else zlib.crc32(str(k).encode()) for k in key]
        if take and self.config.take:
            words += [0x7A4E, self.config.take]
        return np.random.default_rng(np.random.SeedSequence(words))

    def _stream_specs(self) -> list[tuple[str, float, float]]:
        cfg = self.config
        specs = [("sim-emg", cfg.emg_rate_hz, 0.0)]
        specs += [(f"sim-imu{i}", cfg.imu_rate_hz, 0.0) for i in self.imu_sites]
        if cfg.pose:
            specs.append(("sim-pose", cfg.pose_rate_hz, cfg.pose_latency_ms * 1e-3))
        return specs

    def _infos(self) -> dict[str, StreamInfo]:
        cfg = self.config
        src = f"sim:{self.seed}"
        infos = {
            "sim-emg": StreamInfo(
                "sim-emg",
                Modality.EMG,
                [m.name for m in self.muscles],
                "V",
                cfg.emg_rate_hz,
                f"{src}:emg",
                {
                    "placement": [m.placement for m in self.muscles],
                    "device": "wearsense virtual mover, EMG amplifier",
                    "band_hz": [20.0, min(450.0, 0.45 * cfg.emg_rate_hz)],
                },
            )
        }
        for i in self.imu_sites:
            seg = IMU_SITES[i][0]
            infos[f"sim-imu{i}"] = StreamInfo(
                f"sim-imu{i}",
                Modality.IMU,
                [f"{q}_{a}" for q in ("acc", "gyro", "mag") for a in "xyz"],
                ["m/s^2"] * 3 + ["deg/s"] * 3 + ["uT"] * 3,
                cfg.imu_rate_hz,
                f"{src}:imu{i}",
                {
                    "segment": seg,
                    "placement": f"{seg}, position {IMU_SITES[i][1]} m in the segment frame",
                    "frame": "sensor axes; world ENU z-up; acc is specific force (+9.81 z when flat at rest)",
                },
            )
        if cfg.pose:
            infos["sim-pose"] = StreamInfo(
                "sim-pose",
                Modality.POSE,
                list(POSE_CHANNELS),
                "m",
                cfg.pose_rate_hz,
                f"{src}:camera",
                {
                    "keypoints": [k[0] for k in KEYPOINTS],
                    "frame": "world ENU z-up, metres",
                    # capture -> the camera's stamp (its pipeline): a frame's age at a step is
                    # step time - (stamp - latency_s), as the sim shards' reader times it
                    "latency_s": cfg.pose_latency_ms * 1e-3,
                    "device": "wearsense virtual mover, camera keypoints",
                },
            )
        if cfg.ble_interval_ms:
            # what a BLE driver reports of its link: the sync layer bounds arrivals with it
            infos = {
                n: i.with_(metadata={**i.metadata, "ble_interval_s": cfg.ble_interval_ms * 1e-3})
                for n, i in infos.items()
            }
        return infos

    # -- physics ------------------------------------------------------------------
    def _advance_physics(self, t_end: float) -> None:
        i_end = int(math.ceil(t_end * mus.PHYSICS_RATE_HZ))
        if i_end <= self._i_next:
            return
        i = np.arange(self._i_next, i_end)
        # the plan in true time, from 3 rows of history to the longest EMD ahead
        g = np.arange(self._i_next - 3, i_end + self._emd_max) * self.dt
        moves = self.choreography.active(g[0], g[-1])
        angles, cc = planned(moves, g, len(JOINTS))
        tau_a, tau_d = self.traits.tau_act_ms * 1e-3, self.traits.tau_deact_ms * 1e-3
        grf = ground = None
        if self._ground:
            # only a turning or travelling root accelerates the body beyond its joints' motion
            moving = any(mv.root for mv in moves)
            root = planned_root(moves, g) if moving else np.zeros((g.shape[0], 3))
            grf, ground = self._ground_reaction(angles, root)
        drive, gravity = mus.plan_drive(
            angles, cc, self.actuator_emd, self.config.tone, tau_a, tau_d, self.joint_params, ground
        )
        if self.config.tremor:
            drive = self._with_tremor(drive)
        act, force, theta = mus.simulate(
            drive, gravity, self._state, self.actuator_emd, tau_a, tau_d, self.joint_params,
            plan=angles[3 : 3 + drive.shape[0]],
        )
        self._i_next = i_end
        keep_from = max(0, i_end - int((_KEEP_S + BLOCK_S + 2 * _PHYS_MARGIN_S) * mus.PHYSICS_RATE_HZ))
        cut = keep_from - self._buf_i0
        if cut > 0:
            for k in self._buf:
                self._buf[k] = self._buf[k][cut:]
            self._buf_i0 = keep_from
        self._buf["drive"] = np.concatenate([self._buf["drive"], drive])
        self._buf["theta"] = np.concatenate([self._buf["theta"], theta])
        if self.keep_truth:
            cols = [m.actuator for m in self.muscles]
            self._truth_rows = {
                "phys_t": i * self.dt,
                "drive": drive[:, cols].astype(np.float32),
                "activation": act[:, cols].astype(np.float32),
                "force": force[:, cols].astype(np.float32),
                "joint_angles": theta.astype(np.float32),
            }
            if grf is not None:
                # the force at each physics row
                self._truth_rows["grf"] = grf[3 : 3 + drive.shape[0]].astype(np.float32)

    def _ground_reaction(self, angles: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tr = self.traits
        return ground_reaction(angles, root, self.dt, tr.mass_kg, tr.height_m, tr.strength)

    def _with_tremor(self, drive: np.ndarray) -> np.ndarray:
        """Physiological tremor: the drive of each joint (agonist and antagonist alike)
        modulated by ``tremor`` × an 8–12 Hz oscillation whose frequency and amplitude
        wander from block to block (phase and amplitude continuous)."""
        rng = self._rng("tremor", self.block_index)
        n, nj = drive.shape[0], len(JOINTS)
        f = rng.uniform(8.0, 12.0, nj)
        amp_end = np.abs(rng.normal(1.0, 0.3, nj))
        k = np.arange(1, n + 1, dtype=np.float32)[:, None]
        phase = (self._tremor_phase + 2 * np.pi * f * self.dt * k).astype(np.float32)
        amp = self._tremor_amp + (amp_end - self._tremor_amp) * (k / n)
        self._tremor_phase = phase[-1].astype(np.float64) % (2 * np.pi)
        self._tremor_amp = amp_end
        mod = 1.0 + self.config.tremor * amp * np.sin(phase)
        out = drive.reshape(n, nj, 2) * mod[:, :, None]
        return np.clip(out.reshape(n, 2 * nj), 0.0, 1.0)

    def _interp_rows(self, key: str, t: np.ndarray, cols: list[int] | None = None) -> np.ndarray:
        """Linear interpolation of buffered physics rows at true times ``t``."""
        x = t * mus.PHYSICS_RATE_HZ - self._buf_i0
        j = np.floor(x).astype(np.int64)
        if j.size and (j[0] < 0 or j[-1] + 1 >= self._buf[key].shape[0]):
            raise RuntimeError("internal error: sim physics buffer does not cover the requested times")
        frac = (x - j)[:, None]
        rows = self._buf[key] if cols is None else self._buf[key][:, cols]
        return rows[j] * (1 - frac) + rows[j + 1] * frac

    # -- sensors ------------------------------------------------------------------
    def _samples(self, name: str, t_end: float) -> tuple[int, int]:
        clock = self.clocks[name]
        k0 = self._next_k[name]
        # true time at which a packet's samples are all captured (and stamped)
        n = clock.samples_before(t_end - clock.stamp_latency_s, self.rates[name])
        k1 = k0 + ((n - k0) // clock.packet_samples) * clock.packet_samples
        self._next_k[name] = k1
        return k0, k1

    def _finish(
        self, name: str, data: np.ndarray, k0: int, k1: int, true_t: np.ndarray, rng: np.random.Generator
    ) -> StreamBlock:
        clock, rate = self.clocks[name], self.rates[name]
        k = np.arange(k0, k1)
        p = clock.packet_samples
        last = true_t[p - 1 :: p] + clock.stamp_latency_s if k1 > k0 else np.zeros(0)
        packets = packetize(clock, k0, k1, last, self._links[name], rng)
        return StreamBlock(
            data.astype(np.float32), clock.stamps(k, rate), k.astype(np.int64), true_t, packets
        )

    def _emg(self, t_end: float, b: int, truth: dict) -> StreamBlock:
        cfg = self.config
        name = "sim-emg"
        k0, k1 = self._samples(name, t_end)
        rng = self._rng(name, b)
        tt = self.clocks[name].sample_true_times(np.arange(k0, k1), cfg.emg_rate_hz)
        drive = self._interp_rows("drive", tt, [m.actuator for m in self.muscles])
        if self._emg_model is None:
            carrier = self._carrier.next(rng.standard_normal((k1 - k0, cfg.emg), dtype=np.float32))
            emg = (self.mvc_v * drive) * carrier
        else:
            src, _ = self._emg_model.next(drive, rng)
            for ch, i0, i1 in self._emg_model.last_bursts:
                self.rest_bursts[ch].append((float(tt[i0]), float(tt[i1 - 1])))
            emg = self.mvc_v * src
        noise = (cfg.emg_noise_uv * 1e-6 * self.emg_noise_scale).astype(np.float32)
        emg += rng.standard_normal(emg.shape, dtype=np.float32) * noise
        if cfg.mains_hz and cfg.mains_uv:
            emg += (cfg.mains_uv * 1e-6) * np.sin(2 * np.pi * cfg.mains_hz * tt)[:, None]
        if self.keep_truth:
            truth[name] = drive.astype(np.float32)
        return self._finish(name, emg, k0, k1, tt, rng)

    def _imus(self, t_end: float, b: int, truth: dict) -> list[tuple[str, StreamBlock]]:
        cfg = self.config
        if not self.imu_sites:
            return []
        ranges = {f"sim-imu{i}": self._samples(f"sim-imu{i}", t_end) for i in self.imu_sites}
        times = {
            n: self.clocks[n].sample_true_times(np.arange(*r), cfg.imu_rate_hz) for n, r in ranges.items()
        }
        nonempty = [t for t in times.values() if t.size]
        if not nonempty:
            return [
                (n, self._finish(n, np.zeros((0, 9)), *ranges[n], times[n], self._rng(n, b))) for n in ranges
            ]
        h = _KIN_DECIMATE * self.dt
        lo = min(t[0] for t in nonempty) - 3 * h
        hi = max(t[-1] for t in nonempty) + 3 * h
        g0, g1 = int(math.floor(lo / h)), int(math.ceil(hi / h))
        grid = np.arange(g0, g1 + 1) * h
        # before t = 0 the mover stands still at row 0's posture
        rows = np.maximum(np.arange(g0, g1 + 1) * _KIN_DECIMATE, 0) - self._buf_i0
        angles = self._buf["theta"][rows]
        root = planned_root(self.choreography.active(grid[0], grid[-1]), grid)
        kin = imu_kinematics(
            grid,
            angles,
            root,
            self.imu_sites,
            self.mounts,
            with_quat=self.keep_truth,
            segment_scale=self._segment_scale,
        )
        out = []
        dt = 1.0 / cfg.imu_rate_hz
        for idx, i in enumerate(self.imu_sites):
            name = f"sim-imu{i}"
            tt = times[name]
            rng = self._rng(name, b)
            n = tt.size

            def at(x: np.ndarray) -> np.ndarray:
                return np.stack([np.interp(tt, grid, x[:, c]) for c in range(x.shape[1])], 1)

            acc, gyro, mag = at(kin.specific_force[idx]), at(kin.gyro_dps[idx]), at(kin.mag_ut[idx])
            walk = np.cumsum(rng.standard_normal((n, 3)) * cfg.gyro_bias_walk_dps_rts * np.sqrt(dt), axis=0)
            gyro_bias = self.gyro_bias[idx] + walk
            if n:
                self.gyro_bias[idx] = gyro_bias[-1]
            gyro += gyro_bias + rng.standard_normal((n, 3)) * cfg.gyro_noise_dps_rthz * np.sqrt(
                cfg.imu_rate_hz / 2
            )
            acc_noise = cfg.accel_noise_ug_rthz * 1e-6 * 9.80665 * np.sqrt(cfg.imu_rate_hz / 2)
            acc += self.accel_bias[idx] + rng.standard_normal((n, 3)) * acc_noise
            mag += self.hard_iron[idx] + rng.standard_normal((n, 3)) * cfg.mag_noise_ut
            if self.keep_truth:
                q = at(kin.quat[idx])
                truth[name] = q / np.linalg.norm(q, axis=1, keepdims=True) if n else q
            out.append((name, self._finish(name, np.hstack([acc, gyro, mag]), *ranges[name], tt, rng)))
        return out

    def _pose(self, t_end: float, b: int, truth: dict) -> StreamBlock:
        cfg = self.config
        name = "sim-pose"
        k0, k1 = self._samples(name, t_end)
        rng = self._rng(name, b)
        tt = self.clocks[name].sample_true_times(np.arange(k0, k1), cfg.pose_rate_hz)
        n = tt.size
        if n:
            angles = self._interp_rows("theta", tt)
            root = planned_root(self.choreography.active(tt[0], tt[-1]), tt)
            kp = pose_keypoints(angles, root, self._segment_scale)
        else:
            kp = np.zeros((0, len(KEYPOINTS), 3))
        if self.keep_truth:
            truth[name] = kp.reshape(n, -1).astype(np.float32)
        noisy = kp + rng.standard_normal(kp.shape) * cfg.pose_noise_m
        if cfg.occlusion_per_min > 0 and n:
            span = BLOCK_S
            for j in range(len(KEYPOINTS)):
                starts = np.sort(
                    rng.uniform(t_end - span, t_end, rng.poisson(cfg.occlusion_per_min * span / 60))
                )
                hidden = tt < self._occluded_until[j]
                for s in starts:
                    until = s + rng.uniform(0.2, 1.0)
                    hidden |= (tt >= s) & (tt < until)
                    self._occluded_until[j] = max(self._occluded_until[j], until)
                noisy[hidden, j] = np.nan
        return self._finish(name, noisy.reshape(n, -1), k0, k1, tt, rng)

    # -- blocks -------------------------------------------------------------------
    def next_block(self) -> Block:
        """Advance by :data:`BLOCK_S` of true time and return every stream's new samples."""
        b = self.block_index
        t_end = (b + 1) * BLOCK_S
        self._advance_physics(t_end + _PHYS_MARGIN_S)
        truth: dict[str, np.ndarray] = {}
        streams = {"sim-emg": self._emg(t_end, b, truth)}
        streams.update(self._imus(t_end, b, truth))
        if self.config.pose:
            streams["sim-pose"] = self._pose(t_end, b, truth)
        if self.keep_truth:
            truth.update(self._truth_rows)
        self.block_index += 1
        return Block(b, t_end, streams, truth)

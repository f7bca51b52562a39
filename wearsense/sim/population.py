"""Movers who differ the way people do: a population drawn from the seed.

A :class:`MoverTraits` is one simulated person: body size (height, mass, segment
lengths), strength, electromechanical delay per muscle, activation time constants,
personal timing style (tempo, pauses, handedness) and the EMG character of each muscle
(median frequency, amplitude at maximal drive, amplitude-force exponent). With
``SimConfig(person="drawn")`` every trait follows from the seed through
:func:`draw_traits` and the ranges of a :class:`PopulationConfig`, so a held-out seed
is a different person, not only different choreography and noise.
``person="reference"`` (the default of ``sim://mover``) is the 1.75 m, 75 kg lab
reference with one EMD (``SimConfig.emd_ms``) for every muscle: the setting whose
physiology the tests elsewhere pin down.

Ranges (defaults, each a literature value):

- height 1.71 ± 0.09 m, BMI 24 ± 3 kg/m² (adult mixed-sex samples; NCD-RisC 2016);
  segment lengths scale with height (Winter 2009 proportions) with a 3 % SD of their own;
- strength: maximal joint torque relative to the reference, log-normal with 25 % SD
  (isometric strength varies ~20–35 % between healthy adults; Harbo et al. 2012);
- EMD 30–80 ms to visible motion: a mover mean N(50, 10) ms and a per-muscle SD of
  8 ms, clipped to 30..80 (Cavanagh & Komi 1979; Hug et al. 2011);
- τ_act N(15, 3) ms clipped 10..20, τ_deact N(55, 10) ms clipped 40..80
  (Zajac 1989; Thelen 2003);
- tempo: movement durations × log-normal(0, 0.15), movement-to-movement variation
  5 % SD; pauses × log-normal(0, 0.3); right-handed with probability 0.9;
- EMG: median frequency per muscle from :data:`MEDIAN_FREQUENCY_HZ` with an 8 Hz SD
  (subcutaneous fat, electrode and fibre-type differences), amplitude at maximal drive
  0.4–1.5 mV RMS, amplitude-force exponent per muscle (:data:`AMPLITUDE_FORCE_EXPONENT`)
  with a 0.1 SD.

A user changes the population by passing ``SimConfig(population=PopulationConfig(...))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from wearsense.errors import StreamError

__all__ = [
    "PopulationConfig",
    "MoverTraits",
    "draw_traits",
    "reference_traits",
    "MEDIAN_FREQUENCY_HZ",
    "AMPLITUDE_FORCE_EXPONENT",
    "REFERENCE_HEIGHT_M",
    "REFERENCE_MASS_KG",
]

REFERENCE_HEIGHT_M = 1.75
REFERENCE_MASS_KG = 75.0

#: Median frequency (Hz) of surface EMG by muscle in moderate isometric contraction,
#: bipolar electrodes ~20 mm apart. Sources: biceps brachii 70–86 Hz measured on real
#: recordings in this project's sessions and ~80 Hz in Merletti & Parker 2004; triceps
#: ~85 Hz; anterior deltoid ~75 Hz (Gerdle et al. 2000); vastus lateralis ~75 Hz and
#: biceps femoris ~70 Hz (Kupa et al. 1995; Bilodeau et al. 2003); tibialis anterior
#: ~120–130 Hz (Merletti et al. 1990; its fibres conduct fast and it lies superficially);
#: gastrocnemius ~95 Hz; erector spinae ~60 Hz (Roy et al. 1989); rectus abdominis and
#: gluteus medius ~60–70 Hz (subcutaneous fat low-passes the signal).
MEDIAN_FREQUENCY_HZ: dict[str, float] = {
    "biceps_brachii": 78.0,
    "triceps_brachii": 85.0,
    "deltoid_anterior": 75.0,
    "deltoid_posterior": 80.0,
    "vastus_lateralis": 75.0,
    "biceps_femoris": 70.0,
    "tibialis_anterior": 125.0,
    "gastrocnemius_medialis": 95.0,
    "erector_spinae": 60.0,
    "rectus_abdominis": 65.0,
    "gluteus_medius": 68.0,
}

#: Exponent p of EMG amplitude ∝ drive^p. Small hand and arm muscles recruit their motor
#: units early and grow by rate coding (near linear, p ≈ 1); large limb muscles recruit
#: over most of their range and their EMG rises faster than force at high levels
#: (curvilinear, p ≈ 1.3–1.6; Lawrence & De Luca 1983; Woods & Bigland-Ritchie 1983).
AMPLITUDE_FORCE_EXPONENT: dict[str, float] = {
    "biceps_brachii": 1.0,
    "triceps_brachii": 1.1,
    "deltoid_anterior": 1.3,
    "deltoid_posterior": 1.3,
    "vastus_lateralis": 1.5,
    "biceps_femoris": 1.3,
    "tibialis_anterior": 1.1,
    "gastrocnemius_medialis": 1.4,
    "erector_spinae": 1.2,
    "rectus_abdominis": 1.2,
    "gluteus_medius": 1.4,
}


def muscle_kind(name: str) -> str:
    """``biceps_brachii_r`` -> ``biceps_brachii``."""
    return name.rsplit("_", 1)[0]


@dataclass(frozen=True)
class PopulationConfig:
    """Ranges a population of movers is drawn from (see the module doc for sources).

    ``(mean, sd)`` pairs are normal distributions, ``*_sd`` alone a log-normal spread
    around the reference, ``(lo, hi)`` named ``*_range`` are clips or uniform ranges.
    """

    height_m: tuple[float, float] = (1.71, 0.09)
    height_range_m: tuple[float, float] = (1.50, 1.95)
    bmi: tuple[float, float] = (24.0, 3.0)
    bmi_range: tuple[float, float] = (18.0, 33.0)
    segment_sd: float = 0.03
    strength_sd: float = 0.25
    strength_range: tuple[float, float] = (0.55, 1.8)
    emd_ms: tuple[float, float] = (50.0, 10.0)
    emd_muscle_sd_ms: float = 8.0
    emd_range_ms: tuple[float, float] = (30.0, 80.0)
    tau_act_ms: tuple[float, float] = (15.0, 3.0)
    tau_act_range_ms: tuple[float, float] = (10.0, 20.0)
    tau_deact_ms: tuple[float, float] = (55.0, 10.0)
    tau_deact_range_ms: tuple[float, float] = (40.0, 80.0)
    tempo_sd: float = 0.15
    tempo_jitter_sd: float = 0.05
    pause_sd: float = 0.3
    right_handed: float = 0.9
    median_frequency_sd_hz: float = 8.0
    emg_mvc_mv: tuple[float, float] = (0.4, 1.5)
    amplitude_exponent_sd: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            vals = v if isinstance(v, tuple) else (v,)
            if not all(isinstance(x, (int, float)) and math.isfinite(x) and x >= 0 for x in vals):
                raise StreamError(f"PopulationConfig.{f.name}={v!r}: must be finite and >= 0")
            if (
                f.name.endswith("range_ms")
                or f.name.endswith("range_m")
                or f.name.endswith("range")
                or f.name == "emg_mvc_mv"
            ):
                if vals[0] > vals[1]:
                    raise StreamError(f"PopulationConfig.{f.name}={v!r}: (low, high) with low <= high")
        if not 0 <= self.right_handed <= 1:
            raise StreamError(f"PopulationConfig.right_handed={self.right_handed!r}: a probability, 0..1")


@dataclass(frozen=True)
class MoverTraits:
    """One simulated person. Per-muscle arrays follow ``muscles`` (every recordable muscle).

    Attributes
    ----------
    height_m, mass_kg : float
    segment_scale : ndarray (n_segments,)
        Length of each segment relative to the reference skeleton.
    strength : float
        Maximal joint torques relative to the reference.
    emd_ms : ndarray (n_muscles,)
        Electromechanical delay of each muscle, ms.
    tau_act_ms, tau_deact_ms : float
        Activation dynamics time constants, ms.
    tempo : float
        Movement durations relative to the reference (> 1: slower).
    tempo_jitter : float
        SD of the per-movement variation of tempo (fraction).
    pause : float
        Pauses between movements relative to the reference.
    right_handed : bool
    median_frequency_hz : ndarray (n_muscles,)
        EMG median frequency of each muscle in a fresh, moderate contraction.
    mvc_v : ndarray (n_muscles,)
        EMG RMS amplitude at maximal drive, V.
    amplitude_exponent : ndarray (n_muscles,)
        EMG amplitude ∝ drive^p.
    muscles : tuple of str
    """

    height_m: float
    mass_kg: float
    segment_scale: np.ndarray
    strength: float
    emd_ms: np.ndarray
    tau_act_ms: float
    tau_deact_ms: float
    tempo: float
    tempo_jitter: float
    pause: float
    right_handed: bool
    median_frequency_hz: np.ndarray
    mvc_v: np.ndarray
    amplitude_exponent: np.ndarray
    muscles: tuple[str, ...]

    def emd_of(self, muscle: str) -> float:
        """EMD (ms) of one muscle."""
        try:
            return float(self.emd_ms[self.muscles.index(muscle)])
        except ValueError:
            raise StreamError(f"no muscle {muscle!r}; muscles: {', '.join(self.muscles)}") from None

    def summary(self) -> dict[str, float]:
        """Scalar traits, for dataset cards and figures."""
        return {
            "height_m": self.height_m,
            "mass_kg": self.mass_kg,
            "strength": self.strength,
            "emd_mean_ms": float(self.emd_ms.mean()),
            "emd_min_ms": float(self.emd_ms.min()),
            "emd_max_ms": float(self.emd_ms.max()),
            "tau_act_ms": self.tau_act_ms,
            "tau_deact_ms": self.tau_deact_ms,
            "tempo": self.tempo,
            "pause": self.pause,
            "right_handed": float(self.right_handed),
        }


def _truncated_normal(
    rng: np.random.Generator, mean: np.ndarray | float, sd: float, lo: float, hi: float, size: int
) -> np.ndarray:
    """Normal draws redrawn until inside [lo, hi] (no pile-up at the bounds)."""
    mean = np.broadcast_to(np.asarray(mean, float), (size,))
    x = rng.normal(mean, sd)
    for _ in range(50):
        bad = (x < lo) | (x > hi)
        if not bad.any():
            break
        x[bad] = rng.normal(mean[bad], sd)
    return np.clip(x, lo, hi)


def _muscle_names() -> tuple[str, ...]:
    from wearsense.sim.muscles import MUSCLES

    return tuple(m.name for m in MUSCLES)


def _n_segments() -> int:
    from wearsense.sim.body import SEGMENTS

    return len(SEGMENTS)


def reference_traits(
    emd_ms: float = 50.0,
    tau_act_ms: float = 15.0,
    tau_deact_ms: float = 50.0,
    emg_mvc_mv: tuple[float, float] = (0.4, 1.5),
    rng: np.random.Generator | None = None,
) -> MoverTraits:
    """The lab reference person: 1.75 m, 75 kg, one EMD for every muscle.

    The EMG amplitude at maximal drive is still drawn per muscle (``rng``) within
    ``emg_mvc_mv``, as electrodes never see the same amplitude twice.
    """
    names = _muscle_names()
    n = len(names)
    lo, hi = emg_mvc_mv
    mvc = (rng.uniform(lo, hi, n) if rng is not None else np.full(n, 0.5 * (lo + hi))) * 1e-3
    return MoverTraits(
        height_m=REFERENCE_HEIGHT_M,
        mass_kg=REFERENCE_MASS_KG,
        segment_scale=np.ones(_n_segments()),
        strength=1.0,
        emd_ms=np.full(n, float(emd_ms)),
        tau_act_ms=float(tau_act_ms),
        tau_deact_ms=float(tau_deact_ms),
        tempo=1.0,
        tempo_jitter=0.0,
        pause=1.0,
        right_handed=True,
        median_frequency_hz=np.array([MEDIAN_FREQUENCY_HZ[muscle_kind(m)] for m in names]),
        mvc_v=mvc,
        amplitude_exponent=np.array([AMPLITUDE_FORCE_EXPONENT[muscle_kind(m)] for m in names]),
        muscles=names,
    )


def draw_traits(rng: np.random.Generator, population: PopulationConfig | None = None) -> MoverTraits:
    """Draw one person from ``population`` with ``rng`` (seeded by the caller)."""
    p = population or PopulationConfig()
    names = _muscle_names()
    n = len(names)

    def normal(ms: tuple[float, float], clip: tuple[float, float]) -> float:
        return float(_truncated_normal(rng, ms[0], ms[1], clip[0], clip[1], 1)[0])

    height = normal(p.height_m, p.height_range_m)
    mass = normal(p.bmi, p.bmi_range) * height**2
    segment = (height / REFERENCE_HEIGHT_M) * np.exp(rng.normal(0.0, p.segment_sd, _n_segments()))
    strength = float(np.clip(np.exp(rng.normal(0.0, p.strength_sd)), *p.strength_range))
    lo_emd, hi_emd = p.emd_range_ms
    emd_mover = normal(p.emd_ms, (lo_emd + 5.0, hi_emd - 5.0) if hi_emd - lo_emd > 10 else p.emd_range_ms)
    emd = _truncated_normal(rng, emd_mover, p.emd_muscle_sd_ms, lo_emd, hi_emd, n)
    tau_act = normal(p.tau_act_ms, p.tau_act_range_ms)
    tau_deact = normal(p.tau_deact_ms, p.tau_deact_range_ms)
    tempo = float(np.exp(rng.normal(0.0, p.tempo_sd)))
    pause = float(np.exp(rng.normal(0.0, p.pause_sd)))
    right = bool(rng.random() < p.right_handed)
    mdf = np.array([MEDIAN_FREQUENCY_HZ[muscle_kind(m)] for m in names]) + rng.normal(
        0, p.median_frequency_sd_hz, n
    )
    mdf = np.clip(mdf, 45.0, 150.0)
    lo, hi = p.emg_mvc_mv
    mvc = rng.uniform(lo, hi, n) * 1e-3
    expo = np.clip(
        np.array([AMPLITUDE_FORCE_EXPONENT[muscle_kind(m)] for m in names])
        + rng.normal(0, p.amplitude_exponent_sd, n),
        0.8,
        2.0,
    )
    return MoverTraits(
        height_m=height,
        mass_kg=float(mass),
        segment_scale=segment,
        strength=strength,
        emd_ms=emd,
        tau_act_ms=tau_act,
        tau_deact_ms=tau_deact,
        tempo=tempo,
        tempo_jitter=p.tempo_jitter_sd,
        pause=pause,
        right_handed=right,
        median_frequency_hz=mdf,
        mvc_v=mvc,
        amplitude_exponent=expo,
        muscles=names,
    )

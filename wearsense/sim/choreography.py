"""The mover's seeded repertoire: reaches, squats, steps, gestures, braces, rests, improvisation.

A choreography is an endless, seeded sequence of :class:`Movement`s, each made of
primitives that are pure functions of time:

- :class:`Ramp`: a joint moves by ``amp_deg`` with a smooth-step profile (velocity
  continuous, acceleration starting at once, as in fast voluntary movements whose
  agonist burst starts abruptly), holds, and returns;
- :class:`Oscillation`: a joint oscillates (a wave, improvisation), faded in and out;
- :class:`CoContraction`: agonist and antagonist of a joint are co-activated with no
  net torque: a brace, or an anticipatory postural adjustment (APA, Aruin & Latash
  1995) that precedes a fast arm movement in the leg and trunk muscles;
- :class:`RootMove`: the pelvis translates on the floor and turns (steps).

The *planned* trajectories here are what the nervous system aims for; the motion the
sensors see comes from the muscle model in :mod:`wearsense.sim.muscles`, which turns
the plan into neural drive and back into motion through activation dynamics and the
electromechanical delay.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from wearsense.sim.body import JOINT_INDEX, JOINTS

__all__ = [
    "planned",
    "planned_root",
    "Movement",
    "Ramp",
    "Oscillation",
    "CoContraction",
    "RootMove",
    "Choreography",
    "KINDS",
]

#: Movement kinds and their default relative frequency in the repertoire.
KINDS: dict[str, float] = {
    "rest": 0.12,
    "reach": 0.20,
    "squat": 0.10,
    "step": 0.14,
    "gesture": 0.14,
    "brace": 0.12,
    "improvise": 0.18,
}


def min_jerk(s: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile 10s³ − 15s⁴ + 6s⁵ for s clipped to [0, 1]."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * s * (10.0 + s * (-15.0 + 6.0 * s))


def smooth_step(s: np.ndarray) -> np.ndarray:
    """Cubic smooth step 3s² − 2s³ for s clipped to [0, 1]: zero velocity at both ends,
    acceleration that jumps at the start (an abrupt agonist burst) and at the end."""
    s = np.clip(s, 0.0, 1.0)
    return s * s * (3.0 - 2.0 * s)


def _plateau(t: np.ndarray, t0: float, rise: float, hold: float, fall: float, profile=min_jerk) -> np.ndarray:
    up = profile((t - t0) / rise)
    down = profile((t - (t0 + rise + hold)) / fall)
    return up - down


@dataclass(frozen=True)
class Ramp:
    joint: int
    t0: float
    rise: float
    hold: float
    fall: float
    amp_deg: float

    @property
    def end(self) -> float:
        return self.t0 + self.rise + self.hold + self.fall

    def value(self, t: np.ndarray) -> np.ndarray:
        return self.amp_deg * _plateau(t, self.t0, self.rise, self.hold, self.fall, smooth_step)


@dataclass(frozen=True)
class Oscillation:
    joint: int
    t0: float
    duration: float
    freq_hz: float
    amp_deg: float
    phase: float
    fade: float
    offset_deg: float = 0.0

    @property
    def end(self) -> float:
        return self.t0 + self.duration

    def value(self, t: np.ndarray) -> np.ndarray:
        env = _plateau(t, self.t0, self.fade, self.duration - 2 * self.fade, self.fade)
        wave = np.sin(2 * np.pi * self.freq_hz * (t - self.t0) + self.phase) - np.sin(self.phase)
        return env * (self.offset_deg + self.amp_deg * wave)


@dataclass(frozen=True)
class CoContraction:
    joint: int
    t0: float
    rise: float
    hold: float
    fall: float
    level: float  # added activation of both agonist and antagonist, 0..1

    @property
    def end(self) -> float:
        return self.t0 + self.rise + self.hold + self.fall

    def value(self, t: np.ndarray) -> np.ndarray:
        return self.level * _plateau(t, self.t0, self.rise, self.hold, self.fall)


@dataclass(frozen=True)
class RootMove:
    t0: float
    duration: float
    dx: float
    dy: float
    dheading: float

    @property
    def end(self) -> float:
        return self.t0 + self.duration

    def value(self, t: np.ndarray) -> np.ndarray:
        """Displacement (n, 3): dx, dy (m), dheading (rad)."""
        s = min_jerk((t - self.t0) / self.duration)
        return s[:, None] * np.array([self.dx, self.dy, self.dheading])


@dataclass(frozen=True)
class Movement:
    """One item of the choreography, with its true planned start (motion onset) and end."""

    kind: str
    start: float
    end: float
    ramps: tuple[Ramp | Oscillation, ...] = ()
    cocontractions: tuple[CoContraction, ...] = ()
    root: tuple[RootMove, ...] = ()
    detail: str = ""
    #: root x, y (m) and heading (rad) accumulated by all earlier movements
    root_base: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: phrase number (movements of one phrase share it); Laban Effort (weight, time, space,
    #: flow) in -1..1, NaN when the movement carries none; the basic effort action, if any
    phrase: int = -1
    effort: tuple[float, float, float, float] = (float("nan"),) * 4
    action: str = ""

    @property
    def family(self) -> str:
        from wearsense.sim.vocabulary import FAMILY_OF

        return FAMILY_OF[self.kind]


@dataclass
class Choreography:
    """An endless seeded sequence of movements; extended on demand, never re-drawn.

    Parameters
    ----------
    seed : int
        Same seed, same movements.
    kinds : dict
        Relative frequency of each kind (subset of :data:`KINDS`).
    """

    seed: int | tuple[int, int]
    kinds: dict[str, float] = field(default_factory=lambda: dict(KINDS))
    movements: list[Movement] = field(default_factory=list)
    #: the mover's timing style: durations x tempo (x a per-movement factor of SD
    #: tempo_jitter), pauses x pause; handedness picks the usual side of one-arm moves
    tempo: float = 1.0
    tempo_jitter: float = 0.0
    pause: float = 1.0
    right_handed: bool = True
    #: "classic": one movement at a time (the repertoire before issue 13); "full": phrases
    #: of 2-4 movements of one family, each with an Effort (see wearsense.sim.vocabulary)
    vocabulary: str = "classic"
    #: Effort (weight, time, space, flow) requested for every movement, or None
    effort: tuple[float, float, float, float] | None = None

    def __post_init__(self) -> None:
        # seed: an int, or (seed, take) for a later take of the same mover
        seed, take = (self.seed, None) if isinstance(self.seed, int) else self.seed
        words = [seed, 0xC0FFEE] if take is None else [seed, 0xC0FFEE, take]
        self._rng = np.random.default_rng(np.random.SeedSequence(words))
        names = list(self.kinds)
        w = np.array([self.kinds[k] for k in names], float)
        self._names, self._p = names, w / w.sum()
        self._t = 0.8  # the mover stands still for the first 0.8 s
        self._heading = 0.0
        self._side = 0
        self._root = np.zeros(3)
        self._n_phrases = -1

    def until(self, t_end: float) -> list[Movement]:
        """All movements, extended so that the plan covers at least ``t_end`` seconds."""
        while self._t < t_end + 10.0:
            if self.vocabulary == "classic":
                kind = self._names[self._rng.choice(len(self._names), p=self._p)]
                self._add(kind, len(self.movements))
                self._t = self.movements[-1].end + self._rng.uniform(0.4, 1.2) * self.pause
            else:
                self._phrase()
        return self.movements

    def _phrase(self) -> None:
        from wearsense.sim.vocabulary import FAMILIES

        fams = [f for f in FAMILIES if any(k in self.kinds for k in FAMILIES[f])]
        # families equally often, whatever their number of kinds
        w = np.array([np.mean([self.kinds[k] for k in FAMILIES[f] if k in self.kinds]) for f in fams])
        fam = fams[self._rng.choice(len(fams), p=w / w.sum())]
        kinds = [k for k in FAMILIES[fam] if k in self.kinds]
        p = np.array([self.kinds[k] for k in kinds])
        self._n_phrases += 1
        for _ in range(int(self._rng.integers(2, 5))):
            self._add(kinds[self._rng.choice(len(kinds), p=p / p.sum())], self._n_phrases)
            self._t = self.movements[-1].end + self._rng.uniform(0.05, 0.3) * self.pause
        self._t += self._rng.uniform(0.4, 1.2) * self.pause

    def _add(self, kind: str, phrase: int) -> None:
        from wearsense.sim.vocabulary import GENERATORS, with_effort

        make = getattr(self, f"_{kind}", None)
        mv = make(self._t) if make is not None else GENERATORS[kind](self, self._t)
        if not mv.action:
            if self.effort is not None:
                mv = with_effort(mv, self.effort, self._rng)
            elif self.vocabulary == "full":
                drawn = (
                    (0.0,) * 4 if self._rng.random() < 0.4 else tuple(self._rng.choice([-1.0, 0.0, 1.0], 4))
                )
                mv = with_effort(mv, drawn, self._rng) if any(drawn) else replace(mv, effort=(0.0,) * 4)
        k = self.tempo * (
            float(np.exp(self._rng.normal(0.0, self.tempo_jitter))) if self.tempo_jitter else 1.0
        )
        if k != 1.0:
            mv = time_scaled(mv, k)
        mv = replace(mv, root_base=tuple(self._root), phrase=phrase)
        self._root = self._root + sum((np.array([r.dx, r.dy, r.dheading]) for r in mv.root), np.zeros(3))
        self.movements.append(mv)

    def active(self, t0: float, t1: float) -> list[Movement]:
        return [m for m in self.until(t1) if m.end + 0.5 >= t0 and m.start - 0.5 <= t1]

    # -- the repertoire ---------------------------------------------------------------
    def _r(self, lo: float, hi: float) -> float:
        return float(self._rng.uniform(lo, hi))

    def _side_pick(self, p_dominant: float) -> str:
        dominant = self._rng.random() < p_dominant
        return "r" if dominant == self.right_handed else "l"

    def _rest(self, t: float) -> Movement:
        return Movement("rest", t, t + self._r(1.0, 3.0))

    def _reach(self, t: float) -> Movement:
        side = self._side_pick(0.65)
        rise, hold, fall = self._r(0.35, 0.8), self._r(0.2, 0.9), self._r(0.5, 0.9)
        sh, el = self._r(50, 110), self._r(-5, 40)
        ramps = [
            Ramp(JOINT_INDEX[f"shoulder_flex_{side}"], t, rise, hold, fall, sh),
            Ramp(JOINT_INDEX[f"elbow_flex_{side}"], t, rise, hold, fall, el),
            Ramp(JOINT_INDEX["trunk_flex"], t, rise, hold, fall, self._r(0, 10)),
        ]
        # Anticipatory postural adjustment: leg and trunk muscles co-contract
        # 50-100 ms before the arm moves (Aruin & Latash 1995), without moving.
        lead = self._r(0.05, 0.10)
        apa = [
            CoContraction(JOINT_INDEX[j], t - lead, 0.04, 0.12, 0.15, self._r(0.08, 0.18))
            for j in ("ankle_dorsi_r", "ankle_dorsi_l", "knee_flex_r", "knee_flex_l", "trunk_flex")
        ]
        return Movement("reach", t, t + rise + hold + fall, tuple(ramps), tuple(apa), detail=side)

    def _squat(self, t: float) -> Movement:
        depth = self._r(0.4, 1.0)
        rise, hold, fall = self._r(0.8, 1.5), self._r(0.3, 1.5), self._r(0.8, 1.5)
        ramps = []
        for side in "rl":
            ramps += [
                Ramp(JOINT_INDEX[f"hip_flex_{side}"], t, rise, hold, fall, 80 * depth),
                Ramp(JOINT_INDEX[f"knee_flex_{side}"], t, rise, hold, fall, 95 * depth),
                Ramp(JOINT_INDEX[f"ankle_dorsi_{side}"], t, rise, hold, fall, 22 * depth),
                Ramp(JOINT_INDEX[f"shoulder_flex_{side}"], t, rise, hold, fall, 60 * depth),
            ]
        ramps.append(Ramp(JOINT_INDEX["trunk_flex"], t, rise, hold, fall, 30 * depth))
        return Movement("squat", t, t + rise + hold + fall, tuple(ramps))

    def _step(self, t: float) -> Movement:
        n = int(self._rng.integers(2, 6))
        turn = self._r(-1.2, 1.2) if self._rng.random() < 0.4 else 0.0
        length = self._r(0.15, 0.35)
        dur = self._r(0.55, 0.8)
        ramps, roots = [], []
        for k in range(n):
            side = "rl"[(self._side + k) % 2]
            tk = t + k * dur
            rise = dur * 0.45
            ramps += [
                Ramp(JOINT_INDEX[f"hip_flex_{side}"], tk, rise, 0.02, rise, self._r(30, 50)),
                Ramp(JOINT_INDEX[f"knee_flex_{side}"], tk, rise, 0.02, rise, self._r(45, 70)),
                Ramp(JOINT_INDEX[f"ankle_dorsi_{side}"], tk, rise, 0.02, rise, self._r(5, 15)),
                Ramp(JOINT_INDEX[f"shoulder_flex_{'l' if side == 'r' else 'r'}"], tk, rise, 0.02, rise, 20),
            ]
            h = self._heading + turn * (k + 0.5) / n
            roots.append(RootMove(tk, dur, length * np.cos(h), length * np.sin(h), turn / n))
        self._heading += turn
        self._side += n
        return Movement("step", t, t + n * dur, tuple(ramps), root=tuple(roots), detail=f"{n} steps")

    def _gesture(self, t: float) -> Movement:
        kind = self._rng.choice(["wave", "clap", "point"])
        side = self._side_pick(0.6)
        if kind == "wave":
            dur = self._r(1.5, 3.0)
            ramps = (
                Ramp(JOINT_INDEX[f"shoulder_abd_{side}"], t, 0.5, dur - 1.0, 0.5, self._r(80, 120)),
                Oscillation(
                    JOINT_INDEX[f"elbow_flex_{side}"],
                    t + 0.3,
                    dur - 0.6,
                    self._r(1.5, 2.5),
                    self._r(20, 35),
                    0.0,
                    0.25,
                    offset_deg=60.0,
                ),
            )
            end = t + dur
        elif kind == "clap":
            # Both hands meet in front of the chest: the sync gesture, seen by IMUs and camera.
            rise, hold, fall = self._r(0.25, 0.4), 0.05, self._r(0.4, 0.6)
            ramps = tuple(
                Ramp(JOINT_INDEX[f"{j}_{s}"], t, rise, hold, fall, a)
                for s in "rl"
                for j, a in (("shoulder_flex", 80.0), ("elbow_flex", 25.0), ("shoulder_abd", -8.0))
            )
            end = t + rise + hold + fall
        else:
            rise, hold, fall = self._r(0.3, 0.6), self._r(0.4, 1.0), self._r(0.4, 0.7)
            ramps = (
                Ramp(JOINT_INDEX[f"shoulder_flex_{side}"], t, rise, hold, fall, self._r(70, 100)),
                Ramp(JOINT_INDEX[f"shoulder_abd_{side}"], t, rise, hold, fall, self._r(10, 40)),
                Ramp(JOINT_INDEX[f"wrist_flex_{side}"], t, rise, hold, fall, self._r(-30, 20)),
            )
            end = t + rise + hold + fall
        return Movement("gesture", t, end, ramps, detail=f"{kind}_{side}")

    def _brace(self, t: float) -> Movement:
        joints = self._rng.choice(
            ["elbow_flex_r", "elbow_flex_l", "knee_flex_r", "knee_flex_l", "ankle_dorsi_r", "trunk_flex"],
            size=int(self._rng.integers(1, 4)),
            replace=False,
        )
        rise, hold, fall = self._r(0.15, 0.4), self._r(0.8, 2.0), self._r(0.2, 0.5)
        cc = tuple(
            CoContraction(JOINT_INDEX[str(j)], t, rise, hold, fall, self._r(0.15, 0.4)) for j in joints
        )
        return Movement(
            "brace", t, t + rise + hold + fall, cocontractions=cc, detail=",".join(map(str, joints))
        )

    def _improvise(self, t: float) -> Movement:
        dur = self._r(3.0, 7.0)
        pool = [
            "trunk_flex",
            "trunk_lat",
            "trunk_rot",
            "neck_flex",
            "shoulder_flex_r",
            "shoulder_abd_r",
            "elbow_flex_r",
            "wrist_flex_r",
            "shoulder_flex_l",
            "shoulder_abd_l",
            "elbow_flex_l",
            "wrist_flex_l",
            "hip_flex_r",
            "knee_flex_r",
            "hip_flex_l",
            "knee_flex_l",
        ]
        chosen = self._rng.choice(pool, size=int(self._rng.integers(4, 9)), replace=False)
        ramps = []
        for name in chosen:
            j = JOINTS[JOINT_INDEX[str(name)]]
            span = j.limits_deg[1] - j.limits_deg[0]
            lo = max(j.limits_deg[0], j.rest_deg - 0.5 * span)
            amp = self._r(0.04, 0.15) * span
            # keep rest + offset ± amp inside the joint's range
            offset = float(
                np.clip(
                    self._r(0, 0.25) * span, lo - j.rest_deg + amp, j.limits_deg[1] - j.rest_deg - 2 * amp
                )
            )
            ramps.append(
                Oscillation(
                    JOINT_INDEX[str(name)],
                    t,
                    dur,
                    self._r(0.25, 1.2),
                    amp,
                    self._r(0, 2 * np.pi),
                    0.8,
                    offset,
                )
            )
        return Movement("improvise", t, t + dur, tuple(ramps), detail=",".join(map(str, chosen)))


def time_scaled(mv: Movement, k: float) -> Movement:
    """The movement performed ``k`` times slower (k < 1: faster), from the same start."""
    t0 = mv.start

    def at(t: float) -> float:
        return t0 + (t - t0) * k

    ramps = []
    for p in mv.ramps:
        if isinstance(p, Oscillation):
            ramps.append(
                replace(p, t0=at(p.t0), duration=p.duration * k, freq_hz=p.freq_hz / k, fade=p.fade * k)
            )
        else:
            ramps.append(replace(p, t0=at(p.t0), rise=p.rise * k, hold=p.hold * k, fall=p.fall * k))
    cc = tuple(
        replace(c, t0=at(c.t0), rise=c.rise * k, hold=c.hold * k, fall=c.fall * k) for c in mv.cocontractions
    )
    root = tuple(replace(r, t0=at(r.t0), duration=r.duration * k) for r in mv.root)
    return replace(mv, end=at(mv.end), ramps=tuple(ramps), cocontractions=cc, root=root)


def planned_root(moves: list[Movement], t: np.ndarray) -> np.ndarray:
    """Root x, y (m) and heading (rad), shape (n, 3), from the movements active over ``t``."""
    root = np.zeros((t.shape[0], 3))
    if moves:
        root += np.asarray(moves[0].root_base)
    for mv in moves:
        for r in mv.root:
            root += r.value(t)
    return root


def planned(moves: list[Movement], t: np.ndarray, n_joints: int) -> tuple[np.ndarray, np.ndarray]:
    """Evaluate the plan on a time grid.

    ``moves`` must be every movement that acts within the grid, in order (as
    :meth:`Choreography.active` returns them).

    Returns
    -------
    angles : ndarray (n, n_joints)
        Planned joint angles (deg), rest posture included, clipped to joint limits.
    cocontraction : ndarray (n, n_joints)
        Co-contraction level per joint (activation units).
    """
    angles = np.tile(np.array([j.rest_deg for j in JOINTS]), (t.shape[0], 1))
    cc = np.zeros((t.shape[0], n_joints))
    for mv in moves:
        for p in mv.ramps:
            angles[:, p.joint] += p.value(t)
        for c in mv.cocontractions:
            cc[:, c.joint] += c.value(t)
    lo = np.array([j.limits_deg[0] for j in JOINTS])
    hi = np.array([j.limits_deg[1] for j in JOINTS])
    np.clip(angles, lo, hi, out=angles)
    return angles, cc

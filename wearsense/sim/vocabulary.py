"""The movement vocabulary: named families of parametrised movements, phrases, and Effort.

Every movement kind belongs to one family (:data:`FAMILIES`); ``vocabulary="full"``
chains 2–4 movements of one family into a *phrase* with short transitions, so whole
families can be held out of training (``SimConfig(families=...)``: the zero-shot test of
tracking movement never seen). ``vocabulary="classic"`` (the default of ``sim://mover``)
is the repertoire before issue 13, one movement at a time.

Families: ``everyday`` (reach, squat, step, rest, sit_to_stand, lift_carry),
``gesture`` (wave/clap/point), ``isometric`` (brace), ``free`` (improvise), ``dance``
(spiral_turn, swing, fall_recover, weight_shift), ``martial`` (strike, block, stance),
``effort`` (Laban's eight basic effort actions: punch, press, slash, wring, dab, glide,
flick, float).

**Effort** (Laban): each movement of the full vocabulary carries an Effort vector
``(weight, time, space, flow)`` in −1..1 — weight +1 strong / −1 light, time +1 sudden /
−1 sustained, space +1 direct / −1 indirect, flow +1 bound / −1 free — drawn per movement,
or requested for every movement with ``SimConfig(effort=(w, t, s, f))``. Effort changes
the *causes* of the movement, not only its look (:func:`with_effort`):

- weight: strong adds co-contraction (0.25 × w of maximal activation) to every joint the
  movement uses, so EMG rises with no change of path; light shrinks amplitudes by up to 25 %;
- time: durations × exp(−0.55 t) (sudden ×0.58, sustained ×1.73);
- space: indirect adds a curving oscillation (10–25° × |s|) on a neighbouring joint
  (shoulder abduction, trunk rotation), so the hand's path bends;
- flow: bound adds co-contraction (0.12 × f) and holds; free adds a follow-through swing
  at the end.

The eight basic actions fix weight, time and space (punch: strong sudden direct; press:
strong sustained direct — performed *isometrically*, pushing against a wall: high EMG,
no motion; slash: strong sudden indirect; wring: strong sustained indirect; dab: light
sudden direct; glide: light sustained direct; flick: light sudden indirect — a fast,
relaxed movement: motion with little EMG; float: light sustained indirect).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from wearsense.sim.body import JOINT_INDEX
from wearsense.sim.choreography import (
    CoContraction,
    Movement,
    Oscillation,
    Ramp,
    RootMove,
    time_scaled,
)

__all__ = [
    "FAMILIES",
    "FAMILY_OF",
    "VOCABULARY",
    "BASIC_ACTIONS",
    "EFFORT_FACTORS",
    "with_effort",
    "frame_labels",
]

#: Family -> its movement kinds.
FAMILIES: dict[str, tuple[str, ...]] = {
    "everyday": ("reach", "squat", "step", "rest", "sit_to_stand", "lift_carry"),
    "gesture": ("gesture",),
    "isometric": ("brace",),
    "free": ("improvise",),
    "dance": ("spiral_turn", "swing", "fall_recover", "weight_shift"),
    "martial": ("strike", "block", "stance"),
    "effort": ("punch", "press", "slash", "wring", "dab", "glide", "flick", "float"),
}
FAMILY_OF: dict[str, str] = {k: f for f, kinds in FAMILIES.items() for k in kinds}
#: Every kind and its relative frequency in the full vocabulary.
VOCABULARY: dict[str, float] = {k: 1.0 for k in FAMILY_OF}
EFFORT_FACTORS = ("weight", "time", "space", "flow")
#: Laban's eight basic effort actions: (weight, time, space); +1 strong/sudden/direct.
BASIC_ACTIONS: dict[str, tuple[float, float, float]] = {
    "punch": (1.0, 1.0, 1.0),
    "press": (1.0, -1.0, 1.0),
    "slash": (1.0, 1.0, -1.0),
    "wring": (1.0, -1.0, -1.0),
    "dab": (-1.0, 1.0, 1.0),
    "glide": (-1.0, -1.0, 1.0),
    "flick": (-1.0, 1.0, -1.0),
    "float": (-1.0, -1.0, -1.0),
}

J = JOINT_INDEX


def _joints_of(mv: Movement) -> list[int]:
    return sorted({p.joint for p in mv.ramps})


def with_effort(
    mv: Movement, effort: tuple[float, float, float, float], rng: np.random.Generator
) -> Movement:
    """``mv`` performed with Effort ``(weight, time, space, flow)`` (each −1..1); see the module doc."""
    w, t, s, f = (float(np.clip(x, -1.0, 1.0)) for x in effort)
    if w < 0:
        mv = replace(
            mv,
            ramps=tuple(
                replace(p, amp_deg=p.amp_deg * (1 + 0.25 * w)) if isinstance(p, (Ramp, Oscillation)) else p
                for p in mv.ramps
            ),
        )
    k = float(np.exp(-0.55 * t))
    if k != 1.0:
        mv = time_scaled(mv, k)
    dur = mv.end - mv.start
    joints = _joints_of(mv)
    cc = list(mv.cocontractions)
    level = 0.25 * max(w, 0.0) + 0.12 * max(f, 0.0)
    if level > 0 and joints and dur > 0:
        rise = min(0.15, 0.3 * dur)
        cc += [CoContraction(j, mv.start - 0.05, rise, max(dur - rise, 0.0), 0.2, level) for j in joints]
    ramps = list(mv.ramps)
    if s < 0 and dur > 0.2:
        arm = next((j for j in joints if "shoulder_flex" in _name(j)), None)
        side = _name(arm)[-1] if arm is not None else None
        curve = J[f"shoulder_abd_{side}"] if side else J["trunk_rot"]
        amp = float(rng.uniform(10.0, 25.0)) * -s
        ramps.append(Oscillation(curve, mv.start, dur, 1.0 / dur, amp, 0.0, min(0.3 * dur, 0.3)))
        ramps.append(
            Oscillation(J["trunk_rot"], mv.start, dur, 0.5 / dur, 0.4 * amp, 0.0, min(0.3 * dur, 0.3))
        )
    end = mv.end
    if f < 0 and joints and dur > 0:
        j = joints[0]
        ramps.append(Oscillation(j, mv.end - 0.1, 0.8, 1.5, 8.0 * -f, 0.0, 0.2))
        end = max(end, mv.end + 0.7)
    return replace(mv, ramps=tuple(ramps), cocontractions=tuple(cc), end=end, effort=(w, t, s, f))


def _name(j: int | None) -> str:
    from wearsense.sim.body import JOINTS

    return "" if j is None else JOINTS[j].name


# -- generators: (choreography, t) -> Movement; ch._r(lo, hi), ch._rng, ch._side_pick --------------


def _sit_to_stand(ch, t: float) -> Movement:
    down, hold, up = ch._r(0.9, 1.5), ch._r(0.8, 2.0), ch._r(0.8, 1.4)
    ramps = [Ramp(J["trunk_flex"], t, down, hold, up, ch._r(25, 40))]
    for side in "rl":
        ramps += [
            Ramp(J[f"hip_flex_{side}"], t, down, hold, up, ch._r(80, 95)),
            Ramp(J[f"knee_flex_{side}"], t, down, hold, up, ch._r(85, 95)),
            Ramp(J[f"ankle_dorsi_{side}"], t, down, hold, up, ch._r(5, 15)),
        ]
    return Movement("sit_to_stand", t, t + down + hold + up, tuple(ramps), detail="stand-sit-stand")


def _lift_carry(ch, t: float) -> Movement:
    bend, walk, put = ch._r(0.8, 1.2), ch._r(1.5, 3.0), ch._r(0.8, 1.2)
    total = 2 * bend + walk + put
    ramps = [Ramp(J["trunk_flex"], t, bend, 0.2, bend, ch._r(40, 60))]
    cc = []
    for side in "rl":
        ramps += [
            Ramp(J[f"hip_flex_{side}"], t, bend, 0.2, bend, ch._r(50, 70)),
            Ramp(J[f"knee_flex_{side}"], t, bend, 0.2, bend, ch._r(40, 60)),
            Ramp(J[f"elbow_flex_{side}"], t + bend, 0.5, walk + put, 0.6, ch._r(70, 90)),
            Ramp(J[f"shoulder_flex_{side}"], t + bend, 0.5, walk + put, 0.6, ch._r(15, 30)),
        ]
        # holding the load: elbow and shoulder flexors and their antagonists work throughout
        cc += [
            CoContraction(J[f"elbow_flex_{side}"], t + bend, 0.3, walk + put, 0.3, ch._r(0.15, 0.3)),
            CoContraction(J[f"shoulder_flex_{side}"], t + bend, 0.3, walk + put, 0.3, ch._r(0.1, 0.2)),
        ]
    n = int(ch._rng.integers(2, 5))
    dur = walk / n
    roots = []
    for k in range(n):
        leg = "rl"[k % 2]
        tk = t + 2 * bend + k * dur
        ramps += [
            Ramp(J[f"hip_flex_{leg}"], tk, 0.45 * dur, 0.02, 0.45 * dur, ch._r(25, 40)),
            Ramp(J[f"knee_flex_{leg}"], tk, 0.45 * dur, 0.02, 0.45 * dur, ch._r(35, 55)),
        ]
        roots.append(RootMove(tk, dur, 0.25 * np.cos(ch._heading), 0.25 * np.sin(ch._heading), 0.0))
    return Movement("lift_carry", t, t + total, tuple(ramps), tuple(cc), tuple(roots), detail=f"{n} steps")


def _spiral_turn(ch, t: float) -> Movement:
    dur = ch._r(1.5, 3.0)
    turn = ch._r(1.5, 6.3) * (1 if ch._rng.random() < 0.5 else -1)
    ramps = [Oscillation(J["trunk_rot"], t, dur, 0.5 / dur, ch._r(15, 30) * np.sign(turn), 0.0, 0.3)]
    for side in "rl":
        ramps.append(Ramp(J[f"shoulder_abd_{side}"], t, 0.4 * dur, 0.2 * dur, 0.4 * dur, ch._r(50, 90)))
        ramps.append(Ramp(J[f"elbow_flex_{side}"], t, 0.4 * dur, 0.2 * dur, 0.4 * dur, ch._r(10, 40)))
    ramps.append(Ramp(J["neck_flex"], t, 0.4 * dur, 0.2 * dur, 0.4 * dur, ch._r(-15, 10)))
    ch._heading += turn
    return Movement(
        "spiral_turn",
        t,
        t + dur,
        tuple(ramps),
        root=(RootMove(t, dur, 0.0, 0.0, turn),),
        detail=f"{np.degrees(turn):.0f} deg",
    )


def _swing(ch, t: float) -> Movement:
    dur = ch._r(2.0, 4.0)
    f = ch._r(0.6, 1.0)
    amp = ch._r(35, 60)
    ramps = [
        Oscillation(J["shoulder_flex_r"], t, dur, f, amp, 0.0, 0.5, offset_deg=10.0),
        Oscillation(J["shoulder_flex_l"], t, dur, f, amp, np.pi, 0.5, offset_deg=10.0),
        Oscillation(J["trunk_rot"], t, dur, f, ch._r(8, 15), 0.0, 0.5),
        Oscillation(J["knee_flex_r"], t, dur, 2 * f, ch._r(5, 12), 0.0, 0.5, offset_deg=8.0),
        Oscillation(J["knee_flex_l"], t, dur, 2 * f, ch._r(5, 12), 0.0, 0.5, offset_deg=8.0),
    ]
    return Movement("swing", t, t + dur, tuple(ramps))


def _fall_recover(ch, t: float) -> Movement:
    drop, hold, rise = ch._r(0.25, 0.4), ch._r(0.2, 0.8), ch._r(1.0, 1.8)
    depth = ch._r(0.5, 1.0)
    ramps = [Ramp(J["trunk_flex"], t, drop, hold, rise, 45 * depth)]
    for side in "rl":
        ramps += [
            Ramp(J[f"hip_flex_{side}"], t, drop, hold, rise, 70 * depth),
            Ramp(J[f"knee_flex_{side}"], t, drop, hold, rise, 90 * depth),
            Ramp(J[f"ankle_dorsi_{side}"], t, drop, hold, rise, 20 * depth),
            Ramp(J[f"shoulder_flex_{side}"], t, drop, hold, rise, 70 * depth),
        ]
    return Movement("fall_recover", t, t + drop + hold + rise, tuple(ramps), detail=f"depth {depth:.2f}")


def _weight_shift(ch, t: float) -> Movement:
    go, hold, back = ch._r(0.5, 1.0), ch._r(0.3, 1.2), ch._r(0.5, 1.0)
    side = 1.0 if ch._rng.random() < 0.5 else -1.0
    a = ch._r(6, 12)
    ramps = (
        Ramp(J["hip_abd_r"], t, go, hold, back, a * side),
        Ramp(J["hip_abd_l"], t, go, hold, back, -a * side),
        Ramp(J["trunk_lat"], t, go, hold, back, -0.8 * a * side),
        Ramp(J["knee_flex_r" if side > 0 else "knee_flex_l"], t, go, hold, back, ch._r(5, 15)),
    )
    shift = ch._r(0.04, 0.09) * side
    c, s = np.cos(ch._heading), np.sin(ch._heading)
    root = (
        RootMove(t, go, -s * shift, c * shift, 0.0),
        RootMove(t + go + hold, back, s * shift, -c * shift, 0.0),
    )
    return Movement(
        "weight_shift", t, t + go + hold + back, ramps, root=root, detail="left" if side > 0 else "right"
    )


def _strike(ch, t: float) -> Movement:
    side = ch._side_pick(0.7)
    guard, out, back = ch._r(0.25, 0.4), ch._r(0.1, 0.18), ch._r(0.3, 0.5)
    t1 = t + guard
    ramps = (
        Ramp(J[f"shoulder_flex_{side}"], t, guard, 0.05, guard, ch._r(25, 40)),
        Ramp(J[f"elbow_flex_{side}"], t, guard, out + 0.05 + back, 0.3, ch._r(80, 100)),
        Ramp(J[f"shoulder_flex_{side}"], t1, out, 0.05, back, ch._r(50, 70)),
        Ramp(J[f"elbow_flex_{side}"], t1, out, 0.05, back, -ch._r(70, 90)),
        Ramp(J["trunk_rot"], t1, out, 0.05, back, ch._r(10, 25) * (1 if side == "r" else -1)),
    )
    cc = (CoContraction(J[f"elbow_flex_{side}"], t1 + out - 0.03, 0.03, 0.05, 0.1, ch._r(0.2, 0.4)),)
    return Movement("strike", t, t + 2 * guard + out + back + 0.1, ramps, cc, detail=side)


def _block(ch, t: float) -> Movement:
    side = ch._side_pick(0.6)
    up, hold, down = ch._r(0.12, 0.25), ch._r(0.3, 0.8), ch._r(0.3, 0.6)
    ramps = (
        Ramp(J[f"shoulder_abd_{side}"], t, up, hold, down, ch._r(60, 90)),
        Ramp(J[f"elbow_flex_{side}"], t, up, hold, down, ch._r(80, 100)),
        Ramp(J[f"shoulder_flex_{side}"], t, up, hold, down, ch._r(20, 40)),
    )
    cc = tuple(
        CoContraction(J[f"{j}_{side}"], t + up, 0.05, hold, 0.15, ch._r(0.2, 0.35))
        for j in ("elbow_flex", "shoulder_abd")
    )
    return Movement("block", t, t + up + hold + down, ramps, cc, detail=side)


def _stance(ch, t: float) -> Movement:
    go, hold, back = ch._r(0.5, 0.9), ch._r(1.0, 3.0), ch._r(0.5, 0.9)
    ramps, cc = [], []
    for side in "rl":
        ramps += [
            Ramp(J[f"hip_flex_{side}"], t, go, hold, back, ch._r(25, 40)),
            Ramp(J[f"knee_flex_{side}"], t, go, hold, back, ch._r(35, 55)),
            Ramp(J[f"hip_abd_{side}"], t, go, hold, back, ch._r(15, 25)),
            Ramp(J[f"ankle_dorsi_{side}"], t, go, hold, back, ch._r(10, 18)),
        ]
        cc += [
            CoContraction(J[f"{j}_{side}"], t + go, 0.2, hold, 0.3, ch._r(0.1, 0.2))
            for j in ("knee_flex", "ankle_dorsi")
        ]
    ramps.append(Ramp(J["trunk_flex"], t, go, hold, back, ch._r(5, 15)))
    return Movement("stance", t, t + go + hold + back, tuple(ramps), tuple(cc), detail="horse")


def _action(name: str):
    def make(ch, t: float) -> Movement:
        side = ch._side_pick(0.7)
        w, tm, s = BASIC_ACTIONS[name]
        # a flick is free (relaxed); the others take any flow
        flow = -1.0 if name == "flick" else float(ch._rng.choice([-1.0, 0.0, 1.0]))
        if name == "press":
            # pushing against a wall: strong and sustained, the hand does not move
            rise, hold, fall = ch._r(0.6, 1.0), ch._r(1.0, 2.5), ch._r(0.5, 0.9)
            level = ch._r(0.35, 0.55)
            cc = tuple(
                CoContraction(J[f"{j}_{side}"], t, rise, hold, fall, level * k)
                for j, k in (("shoulder_flex", 1.0), ("elbow_flex", 1.0), ("wrist_flex", 0.6))
            )
            cc += (CoContraction(J["trunk_flex"], t, rise, hold, fall, 0.5 * level),)
            mv = Movement(
                "press",
                t,
                t + rise + hold + fall,
                (),
                cc,
                detail=f"{side}, isometric",
                effort=(w, tm, s, 1.0),
                action=name,
            )
            return mv
        # sudden actions start from a quicker base (the Effort scaling shortens them further)
        rise = ch._r(0.15, 0.3) if tm > 0 else ch._r(0.4, 0.7)
        hold, fall = ch._r(0.1, 0.4), ch._r(0.5, 0.8)
        amp = ch._r(60, 100) if w > 0 else ch._r(40, 70)
        ramps = (
            Ramp(J[f"shoulder_flex_{side}"], t, rise, hold, fall, amp),
            Ramp(J[f"elbow_flex_{side}"], t, rise, hold, fall, ch._r(-5, 30)),
            Ramp(
                J[f"wrist_flex_{side}"],
                t,
                rise,
                hold,
                fall,
                ch._r(-20, 30) if name in ("flick", "dab") else 0.0,
            ),
        )
        base = Movement(name, t, t + rise + hold + fall, ramps, detail=side, action=name)
        # light actions: only tone, no co-contraction (relaxed); the action sets w, t, s
        return with_effort(base, (w, tm, s, flow), ch._rng)

    return make


GENERATORS = {
    "sit_to_stand": _sit_to_stand,
    "lift_carry": _lift_carry,
    "spiral_turn": _spiral_turn,
    "swing": _swing,
    "fall_recover": _fall_recover,
    "weight_shift": _weight_shift,
    "strike": _strike,
    "block": _block,
    "stance": _stance,
    **{name: _action(name) for name in BASIC_ACTIONS},
}


def frame_labels(movements: list[Movement], t: np.ndarray) -> dict[str, np.ndarray]:
    """Per-frame truth labels at true times ``t`` (s).

    Returns ``family``, ``kind`` (int codes into ``list(FAMILIES)`` and
    ``list(FAMILY_OF)``; −1 between movements), ``phrase`` (phrase number, −1 between),
    ``movement`` (index into ``movements``, −1 between) and ``effort`` (n, 4): weight,
    time, space, flow, NaN where a movement has none (classic vocabulary) or between
    movements. Where movements overlap (transitions within a phrase) the later one wins.
    """
    t = np.asarray(t, float)
    n = t.shape[0]
    out = {
        "family": np.full(n, -1, np.int16),
        "kind": np.full(n, -1, np.int16),
        "phrase": np.full(n, -1, np.int32),
        "movement": np.full(n, -1, np.int32),
        "effort": np.full((n, 4), np.nan, np.float32),
    }
    fams = list(FAMILIES)
    kinds = list(FAMILY_OF)
    for i, mv in enumerate(movements):
        a, b = np.searchsorted(t, [mv.start, mv.end])
        if b <= a:
            continue
        out["family"][a:b] = fams.index(FAMILY_OF[mv.kind])
        out["kind"][a:b] = kinds.index(mv.kind)
        out["phrase"][a:b] = mv.phrase
        out["movement"][a:b] = i
        out["effort"][a:b] = np.asarray(mv.effort, np.float32)
    return out

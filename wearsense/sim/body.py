"""The virtual mover's skeleton: segments, joints, rest posture, forward kinematics.

World frame: ENU, z up (x east, y north). The body faces +x at heading 0, its left is
+y. At the neutral posture every segment frame is aligned with the world frame, arms
hang down (−z) and feet point forward (+x).

Joint angles are in degrees with anatomical signs: flexion, abduction and
dorsiflexion positive. A segment's orientation is its parent's times the rotations of
its joints in the order listed. Anthropometry is that of a 1.75 m adult (segment
lengths after Winter, *Biomechanics and Motor Control of Human Movement*, 2009).
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

__all__ = ["Joint", "Segment", "JOINTS", "SEGMENTS", "KEYPOINTS", "PELVIS_HEIGHT_M", "forward_kinematics"]


@dataclass(frozen=True)
class Joint:
    """One rotational degree of freedom.

    ``axis`` is 0/1/2 for x/y/z of the parent-side frame, ``sign`` maps the anatomical
    angle onto a right-handed rotation about that axis. ``rest_deg`` is the relaxed
    standing posture, ``limits_deg`` the range of motion used to clip planned motion.
    Joint dynamics (see :mod:`wearsense.sim.muscles`): ``omega_hz`` and ``zeta`` of the
    second-order limb response, ``gain_deg`` the static angle per unit net activation,
    ``load`` the gravity torque (activation units) at sin(angle) = 1, positive where
    gravity pushes the joint further into its positive direction (a loaded knee flexes).
    """

    name: str
    axis: int
    sign: float
    rest_deg: float
    limits_deg: tuple[float, float]
    omega_hz: float
    zeta: float
    gain_deg: float
    load: float = 0.0


@dataclass(frozen=True)
class Segment:
    name: str
    parent: str | None
    offset_m: tuple[float, float, float]  # joint centre in the parent's frame
    joints: tuple[str, ...]


def _arm(side: str, s: float) -> list[Joint]:
    return [
        Joint(f"shoulder_flex_{side}", 1, -1.0, 0.0, (-40, 170), 1.0, 0.6, 350.0, -0.15),
        Joint(f"shoulder_abd_{side}", 0, -s, 0.0, (-10, 170), 1.0, 0.6, 260.0),
        Joint(f"elbow_flex_{side}", 1, -1.0, 10.0, (0, 145), 1.2, 0.6, 220.0, -0.1),
        Joint(f"wrist_flex_{side}", 1, -1.0, 0.0, (-70, 70), 1.5, 0.6, 180.0),
    ]


def _leg(side: str, s: float) -> list[Joint]:
    return [
        Joint(f"hip_flex_{side}", 1, -1.0, 0.0, (-20, 120), 0.8, 0.6, 220.0, 0.5),
        Joint(f"hip_abd_{side}", 0, -s, 0.0, (-20, 45), 0.8, 0.6, 160.0),
        Joint(f"knee_flex_{side}", 1, 1.0, 2.0, (0, 140), 0.8, 0.6, 240.0, 0.75),
        Joint(f"ankle_dorsi_{side}", 1, -1.0, 0.0, (-45, 25), 1.0, 0.6, 110.0, 0.9),
    ]


#: All joint angles of the mover, in the order of every joint-angle array.
JOINTS: tuple[Joint, ...] = tuple(
    [
        Joint("trunk_flex", 1, 1.0, 0.0, (-20, 90), 0.7, 0.6, 150.0, 0.5),
        Joint("trunk_lat", 0, 1.0, 0.0, (-30, 30), 0.7, 0.6, 120.0),
        Joint("trunk_rot", 2, 1.0, 0.0, (-45, 45), 0.7, 0.6, 120.0),
        Joint("neck_flex", 1, 1.0, 0.0, (-40, 60), 1.2, 0.6, 120.0, 0.2),
    ]
    + _arm("r", 1.0)
    + _arm("l", -1.0)
    + _leg("r", 1.0)
    + _leg("l", -1.0)
)
JOINT_INDEX = {j.name: i for i, j in enumerate(JOINTS)}

#: Height of the pelvis origin above the floor when standing (m).
PELVIS_HEIGHT_M = 0.97
ANKLE_HEIGHT_M = 0.08

SEGMENTS: tuple[Segment, ...] = (
    Segment("pelvis", None, (0.0, 0.0, 0.0), ()),
    Segment("trunk", "pelvis", (0.0, 0.0, 0.10), ("trunk_flex", "trunk_lat", "trunk_rot")),
    Segment("head", "trunk", (0.0, 0.0, 0.50), ("neck_flex",)),
    Segment("upper_arm_r", "trunk", (0.0, -0.19, 0.45), ("shoulder_flex_r", "shoulder_abd_r")),
    Segment("forearm_r", "upper_arm_r", (0.0, 0.0, -0.30), ("elbow_flex_r",)),
    Segment("hand_r", "forearm_r", (0.0, 0.0, -0.26), ("wrist_flex_r",)),
    Segment("upper_arm_l", "trunk", (0.0, 0.19, 0.45), ("shoulder_flex_l", "shoulder_abd_l")),
    Segment("forearm_l", "upper_arm_l", (0.0, 0.0, -0.30), ("elbow_flex_l",)),
    Segment("hand_l", "forearm_l", (0.0, 0.0, -0.26), ("wrist_flex_l",)),
    Segment("thigh_r", "pelvis", (0.0, -0.09, -0.05), ("hip_flex_r", "hip_abd_r")),
    Segment("shank_r", "thigh_r", (0.0, 0.0, -0.42), ("knee_flex_r",)),
    Segment("foot_r", "shank_r", (0.0, 0.0, -0.42), ("ankle_dorsi_r",)),
    Segment("thigh_l", "pelvis", (0.0, 0.09, -0.05), ("hip_flex_l", "hip_abd_l")),
    Segment("shank_l", "thigh_l", (0.0, 0.0, -0.42), ("knee_flex_l",)),
    Segment("foot_l", "shank_l", (0.0, 0.0, -0.42), ("ankle_dorsi_l",)),
)
SEGMENT_INDEX = {s.name: i for i, s in enumerate(SEGMENTS)}

#: Pose keypoints: (name, segment, point in the segment frame, m). Joint centres
#: where a camera pipeline (OpenPose/MediaPipe-like) would report them.
KEYPOINTS: tuple[tuple[str, str, tuple[float, float, float]], ...] = (
    ("pelvis", "pelvis", (0.0, 0.0, 0.0)),
    ("thorax", "trunk", (0.0, 0.0, 0.30)),
    ("neck", "head", (0.0, 0.0, 0.0)),
    ("head", "head", (0.0, 0.0, 0.20)),
    ("shoulder_r", "upper_arm_r", (0.0, 0.0, 0.0)),
    ("elbow_r", "forearm_r", (0.0, 0.0, 0.0)),
    ("wrist_r", "hand_r", (0.0, 0.0, 0.0)),
    ("hand_r", "hand_r", (0.0, 0.0, -0.08)),
    ("shoulder_l", "upper_arm_l", (0.0, 0.0, 0.0)),
    ("elbow_l", "forearm_l", (0.0, 0.0, 0.0)),
    ("wrist_l", "hand_l", (0.0, 0.0, 0.0)),
    ("hand_l", "hand_l", (0.0, 0.0, -0.08)),
    ("hip_r", "thigh_r", (0.0, 0.0, 0.0)),
    ("knee_r", "shank_r", (0.0, 0.0, 0.0)),
    ("ankle_r", "foot_r", (0.0, 0.0, 0.0)),
    ("toe_r", "foot_r", (0.18, 0.0, -0.06)),
    ("hip_l", "thigh_l", (0.0, 0.0, 0.0)),
    ("knee_l", "shank_l", (0.0, 0.0, 0.0)),
    ("ankle_l", "foot_l", (0.0, 0.0, 0.0)),
    ("toe_l", "foot_l", (0.18, 0.0, -0.06)),
)


def axis_rotation(axis: int, angle_rad: np.ndarray) -> np.ndarray:
    """Rotation matrices, shape (n, 3, 3), about a coordinate axis (right-handed)."""
    c, s = np.cos(angle_rad), np.sin(angle_rad)
    n = angle_rad.shape[0]
    r = np.zeros((n, 3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    r[:, axis, axis] = 1.0
    r[:, i, i] = c
    r[:, j, j] = c
    r[:, i, j] = -s
    r[:, j, i] = s
    return r


_PARENT = np.array([-1 if s.parent is None else [x.name for x in SEGMENTS].index(s.parent) for s in SEGMENTS])
_OFFSET = np.array([s.offset_m for s in SEGMENTS], dtype=np.float64)
_NJ = np.array([len(s.joints) for s in SEGMENTS])
_JIDX = np.array([[JOINT_INDEX[j] for j in s.joints] + [0] * (3 - len(s.joints)) for s in SEGMENTS])
_JAXIS = np.array(
    [[JOINTS[JOINT_INDEX[j]].axis for j in s.joints] + [0] * (3 - len(s.joints)) for s in SEGMENTS]
)
_JSIGN = np.array(
    [[JOINTS[JOINT_INDEX[j]].sign for j in s.joints] + [0.0] * (3 - len(s.joints)) for s in SEGMENTS]
)


@numba.njit(cache=True, nogil=True)
def _fk_kernel(rad, heading, parent, offset, nj, jidx, jaxis, jsign, rot, rel):  # pragma: no cover - compiled
    n = rad.shape[0]
    nseg = parent.shape[0]
    r = np.empty((3, 3))
    tmp = np.empty((3, 3))
    for k in range(n):
        c, s = np.cos(heading[k]), np.sin(heading[k])
        rot[k, 0, 0, 0] = c
        rot[k, 0, 0, 1] = -s
        rot[k, 0, 0, 2] = 0.0
        rot[k, 0, 1, 0] = s
        rot[k, 0, 1, 1] = c
        rot[k, 0, 1, 2] = 0.0
        rot[k, 0, 2, 0] = 0.0
        rot[k, 0, 2, 1] = 0.0
        rot[k, 0, 2, 2] = 1.0
        rel[k, 0, :] = 0.0
        for g in range(1, nseg):
            p = parent[g]
            for a in range(3):
                acc = rel[k, p, a]
                for b in range(3):
                    acc += rot[k, p, a, b] * offset[g, b]
                    r[a, b] = rot[k, p, a, b]
                rel[k, g, a] = acc
            for q in range(nj[g]):
                ang = jsign[g, q] * rad[k, jidx[g, q]]
                c, s = np.cos(ang), np.sin(ang)
                ax = jaxis[g, q]
                i = (ax + 1) % 3
                j = (ax + 2) % 3
                # r = r @ R_axis(ang): only columns i and j change
                for a in range(3):
                    ri = r[a, i]
                    rj = r[a, j]
                    tmp[a, i] = ri * c + rj * s
                    tmp[a, j] = -ri * s + rj * c
                for a in range(3):
                    r[a, i] = tmp[a, i]
                    r[a, j] = tmp[a, j]
            for a in range(3):
                for b in range(3):
                    rot[k, g, a, b] = r[a, b]


def forward_kinematics(
    angles_deg: np.ndarray,
    root_xy: np.ndarray,
    heading_rad: np.ndarray,
    segment_scale: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """World orientation and origin of every segment.

    Parameters
    ----------
    angles_deg : ndarray, shape (n, len(JOINTS))
        Joint angles, degrees, in :data:`JOINTS` order.
    root_xy : ndarray, shape (n, 2)
        Pelvis position on the floor (m).
    heading_rad : ndarray, shape (n,)
        Heading about +z (0 = facing +x).
    segment_scale : ndarray, shape (len(SEGMENTS),), optional
        Length of each segment relative to the reference skeleton (a mover's
        anthropometry): scales the offsets of the joints the segment carries.

    Returns
    -------
    rot : ndarray (n, n_segments, 3, 3)
        Segment-to-world rotation, segments in :data:`SEGMENTS` order.
    pos : ndarray (n, n_segments, 3)
        Segment origin (its proximal joint centre) in the world, metres. The pelvis
        height is set so the lower ankle stays at its standing height (feet on the
        floor), which is how squats lower the body.
    """
    n = angles_deg.shape[0]
    rot = np.empty((n, len(SEGMENTS), 3, 3))
    rel = np.empty((n, len(SEGMENTS), 3))
    _fk_kernel(
        np.ascontiguousarray(np.deg2rad(angles_deg)),
        np.ascontiguousarray(heading_rad, dtype=np.float64),
        _PARENT,
        scaled_offsets(segment_scale),
        _NJ,
        _JIDX,
        _JAXIS,
        _JSIGN,
        rot,
        rel,
    )
    ankle_z = np.minimum(rel[:, SEGMENT_INDEX["foot_r"], 2], rel[:, SEGMENT_INDEX["foot_l"], 2])
    root = np.empty((n, 1, 3))
    root[:, 0, :2] = root_xy
    root[:, 0, 2] = ANKLE_HEIGHT_M - ankle_z
    return rot, rel + root


def scaled_offsets(segment_scale: np.ndarray | None) -> np.ndarray:
    """Joint-centre offsets of :data:`SEGMENTS` for segment lengths × ``segment_scale``."""
    if segment_scale is None:
        return _OFFSET
    parent_scale = np.where(_PARENT >= 0, np.asarray(segment_scale)[np.maximum(_PARENT, 0)], 1.0)
    return np.ascontiguousarray(_OFFSET * parent_scale[:, None])


_KP_SEG = np.array([SEGMENT_INDEX[seg] for _, seg, _ in KEYPOINTS])
_KP_POINT = np.array([p for _, _, p in KEYPOINTS])


def keypoints(rot: np.ndarray, pos: np.ndarray, segment_scale: np.ndarray | None = None) -> np.ndarray:
    """Keypoint positions, shape (n, len(KEYPOINTS), 3), metres, world frame."""
    point = _KP_POINT if segment_scale is None else _KP_POINT * np.asarray(segment_scale)[_KP_SEG][:, None]
    return pos[:, _KP_SEG] + np.einsum("nkij,kj->nki", rot[:, _KP_SEG], point)

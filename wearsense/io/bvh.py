"""BVH (Biovision Hierarchy) skeleton motion: joint positions by forward kinematics.

A BVH file is a joint hierarchy (``ROOT``/``JOINT``/``End Site`` with ``OFFSET`` and
``CHANNELS``) and a ``MOTION`` table of channel values per frame. :func:`read_bvh`
returns two streams:

- ``<stem>-pose`` (``POSE``): the 3-D position of every joint and end site
  (``<joint>_x, _y, _z``, end sites named ``<parent>_end``) in metres, in the BVH
  world frame (usually y-up), computed by forward kinematics;
- ``<stem>-motion`` (``OTHER``): the raw channels (``<joint>_Xposition`` in file
  units, ``<joint>_Zrotation`` in degrees).

Forward kinematics (the BVH convention): each joint's rotation is the product of its
rotation channels in the order listed (``Zrotation Xrotation Yrotation`` gives
``Rz @ Rx @ Ry``, intrinsic), its translation is ``OFFSET`` plus any position
channels, and ``p_joint = p_parent + R_parent_global @ translation``,
``R_global = R_parent_global @ R_local``.

BVH has no unit field: ``scale_m`` converts file units to metres (0.01 for the common
centimetre files, 1.0 for files in metres). Timestamps are ``frame * Frame Time``
seconds, clock ``"file:<name>"``; ``seq`` is the frame number.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from wearsense.errors import FormatError, StreamError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["read_bvh", "BVHJoint"]

_CHANNELS = ("Xposition", "Yposition", "Zposition", "Xrotation", "Yrotation", "Zrotation")


@dataclass
class BVHJoint:
    """One joint of the hierarchy: name, parent index (-1 for the root), offset, channels."""

    name: str
    parent: int
    offset: np.ndarray
    channels: list[str] = field(default_factory=list)
    first_channel: int = 0


class _Tokens:
    def __init__(self, text: str, path: str) -> None:
        self.items: list[tuple[str, int]] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            self.items.extend((tok, lineno) for tok in line.split())
        self.i = 0
        self.path = path

    def next(self, what: str) -> str:
        if self.i >= len(self.items):
            raise FormatError(
                f"{self.path}: BVH file ends early (expected {what}); the file is truncated", self.path
            )
        tok = self.items[self.i][0]
        self.i += 1
        return tok

    def expect(self, word: str) -> None:
        tok = self.next(repr(word))
        if tok != word:
            raise FormatError(
                f"{self.path}: line {self.items[self.i - 1][1]}: expected {word!r}, found {tok!r}", self.path
            )

    def number(self, what: str) -> float:
        tok = self.next(what)
        try:
            return float(tok)
        except ValueError:
            raise FormatError(
                f"{self.path}: line {self.items[self.i - 1][1]}: expected a number ({what}), found {tok!r}",
                self.path,
            ) from None


def _parse_joint(tok: _Tokens, name: str, parent: int, joints: list[BVHJoint], n_channels: int) -> int:
    tok.expect("{")
    tok.expect("OFFSET")
    joint = BVHJoint(
        name, parent, np.array([tok.number("OFFSET x"), tok.number("OFFSET y"), tok.number("OFFSET z")])
    )
    joints.append(joint)
    me = len(joints) - 1
    joint.first_channel = n_channels
    while True:
        word = tok.next("CHANNELS, JOINT, End Site or }")
        if word == "CHANNELS":
            k = int(tok.number("channel count"))
            joint.channels = [tok.next("channel name") for _ in range(k)]
            for c in joint.channels:
                if c not in _CHANNELS:
                    raise FormatError(
                        f"{tok.path}: joint {name!r}: unknown channel {c!r}; BVH channels are "
                        f"{', '.join(_CHANNELS)}",
                        tok.path,
                    )
            n_channels += k
        elif word == "JOINT":
            n_channels = _parse_joint(tok, tok.next("joint name"), me, joints, n_channels)
        elif word == "End":
            tok.expect("Site")
            tok.expect("{")
            tok.expect("OFFSET")
            off = np.array([tok.number("OFFSET x"), tok.number("OFFSET y"), tok.number("OFFSET z")])
            tok.expect("}")
            joints.append(BVHJoint(f"{name}_end", me, off, [], n_channels))
        elif word == "}":
            return n_channels
        else:
            raise FormatError(
                f"{tok.path}: line {tok.items[tok.i - 1][1]}: unexpected {word!r} in joint {name!r}", tok.path
            )


def _forward_kinematics(joints: list[BVHJoint], motion: np.ndarray) -> np.ndarray:
    """Joint positions (frames, joints, 3) in file units."""
    n = motion.shape[0]
    pos = np.zeros((n, len(joints), 3))
    rot: list[Rotation] = []
    for j, joint in enumerate(joints):
        local_t = np.tile(joint.offset, (n, 1))
        local_r = Rotation.identity(n)
        for k, c in enumerate(joint.channels):
            col = motion[:, joint.first_channel + k]
            axis = c[0].lower()
            if c.endswith("position"):
                local_t[:, "xyz".index(axis)] += col
            else:
                local_r = local_r * Rotation.from_euler(axis, col[:, None], degrees=True)
        if joint.parent < 0:
            pos[:, j] = local_t
            rot.append(local_r)
        else:
            pr = rot[joint.parent]
            pos[:, j] = pos[:, joint.parent] + pr.apply(local_t)
            rot.append(pr * local_r)
    return pos


def read_bvh(path: str | os.PathLike, *, scale_m: float = 0.01) -> dict[str, tuple[StreamInfo, Chunk]]:
    """Read a BVH file: joint positions (metres) by forward kinematics, and the raw channels.

    Parameters
    ----------
    path : str or Path
    scale_m : float
        Metres per BVH unit (0.01 for centimetres, 1.0 for metres).

    Raises
    ------
    FormatError
        Not BVH, malformed hierarchy, truncated motion table.
    """
    p = Path(path)
    sp = str(p)
    if not p.is_file():
        raise FormatError(f"{sp}: no such file", sp)
    if not scale_m > 0:
        raise StreamError(f"read_bvh: scale_m must be > 0 (metres per file unit), got {scale_m!r}")
    try:
        text = p.read_text(encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise FormatError(f"{sp}: not a text BVH file (binary content)", sp) from None
    tok = _Tokens(text, sp)
    if not tok.items or tok.items[0][0] != "HIERARCHY":
        raise FormatError(f"{sp}: not a BVH file (does not start with HIERARCHY)", sp)
    tok.next("HIERARCHY")
    tok.expect("ROOT")
    joints: list[BVHJoint] = []
    n_channels = _parse_joint(tok, tok.next("root name"), -1, joints, 0)
    tok.expect("MOTION")
    tok.expect("Frames:")
    frames = int(tok.number("frame count"))
    tok.expect("Frame")
    tok.expect("Time:")
    dt = tok.number("frame time (s)")
    if not dt > 0:
        raise FormatError(f"{sp}: Frame Time must be > 0 s, got {dt}", sp)
    rest = tok.items[tok.i :]
    if len(rest) != frames * n_channels:
        raise FormatError(
            f"{sp}: MOTION holds {len(rest)} values; {frames} frames x {n_channels} channels = "
            f"{frames * n_channels} expected (file truncated or frame count wrong)",
            sp,
        )
    try:
        motion = np.array([float(v) for v, _ in rest], np.float64).reshape(frames, n_channels)
    except ValueError as e:
        raise FormatError(f"{sp}: non-numeric value in MOTION ({e})", sp) from None
    positions = _forward_kinematics(joints, motion) * scale_m
    names = [j.name for j in joints]
    if len(set(names)) != len(names):
        raise FormatError(f"{sp}: joint names are not unique", sp)
    seq = np.arange(frames)
    t = seq * dt
    clock = f"file:{p.name}"
    meta = {
        "joints": names,
        "parents": [j.parent for j in joints],
        "offsets_m": [(j.offset * scale_m).tolist() for j in joints],
        "scale_m": scale_m,
    }
    pose = StreamInfo(
        f"{p.stem}-pose",
        Modality.POSE,
        [f"{n}_{a}" for n in names for a in "xyz"],
        "m",
        1.0 / dt,
        source_id=sp,
        metadata=meta,
    )
    raw_channels = [f"{j.name}_{c}" for j in joints for c in j.channels]
    raw_units = ["deg" if c.endswith("rotation") else "bvh-unit" for j in joints for c in j.channels]
    out = {pose.name: (pose, Chunk(positions.reshape(frames, -1), t, seq, clock))}
    if raw_channels:
        motion_info = StreamInfo(
            f"{p.stem}-motion",
            Modality.OTHER,
            raw_channels,
            raw_units,
            1.0 / dt,
            source_id=sp,
            metadata={"scale_m": scale_m},
        )
        out[motion_info.name] = (motion_info, Chunk(motion, t, seq, clock))
    return out

"""Laban Effort qualities and pre-activation events from EMG, IMU and pose.

- :class:`EffortEstimator`: streaming Weight, Time, Space and Flow, each with its poles,
  a confidence and the sensors it used (:mod:`wearsense.effort.estimator`);
- :mod:`wearsense.effort.measures`: the measures they rest on, as pure functions
  (co-contraction indices, path straightness, SPARC, jerk);
- :class:`PreactivationDetector`: "muscle X engaged N ms before segment Y moved", and
  activity with no local motion (:mod:`wearsense.effort.preactivation`).

See docs/effort.md.
"""

from wearsense.effort.estimator import (
    ANTAGONIST_PAIRS,
    FACTORS,
    LATENCY_S,
    POLES,
    EffortEstimator,
    EffortSettings,
    EffortState,
    Factor,
    Scale,
)
from wearsense.effort.preactivation import (
    PreactivationDetector,
    PreactivationEvent,
    PreactivationSettings,
    SegmentMotion,
    joint_segments,
)

__all__ = [
    "ANTAGONIST_PAIRS",
    "FACTORS",
    "LATENCY_S",
    "POLES",
    "EffortEstimator",
    "EffortSettings",
    "EffortState",
    "Factor",
    "Scale",
    "PreactivationDetector",
    "PreactivationEvent",
    "PreactivationSettings",
    "SegmentMotion",
    "joint_segments",
]

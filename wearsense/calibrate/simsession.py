"""The sim's sessions calibrated as a lab calibrates: the N-pose protocol, performed by the
virtual mover in that session's sensors and fitted by the calibration runner.

:mod:`wearsense.sim.datasets` calls :func:`calibrate_session` before every take it
writes (by name, ``SESSION_CALIBRATION``: the sim layer sits below this one and imports
none of it), and keeps each IMU's profile in its stream metadata.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from wearsense.calibrate.profile import Profile, device_serial
from wearsense.calibrate.protocol import find_protocol
from wearsense.calibrate.runner import SimSource, run_protocol
from wearsense.calibrate.segment import SegmentCalibration, rotation_angle_deg
from wearsense.errors import CalibrationError
from wearsense.sim.protocols import CalibrationSubject

__all__ = ["calibrate_session"]


def calibrate_session(seed: int, cfg) -> tuple[dict[str, dict], dict[str, Any]]:
    """The N-pose protocol (``calibration/npose.toml``) performed by mover ``seed`` wearing
    the session's sensors (:class:`~wearsense.sim.protocols.CalibrationSubject`: the same
    mountings as the take of ``cfg``; a posture and a table that are a little off), fitted
    as ``wearsense calibrate npose`` fits it.

    Returns ``(profiles, report)``: profile dicts by IMU stream name, as a device carries
    them in ``StreamInfo.metadata["calibration"]``, and per stream the fit's error against
    the true mounting (deg) and its method. A protocol that fails (a step still rejected
    after its retries) leaves the session uncalibrated: no profiles, and the report's
    ``error`` says why (reading that shard in segment axes is then an error naming it).
    """
    profiles: dict[str, dict] = {}
    report: dict[str, Any] = {}
    if not cfg.imu:
        return profiles, report
    subject = CalibrationSubject(seed, cfg)
    try:
        result = run_protocol(find_protocol("npose"), SimSource(subject), countdown_s=0,
                              sleep=lambda s: None, save=False)
    except CalibrationError as e:  # as in a lab: the take is kept, its IMUs stay uncalibrated
        return profiles, {"error": str(e)}
    for k, name in enumerate(subject.imu_names):
        serial = device_serial(subject.infos[name])
        sections = result.sections.get(serial)
        if not sections or "segment" not in sections:
            continue
        profiles[name] = Profile(serial, sections).to_dict()
        cal = SegmentCalibration.from_section(sections["segment"])
        report[name] = {"method": cal.method, "error_deg": rotation_angle_deg(cal.matrix, subject.mounts[k]),
                        "mounting_deg": rotation_angle_deg(np.eye(3), subject.mounts[k])}
    return profiles, report

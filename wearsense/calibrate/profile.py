"""Calibration profiles: one versioned TOML file per device serial number.

A profile holds what the calibration protocols learnt about one device, one section
per kind of result, each with the protocol that produced it, the date and its
quality figures::

    format = "wearsense-calibration-profile"
    version = 1
    serial = "sim:3:imu0"
    created = "2026-12-02T06:10:00Z"
    updated = "2026-12-02T06:12:31Z"

    [gyro]                        # from imu_still
    bias_dps = [0.41, -0.77, 0.12]
    noise_dps = [0.07, 0.07, 0.07]
    protocol = "imu_still"
    protocol_version = 1
    date = "2026-12-02T06:10:00Z"
    [gyro.quality]
    gyro_std_dps = 0.07

Sections: ``gyro`` (bias), ``accel`` (matrix, bias: ``true = matrix @ (raw - bias)``),
``mag`` (hard iron, soft iron: ``true = soft_iron @ (raw - hard_iron)``), ``emg``
(per-channel rest RMS and MVC envelope), ``segment`` (sensor-to-segment rotation),
``sync`` (pose lag).

Where profiles live: ``$WEARSENSE_PROFILES_DIR`` if set (tests point it at a temporary
folder), else the user's config folder (``$XDG_CONFIG_HOME/wearsense/profiles``,
``~/.config/wearsense/profiles``; ``%APPDATA%\\wearsense\\profiles`` on Windows;
``~/Library/Application Support/wearsense/profiles`` on macOS).

When a device is opened, :func:`attach_profile` puts its profile (if any) into
``StreamInfo.metadata["calibration"]``; the data stay raw. A recording keeps that
metadata, so the calibration it was made with can be re-applied later
(:class:`ImuCorrection`, :func:`emg_mvc_v`).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import CalibrationError, FormatError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = [
    "PROFILE_FORMAT",
    "PROFILE_VERSION",
    "PROFILES_ENV",
    "Profile",
    "profiles_dir",
    "device_serial",
    "dumps_toml",
    "load_profile",
    "save_profile",
    "list_profiles",
    "update_profile",
    "attach_profile",
    "profile_of",
    "ImuCorrection",
    "emg_mvc_v",
]

PROFILE_FORMAT = "wearsense-calibration-profile"
PROFILE_VERSION = 1
PROFILES_ENV = "WEARSENSE_PROFILES_DIR"
SECTIONS = ("gyro", "accel", "mag", "emg", "segment", "sync")


def now_iso() -> str:
    """UTC now, ISO 8601 to the second (``2026-12-02T06:10:00Z``)."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- TOML out
_BARE = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(k: str) -> str:
    return k if _BARE.match(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "true" if v else "false"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "nan"
        if math.isinf(f):
            return "inf" if f > 0 else "-inf"
        return repr(f)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, np.ndarray):
        return _value(v.tolist())
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")


def _is_table_list(v: Any) -> bool:
    return isinstance(v, (list, tuple)) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _emit(table: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    plain = [(k, v) for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_list(v)]
    for k, v in plain:
        out.append(f"{_key(k)} = {_value(v)}")
    for k, v in table.items():
        if isinstance(v, Mapping):
            out.append("")
            out.append("[" + ".".join(_key(p) for p in path + [k]) + "]")
            _emit(v, path + [k], out)
        elif _is_table_list(v):
            for item in v:
                out.append("")
                out.append("[[" + ".".join(_key(p) for p in path + [k]) + "]]")
                _emit(item, path + [k], out)


def dumps_toml(data: Mapping[str, Any]) -> str:
    """Write a nested mapping as TOML (what :mod:`tomllib` reads back to the same values).

    Supports strings, ints, floats (NaN/inf), booleans, NumPy scalars and arrays, lists
    (of lists) of those, tables and arrays of tables.
    """
    out: list[str] = []
    _emit(data, [], out)
    return "\n".join(out).lstrip("\n") + "\n"


# --------------------------------------------------------------------------- store
def profiles_dir() -> Path:
    """Where profiles are stored: ``$WEARSENSE_PROFILES_DIR`` or the user's config folder."""
    env = os.environ.get(PROFILES_ENV)
    if env:
        return Path(env).expanduser()
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "wearsense" / "profiles"


def device_serial(info: StreamInfo) -> str:
    """The serial a stream's profile is filed under: ``metadata['serial']``, else ``source_id``."""
    serial = str(info.metadata.get("serial") or info.source_id or "")
    if not serial:
        raise CalibrationError(
            f"stream {info.name!r} has no serial number or source_id, so its calibration cannot be "
            "stored per device; give the driver a source_id"
        )
    return serial


def _file_for(serial: str, folder: Path) -> Path:
    return folder / (re.sub(r"[^A-Za-z0-9._-]", "_", serial) + ".toml")


@dataclass(frozen=True)
class Profile:
    """A device's calibration: ``sections[name]`` is a dict (see the module docstring)."""

    serial: str
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    created: str = ""
    updated: str = ""
    version: int = PROFILE_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The profile as a plain dict (what the TOML file and ``StreamInfo.metadata`` hold)."""
        return {
            "format": PROFILE_FORMAT,
            "version": self.version,
            "serial": self.serial,
            "created": self.created,
            "updated": self.updated,
            **{k: dict(v) for k, v in self.sections.items()},
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], where: str = "profile") -> "Profile":
        if d.get("format") != PROFILE_FORMAT:
            raise FormatError(
                f"{where}: not a wearsense calibration profile (format = {d.get('format')!r})", where
            )
        version = d.get("version")
        if not isinstance(version, int) or version > PROFILE_VERSION:
            raise FormatError(
                f"{where}: profile version {version!r} is newer than this wearsense reads "
                f"({PROFILE_VERSION}); upgrade wearsense",
                where,
            )
        serial = d.get("serial")
        if not isinstance(serial, str) or not serial:
            raise FormatError(f"{where}: profile has no serial", where)
        sections = {k: v for k, v in d.items() if k in SECTIONS and isinstance(v, Mapping)}
        return cls(serial, sections, str(d.get("created", "")), str(d.get("updated", "")), version)

    @property
    def protocols(self) -> list[str]:
        """The protocols that produced its sections (``name v<version>``), in section order."""
        seen: list[str] = []
        for s in self.sections.values():
            p = f"{s.get('protocol', '?')} v{s.get('protocol_version', '?')}"
            if p not in seen:
                seen.append(p)
        return seen


def save_profile(profile: Profile, folder: str | Path | None = None) -> Path:
    """Write ``profile`` (atomically: a temporary file renamed over the old one)."""
    folder = Path(folder) if folder is not None else profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = _file_for(profile.serial, folder)
    tmp = path.with_suffix(".toml.tmp")
    tmp.write_text(dumps_toml(profile.to_dict()), encoding="utf-8")
    os.replace(tmp, path)
    return path


def _read(path: Path) -> Profile:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise FormatError(
            f"{path}: calibration profile is not valid TOML ({e}); delete it and calibrate again", str(path)
        ) from None
    return Profile.from_dict(data, str(path))


def load_profile(serial: str, folder: str | Path | None = None) -> Profile | None:
    """The profile of device ``serial``, or ``None`` when it was never calibrated."""
    folder = Path(folder) if folder is not None else profiles_dir()
    path = _file_for(serial, folder)
    if not path.exists():
        return None
    profile = _read(path)
    return profile if profile.serial == serial else None


def list_profiles(folder: str | Path | None = None) -> list[tuple[Path, Profile]]:
    """Every profile in ``folder`` (default :func:`profiles_dir`), sorted by serial."""
    folder = Path(folder) if folder is not None else profiles_dir()
    out = [(p, _read(p)) for p in sorted(folder.glob("*.toml"))] if folder.is_dir() else []
    return sorted(out, key=lambda x: x[1].serial)


def update_profile(
    serial: str, sections: Mapping[str, Mapping[str, Any]], folder: str | Path | None = None
) -> tuple[Profile, Path]:
    """Replace some sections of device ``serial``'s profile (creating it), keep the others, save."""
    unknown = [k for k in sections if k not in SECTIONS]
    if unknown:
        raise CalibrationError(f"unknown profile section(s) {unknown}; valid: {', '.join(SECTIONS)}")
    old = load_profile(serial, folder)
    stamp = now_iso()
    merged = {**(dict(old.sections) if old else {}), **{k: dict(v) for k, v in sections.items()}}
    profile = Profile(serial, merged, old.created if old else stamp, stamp)
    return profile, save_profile(profile, folder)


def attach_profile(info: StreamInfo, folder: str | Path | None = None) -> StreamInfo:
    """``info`` with its device's profile in ``metadata['calibration']`` (unchanged if none).

    Called for every stream when a device is opened; the samples stay raw. A damaged
    profile file is not fatal here (the device still opens): the metadata then says
    what is wrong in ``metadata['calibration_error']``.
    """
    serial = str(info.metadata.get("serial") or info.source_id or "")
    if not serial or "calibration" in info.metadata:
        return info
    try:
        profile = load_profile(serial, folder)
    except (FormatError, OSError) as e:
        return info.with_(metadata={**info.metadata, "calibration_error": str(e)})
    if profile is None:
        return info
    return info.with_(metadata={**info.metadata, "calibration": profile.to_dict()})


def profile_of(info: StreamInfo) -> Profile | None:
    """The profile a stream carries in its metadata (a recording's, or a device's on open)."""
    d = info.metadata.get("calibration")
    if d is None:
        return None
    if isinstance(d, str):
        d = json.loads(d)
    return Profile.from_dict(d, f"stream {info.name!r} metadata")


# --------------------------------------------------------------------------- applying
def _columns(info: StreamInfo, word: str) -> list[int] | None:
    cols = []
    for ax in "xyz":
        name = f"{word}_{ax}"
        hits = [i for i, c in enumerate(info.channels) if c == name or c.endswith("_" + name)]
        if len(hits) != 1:
            return None
        cols.append(hits[0])
    return cols


class ImuCorrection:
    """Stage applying a profile's gyro, accelerometer and magnetometer corrections to raw IMU chunks.

    ``gyro - bias``; ``accel_matrix @ (acc - accel_bias)``; ``soft_iron @ (mag - hard_iron)``.
    Sections absent from the profile leave their channels untouched; other channels
    pass through. Stateless, so chunking never changes the result.

    Parameters
    ----------
    info : StreamInfo
        The raw IMU stream (channels ``acc_x..z``, ``gyro_x..z``, ``mag_x..z`` by label).
    profile : Profile, optional
        Default: the one in ``info.metadata['calibration']``.
    """

    def __init__(self, info: StreamInfo, profile: Profile | None = None) -> None:
        if info.modality is not Modality.IMU:
            raise CalibrationError(f"ImuCorrection: stream {info.name!r} is {info.modality.value}, not IMU")
        profile = profile or profile_of(info)
        if profile is None:
            raise CalibrationError(
                f"stream {info.name!r} carries no calibration profile; run 'wearsense calibrate "
                f"imu_still <uri>' (and imu_six_face, mag_figure8) for device {device_serial(info)!r}"
            )
        from wearsense.calibrate.imu import AccelCalibration
        from wearsense.calibrate.mag import MagCalibration

        self.info = info
        self.profile = profile
        s = profile.sections
        self.gyro_bias = np.asarray(s["gyro"]["bias_dps"], float) if "gyro" in s else None
        self.accel = AccelCalibration.from_section(s["accel"]) if "accel" in s else None
        self.mag = MagCalibration.from_section(s["mag"]) if "mag" in s else None
        self._acc, self._gyr, self._mag = _columns(info, "acc"), _columns(info, "gyro"), _columns(info, "mag")

    def reset(self) -> None:
        """Nothing to reset (stateless)."""

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Corrected copy of a raw IMU array (samples x channels)."""
        out = np.array(data, dtype=np.float64, copy=True)
        if self.gyro_bias is not None and self._gyr:
            out[:, self._gyr] -= self.gyro_bias
        if self.accel is not None and self._acc:
            out[:, self._acc] = self.accel.apply(out[:, self._acc])
        if self.mag is not None and self._mag:
            out[:, self._mag] = self.mag.apply(out[:, self._mag])
        return out

    def process(self, chunk: Chunk) -> Chunk:
        return chunk.with_data(self.apply(chunk.data).astype(np.float32))


def emg_mvc_v(info: StreamInfo, profile: Profile | None = None) -> tuple[float, ...]:
    """Per-channel MVC envelope (V) for ``info``'s channels, from its profile, for
    :class:`~wearsense.dsp.EmgChainSettings` ``mvc_v``. Raises naming the channels without one."""
    profile = profile or profile_of(info)
    emg = profile.sections.get("emg") if profile else None
    if not emg:
        raise CalibrationError(
            f"stream {info.name!r} has no EMG calibration; run 'wearsense calibrate emg_rest_mvc <uri>'"
        )
    table = dict(zip(emg["channels"], emg["mvc_v"]))
    missing = [c for c in info.channels if not (isinstance(table.get(c), float) and table[c] > 0)]
    if missing:
        raise CalibrationError(
            f"stream {info.name!r}: no MVC for channel(s) {', '.join(missing)}; add an MVC "
            "step for their muscle group to the protocol and calibrate again"
        )
    return tuple(float(table[c]) for c in info.channels)

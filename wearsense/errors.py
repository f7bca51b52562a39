"""The exception hierarchy of wearsense.

Every error raised on purpose by wearsense derives from :class:`WearsenseError`, so a
script can catch one type. Subclasses carry the failing item (device URI, parameter,
channel, file offset) as attributes, and their messages say what to do about it.
"""

from __future__ import annotations


class WearsenseError(Exception):
    """Root of every error wearsense raises on purpose."""


class StreamError(WearsenseError, ValueError):
    """A chunk or stream description is malformed (shape, time, dtype, NaN)."""


class DeviceError(WearsenseError):
    """A device could not be opened, read or closed.

    Attributes
    ----------
    uri : str
        The device URI that failed.
    """

    def __init__(self, message: str, uri: str = "") -> None:
        super().__init__(message)
        self.uri = uri


class DeviceURIError(DeviceError, ValueError):
    """A device URI is malformed, names an unknown scheme, or has a bad parameter.

    Attributes
    ----------
    uri : str
        The URI as given.
    parameter : str
        The offending query parameter, or ``""`` when the URI itself is wrong.
    """

    def __init__(self, message: str, uri: str = "", parameter: str = "") -> None:
        super().__init__(message, uri)
        self.parameter = parameter


class MissingDependencyError(DeviceError, ImportError):
    """An optional package needed for one feature is not installed.

    The message names the ``pip install`` command that fixes it.
    """


class MalformedNotification(DeviceError):
    """A BLE notification whose bytes do not fit the protocol (wrong length, unknown type).

    BLE drivers raise it from their decoders; the BLE lifecycle counts it per
    characteristic and goes on.

    Attributes
    ----------
    characteristic : str
        UUID of the characteristic that sent it.
    payload : bytes
        The bytes received.
    """

    def __init__(self, message: str, characteristic: str = "", payload: bytes = b"") -> None:
        super().__init__(message)
        self.characteristic = characteristic
        self.payload = bytes(payload)


class PolarControlError(DeviceError):
    """A Polar sensor refused a PMD control-point command.

    Attributes
    ----------
    status : int
        PMD status code (see ``wearsense.devices.ble_polar.STATUS``).
    """

    def __init__(self, message: str, status: int, uri: str = "") -> None:
        super().__init__(message, uri)
        self.status = status


class FrameError(WearsenseError, ValueError):
    """One firmware_bridge frame or payload could not be built or decoded.

    Raised by the per-frame API of :mod:`wearsense.bridge` only; the stream decoder
    counts bad frames instead of raising.
    """


class AlignmentError(WearsenseError):
    """IMU and pose cannot be aligned (nothing in common, or no movement to align on)."""


class FormatError(WearsenseError, ValueError):
    """A file is truncated, corrupted, or not in the format expected.

    Attributes
    ----------
    path : str
        The file.
    offset : int or None
        Byte offset of the problem, where known.
    """

    def __init__(self, message: str, path: str = "", offset: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.offset = offset


class OutputError(WearsenseError, OSError):
    """An output cannot be written: the file exists (pass overwrite), its folder cannot be
    created, the disk is full, the folder is read-only.

    Attributes
    ----------
    path : str
        The file or folder that could not be written.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message)
        self.path = path


class RecordingError(OutputError):
    """A recording cannot start or continue: unwritable path, disk full, file exists.

    Attributes
    ----------
    path : str
        The file being recorded.
    """


class ConfigError(WearsenseError, ValueError):
    """A setting is out of range or of the wrong kind (checked when the settings are made).

    Attributes
    ----------
    parameter : str
        The setting's name (e.g. ``flush_interval_s``).
    """

    def __init__(self, message: str, parameter: str = "") -> None:
        super().__init__(message)
        self.parameter = parameter


class ProtocolError(WearsenseError, ValueError):
    """A calibration protocol file (``calibration/*.toml``) is malformed.

    Attributes
    ----------
    path : str
        The protocol file.
    step : str
        The step id (or ``"#n"``) holding the problem, ``""`` for the protocol header.
    field : str
        The offending field, e.g. ``"duration_s"`` or ``"checks[0].max"``.
    """

    def __init__(self, message: str, path: str = "", step: str = "", field: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.step = step
        self.field = field


class CalibrationError(WearsenseError):
    """A calibration step or fit failed its acceptance check, or its result is unusable.

    The message says what was measured, the limit, and what to do (retry the step,
    move differently, check the sensor's axes).

    Attributes
    ----------
    step : str
        The step id, ``""`` for a fit over the whole protocol.
    metric : str
        The quantity that failed, e.g. ``"gyro_std_dps"``.
    """

    def __init__(self, message: str, step: str = "", metric: str = "") -> None:
        super().__init__(message)
        self.step = step
        self.metric = metric

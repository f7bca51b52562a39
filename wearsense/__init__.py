"""wearsense: wearable EMG and IMU sensing, and fusion with body pose.

The front door, for the few calls most users need:

>>> import wearsense
>>> with wearsense.open("sim://mover?realtime=0&duration_s=2") as dev:     # doctest: +SKIP
...     for info, chunk in dev: ...                      # StreamInfo, Chunk
>>> wearsense.record(["sim://mover", "lsl://type=MoCap"], "s.xdf", duration_s=60)   # doctest: +SKIP
>>> streams = wearsense.read("s.xdf")                    # {name: (StreamInfo, Chunk)}  # doctest: +SKIP

- :func:`open` (:class:`wearsense.devices.BlockingDevice`): one device by URI, blocking,
  a context manager and an iterator of ``(StreamInfo, Chunk)``, in the manner of
  pyserial's ``serial_for_url``. The async drivers are in :mod:`wearsense.devices`
  (``async with open_device(uri)``).
- :func:`record` (:func:`wearsense.recording.record`): several devices into one
  crash-safe XDF file; :class:`wearsense.recording.Recording` does the same inside an
  event loop.
- :func:`read` (:func:`wearsense.io.read`): any supported file, the reader chosen by
  extension.

They are imported on first use, so ``import wearsense`` stays light. The core types
live in :mod:`wearsense.stream`; the virtual mover is :mod:`wearsense.sim`.
"""

import importlib
import logging

from wearsense.errors import WearsenseError

__version__ = "0.1.0"

# A library logs to its named logger and leaves output to the application (the CLI's -v).
logging.getLogger("wearsense").addHandler(logging.NullHandler())

#: front-door name -> (module, attribute), imported on first use. The core types too:
#: ``import wearsense`` loads no numpy, so the command line starts (and answers Ctrl-C)
#: before any numerical library is loaded.
_FRONT_DOOR = {
    **{name: ("wearsense.stream", name) for name in ("Chunk", "Modality", "Pipeline", "Stage", "StreamInfo")},
    "open": ("wearsense.devices.blocking", "BlockingDevice"),
    "record": ("wearsense.recording", "record"),
    "read": ("wearsense.io", "read"),
}

__all__ = [
    "Chunk",
    "Modality",
    "Pipeline",
    "Stage",
    "StreamInfo",
    "WearsenseError",
    "__version__",
    "open",
    "read",
    "record",
]


def __getattr__(name: str):
    if name in _FRONT_DOOR:
        module, attr = _FRONT_DOOR[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_FRONT_DOOR))

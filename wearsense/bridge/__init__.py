"""The firmware_bridge wire protocol in Python: the host half of ``firmware_bridge/PROTOCOL.md``.

The C core in ``firmware_bridge/src`` is the device half, and
``firmware_bridge/vectors`` holds the frames both must agree on. This package is a
protocol, not a driver: the ``serial://`` driver (:mod:`wearsense.devices.serial`)
speaks it over a serial port.

- :mod:`~wearsense.bridge.codec`: one frame at a time (COBS, CRC-16, header),
  for commands, tests and tools;
- :mod:`~wearsense.bridge.payloads`: the payload of each frame type, built and parsed;
- :mod:`~wearsense.bridge.decoder`: a byte stream decoded many frames at a time
  (:class:`FrameDecoder`, one compiled COBS+CRC pass) and the DATA frames of one
  stream turned into sample arrays (:func:`decode_samples`), with no Python loop per
  frame or per sample.

Every public name of the three modules is importable from here
(``from wearsense import bridge as wb; wb.build_frame(...)``).
"""

from wearsense.bridge import codec, decoder, payloads
from wearsense.bridge.codec import *  # noqa: F403
from wearsense.bridge.decoder import *  # noqa: F403
from wearsense.bridge.payloads import *  # noqa: F403
from wearsense.errors import FrameError

__all__ = ["FrameError"]
__all__ += codec.__all__
__all__ += payloads.__all__
__all__ += decoder.__all__

"""Moved: the firmware_bridge protocol lives in :mod:`wearsense.bridge` (a protocol, not a driver).

This name stays importable for code written against it; new code imports
``wearsense.bridge``.
"""

from wearsense import bridge as _bridge
from wearsense.bridge import *  # noqa: F403

__all__ = _bridge.__all__

"""Former home of :mod:`wearsense.sync.timeline`, kept so that old imports work.

``SessionClock`` is now :class:`~wearsense.sync.timeline.Timeline` and ``SessionSettings``
:class:`~wearsense.sync.timeline.TimelineSettings` (a recording *session* of several
devices is :mod:`wearsense.devices`' job; this maps their clocks onto one time axis).
"""

from wearsense.sync.timeline import (
    GridResampler,
    GridSettings,
    StreamSyncSettings,
    StreamSyncState,
    Timeline,
    TimelineSettings,
    sync_offline,
)

SessionClock = Timeline
SessionSettings = TimelineSettings

__all__ = [
    "GridResampler",
    "GridSettings",
    "SessionClock",
    "SessionSettings",
    "StreamSyncSettings",
    "StreamSyncState",
    "Timeline",
    "TimelineSettings",
    "sync_offline",
]

"""Time: clock models, the session clock, cross-modal alignment, lead time, sync quality.

- :mod:`wearsense.sync.clock`: online device→host clock model per device (lower
  envelope of arrivals, TIME_SYNC round trips, wrap-around, resets).
- :mod:`wearsense.sync.timeline`: :class:`Timeline` puts every stream on one time axis
  (the session clock) with loss marked; :class:`GridResampler` resamples several
  streams onto one grid, causally. (``SessionClock`` / ``SessionSettings`` are the old
  names of ``Timeline`` / ``TimelineSettings``.)
- :mod:`wearsense.sync.align`: the residual offset between IMU and pose streams, from a
  sync gesture and from continuous cross-correlation, with a confidence.
- :mod:`wearsense.sync.emd`: lead of EMG onset over motion onset per muscle, with
  confidence intervals.
- :mod:`wearsense.sync.report`: the sync-quality report (text and figure).

See ``docs/sync.md``.
"""

from wearsense.sync.clock import (
    ClockModel,
    ClockSettings,
    ClockState,
    envelope_line,
    lower_hull,
    unwrap_counter,
)
from wearsense.sync.timeline import (
    GridResampler,
    GridSettings,
    Timeline,
    TimelineSettings,
    StreamSyncSettings,
    StreamSyncState,
    sync_offline,
)

SessionClock = Timeline  # the former names
SessionSettings = TimelineSettings

__all__ = [
    "ClockModel",
    "ClockSettings",
    "ClockState",
    "envelope_line",
    "lower_hull",
    "unwrap_counter",
    "GridResampler",
    "GridSettings",
    "Timeline",
    "TimelineSettings",
    "StreamSyncSettings",
    "StreamSyncState",
    "sync_offline",
    "SessionClock",
    "SessionSettings",
]

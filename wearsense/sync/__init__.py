"""Time: clock models, the session clock, cross-modal alignment, lead time, sync quality.

- :mod:`wearsense.sync.clock`: online device→host clock model per device (lower
  envelope of arrivals, TIME_SYNC round trips, wrap-around, resets).
- :mod:`wearsense.sync.session`: every stream on one session clock with loss marked,
  and causal resampling of several streams onto one grid.
- :mod:`wearsense.sync.align`: the residual offset between IMU and pose streams, from a
  sync gesture and from continuous cross-correlation, with a confidence.
- :mod:`wearsense.sync.emd`: lead of EMG onset over motion onset per muscle, with
  confidence intervals.
- :mod:`wearsense.sync.report`: the sync-quality report (text and figure).

See ``docs/sync.md``.
"""

from wearsense.sync.clock import ClockModel, ClockSettings, ClockState, envelope_line, lower_hull, unwrap_counter
from wearsense.sync.session import (
    GridResampler,
    GridSettings,
    SessionClock,
    SessionSettings,
    StreamSyncSettings,
    StreamSyncState,
    sync_offline,
)

__all__ = [
    "ClockModel",
    "ClockSettings",
    "ClockState",
    "envelope_line",
    "lower_hull",
    "unwrap_counter",
    "GridResampler",
    "GridSettings",
    "SessionClock",
    "SessionSettings",
    "StreamSyncSettings",
    "StreamSyncState",
    "sync_offline",
]

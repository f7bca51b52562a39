"""The web dashboard (``wearsense dashboard``): a local page served from the package, fed over WebSocket.

See :mod:`wearsense.live.dashboard.server`.
"""

from wearsense.live.dashboard.server import (
    Dashboard,
    DashboardResult,
    DashboardSettings,
    DashboardStats,
    FrameBuilder,
    is_loopback,
    run_dashboard,
)

__all__ = [
    "Dashboard",
    "DashboardResult",
    "DashboardSettings",
    "DashboardStats",
    "FrameBuilder",
    "is_loopback",
    "run_dashboard",
]

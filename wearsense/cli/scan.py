"""``wearsense scan``: list nearby BLE devices that wearsense can open, with their RSSI and URI.

    wearsense scan --timeout 5
    wearsense scan --all --profile board.toml

Needs a working Bluetooth stack (bleak: BlueZ over D-Bus on Linux); without one it
says so and what to install or start.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from wearsense.devices.ble_common import Found, scan

NAME = "scan"
HELP = "list nearby BLE wearables (Myo, Polar, profiled boards) with RSSI and the URI that opens each"

__all__ = ["format_found"]


def add_arguments(parser) -> None:
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to listen (default 5)")
    parser.add_argument("--all", action="store_true", help="also list devices no driver supports")
    parser.add_argument(
        "--profile",
        type=Path,
        action="append",
        default=[],
        help="recognise boards described by this TOML profile (repeatable)",
    )


def format_found(found: list[Found]) -> str:
    """A table: RSSI, address, name, kind, URI (one line per device)."""
    if not found:
        return (
            "no supported BLE devices found; switch the device on, wake it "
            "(Myo: move it; Polar: wear it), and retry"
        )
    lines = [f"{'RSSI':>5}  {'address':<36}  {'name':<24}  {'kind':<8}  uri"]
    for f in found:
        rssi = f"{f.rssi_dbm:d}" if f.rssi_dbm is not None else "?"
        lines.append(f"{rssi:>5}  {f.address:<36}  {f.name[:24]:<24}  {f.kind or '-':<8}  {f.uri or '-'}")
    return "\n".join(lines)


def run(args, scanner: Any = None) -> int:
    from wearsense.devices.ble_profile import load_profile

    profiles = [load_profile(p) for p in args.profile]
    matchers = [(p.name, p.advertises) for p in profiles]
    found = asyncio.run(scan(args.timeout, scanner=scanner, include_all=args.all, extra_matchers=matchers))
    print(format_found(found))
    return 0

"""Scheme → driver registry and :func:`open_device`.

Built-in drivers are named here as ``"module:Class"`` strings and imported only when
their scheme is used, so a missing optional package (bleak, pylsl) matters only then.
A lab's own package can add schemes through the ``wearsense.devices`` entry-point
group (``myboard = "mylab.wearsense_driver:MyBoard"``) or at run time with
:func:`register`.
"""

from __future__ import annotations

import functools
import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points

from wearsense.devices.base import Device, DeviceURI, parse_uri
from wearsense.errors import DeviceURIError, MissingDependencyError

__all__ = ["open_device", "register", "schemes", "driver_class"]


@dataclass(frozen=True)
class _Entry:
    target: str  # "module:Class"
    requires: str = ""  # pip requirement that provides the import, for the error message


_BUILTIN: dict[str, _Entry] = {
    "sim": _Entry("wearsense.devices.sim:SimDevice"),
    "serial": _Entry("wearsense.devices.serial:SerialDevice", "pyserial"),
    "replay": _Entry("wearsense.devices.replay:ReplayDevice", "pyxdf"),
    "ble": _Entry("wearsense.devices.ble_common:BleDevice", "bleak"),
    "brainflow": _Entry("wearsense.devices.brainflow:BrainFlowDevice", "brainflow"),
    "lsl": _Entry("wearsense.devices.lsl:LslDevice", "pylsl"),
}
_RUNTIME: dict[str, _Entry | type[Device]] = {}


def register(scheme: str, driver: type[Device] | str, requires: str = "") -> None:
    """Add (or replace) the driver for ``scheme``: a :class:`Device` subclass or ``"module:Class"``."""
    _RUNTIME[scheme.lower()] = driver if not isinstance(driver, str) else _Entry(driver, requires)


@functools.lru_cache(maxsize=1)
def _plugin_entries() -> dict[str, _Entry]:
    """Schemes that installed packages declare (read once per process)."""
    return {ep.name.lower(): _Entry(ep.value) for ep in entry_points(group="wearsense.devices")}


def schemes() -> list[str]:
    """Every scheme that can be opened: built-in, plug-in and registered at run time."""
    return sorted({*_BUILTIN, *_plugin_entries(), *_RUNTIME})


def driver_class(scheme: str, uri: str = "") -> type[Device]:
    """The driver class for ``scheme``, importing its module on first use."""
    scheme = scheme.lower()
    entry = _RUNTIME.get(scheme) or _plugin_entries().get(scheme) or _BUILTIN.get(scheme)
    if entry is None:
        raise DeviceURIError(
            f"unknown device scheme {scheme!r} in {uri!r}; known schemes: "
            + ", ".join(f"{s}://" for s in schemes()),
            uri=uri,
        )
    if isinstance(entry, type):
        return entry
    module_name, _, cls_name = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        hint = entry.requires or (e.name or module_name).split(".")[0]
        raise MissingDependencyError(
            f"{scheme}:// needs the package {hint!r}, which is not installed ({e}); "
            f"install it with: pip install {hint}",
            uri=uri,
        ) from e
    return getattr(module, cls_name)


def open_device(uri: str) -> Device:
    """Create the driver for ``uri``; use it as ``async with open_device(uri) as dev``.

    Raises
    ------
    DeviceURIError
        Malformed URI, unknown scheme (the message lists the known ones) or a bad
        query parameter (the message lists the valid ones with their ranges).
    MissingDependencyError
        The driver needs an optional package; the message says what to pip install.
    """
    parsed: DeviceURI = parse_uri(uri)
    return driver_class(parsed.scheme, uri)(parsed)

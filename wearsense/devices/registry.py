"""Scheme → driver registry and :func:`open_device`.

Built-in drivers are named here as ``"module:Class"`` strings and imported only when
their scheme is used, so a missing optional package matters only then, and the error
says what to install: ``ble://`` needs the ``ble`` extra (bleak), ``brainflow://`` the
``brainflow`` extra, ``lsl://`` the ``lsl`` extra (pylsl); ``pip install
"wearsense[devices]"`` installs all three. ``sim://``, ``serial://`` (pyserial, small
and pure Python, is a core dependency) and ``replay://`` need nothing more.
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

__all__ = ["driver_class", "kinds", "open_device", "register", "schemes"]


@dataclass(frozen=True)
class _Entry:
    target: str  # "module:Class"
    requires: str = ""  # the package that provides the import, for the error message
    extra: str = ""  # the wearsense extra that installs it


#: A scheme can hold several drivers, one per *kind*, registered as ``"scheme/kind"``:
#: the first part of the target picks one (``ble://myo/<address>`` opens ``"ble/myo"``).
#: The plain scheme's entry is the family's base class (its common parameters, for
#: ``wearsense devices``); a lab adds a kind with ``register("ble/myboard", MyBoard)``.
_BUILTIN: dict[str, _Entry] = {
    "sim": _Entry("wearsense.devices.sim:SimDevice"),
    "serial": _Entry("wearsense.devices.serial:SerialDevice", "pyserial"),
    "replay": _Entry("wearsense.devices.replay:ReplayDevice"),
    "ble": _Entry("wearsense.devices.ble_common:BleDevice", "bleak", "ble"),
    "ble/myo": _Entry("wearsense.devices.ble_myo:MyoDevice", "bleak", "ble"),
    "ble/polar": _Entry("wearsense.devices.ble_polar:PolarDevice", "bleak", "ble"),
    "ble/profile": _Entry("wearsense.devices.ble_profile:ProfileDevice", "bleak", "ble"),
    "brainflow": _Entry("wearsense.devices.brainflow:BrainFlowDevice", "brainflow", "brainflow"),
    "lsl": _Entry("wearsense.devices.lsl:LslDevice", "pylsl", "lsl"),
}
_RUNTIME: dict[str, _Entry | type[Device]] = {}


def register(scheme: str, driver: type[Device] | str, requires: str = "") -> None:
    """Add (or replace) the driver for ``scheme`` (or ``"scheme/kind"``): a :class:`Device`
    subclass or ``"module:Class"``; ``requires`` names the package its import needs."""
    _RUNTIME[scheme.lower()] = driver if not isinstance(driver, str) else _Entry(driver, requires)


@functools.lru_cache(maxsize=1)
def _plugin_entries() -> dict[str, _Entry]:
    """Schemes that installed packages declare (read once per process)."""
    return {ep.name.lower(): _Entry(ep.value) for ep in entry_points(group="wearsense.devices")}


def _names() -> set[str]:
    return {*_BUILTIN, *_plugin_entries(), *_RUNTIME}


def schemes() -> list[str]:
    """Every scheme that can be opened: built-in, plug-in and registered at run time."""
    return sorted({name.split("/", 1)[0] for name in _names()})


def kinds(scheme: str) -> list[str]:
    """The driver kinds of a scheme that has several, else [].

    ``kinds("ble") == ["myo", "polar", "profile"]``.
    """
    prefix = scheme.lower() + "/"
    return sorted(name[len(prefix) :] for name in _names() if name.startswith(prefix))


def _lookup(name: str) -> _Entry | type[Device] | None:
    return _RUNTIME.get(name) or _plugin_entries().get(name) or _BUILTIN.get(name)


def driver_class(scheme: str, uri: str = "") -> type[Device]:
    """The driver class for ``scheme``, importing its module on first use.

    For a scheme with several kinds (``ble``), the first part of the target in ``uri``
    picks the kind; with no kind given, the family's base class is returned (it lists
    the parameters every kind shares, and refuses to open).

    Raises
    ------
    DeviceURIError
        Unknown scheme or kind; the message lists the known ones.
    MissingDependencyError
        The driver's module needs a package that is not installed; the message says
        what to pip install.
    """
    scheme = scheme.lower()
    name = scheme
    family = kinds(scheme)
    if family:
        rest = uri.split("://", 1)[1] if "://" in uri else ""
        kind = rest.partition("?")[0].strip("/").split("/", 1)[0].lower()
        if kind and kind not in family:
            raise DeviceURIError(
                f"device URI {uri!r}: unknown {scheme.upper()} device kind {kind!r}; write "
                + ", ".join(f"{scheme}://{k}/<address>" for k in family)
                + (
                    " (run 'wearsense scan' to list nearby devices and their URIs)" if scheme == "ble" else ""
                ),
                uri=uri,
            )
        if kind:
            name = f"{scheme}/{kind}"
    entry = _lookup(name)
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
        raise missing_dependency(
            scheme, entry.requires or (e.name or module_name).split(".")[0], entry.extra, uri, e
        ) from e
    return getattr(module, cls_name)


def missing_dependency(
    scheme: str, package: str, extra: str, uri: str, error: BaseException
) -> MissingDependencyError:
    """The error for a driver whose package is not installed: what to pip install."""
    fix = (
        f'pip install "wearsense[{extra}]" (or: pip install {package})' if extra else f"pip install {package}"
    )
    return MissingDependencyError(
        f"{scheme}:// needs the package {package!r}, which is not installed ({error}); install it with: "
        f"{fix}",
        uri=uri,
    )


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

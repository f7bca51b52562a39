"""Device drivers, opened by URI: ``open_device("sim://mover?seed=3")``.

One module per scheme; see :mod:`wearsense.devices.registry` for the list and for
adding a lab's own driver.
"""

from wearsense.devices.base import Device, DeviceEvent, DeviceURI, Param, parse_uri
from wearsense.devices.blocking import BlockingDevice, acquire
from wearsense.devices.registry import driver_class, kinds, open_device, register, schemes

__all__ = [
    "BlockingDevice",
    "Device",
    "DeviceEvent",
    "DeviceURI",
    "Param",
    "acquire",
    "driver_class",
    "kinds",
    "open_device",
    "parse_uri",
    "register",
    "schemes",
]


def __getattr__(name: str):
    # the old name of BlockingDevice, which read as if it belonged to the sync (clock) layer
    if name == "SyncDevice":
        import warnings

        warnings.warn(
            "wearsense.devices.SyncDevice is now BlockingDevice", DeprecationWarning, stacklevel=2
        )
        return BlockingDevice
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

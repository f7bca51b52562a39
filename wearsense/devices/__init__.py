"""Device drivers, opened by URI: ``open_device("sim://mover?seed=3")``.

One module per scheme; see :mod:`wearsense.devices.registry` for the list and for
adding a lab's own driver.
"""

from wearsense.devices.base import Device, DeviceEvent, DeviceURI, Param, parse_uri
from wearsense.devices.registry import SyncDevice, acquire, driver_class, open_device, register, schemes

__all__ = [
    "Device",
    "DeviceEvent",
    "DeviceURI",
    "Param",
    "SyncDevice",
    "acquire",
    "driver_class",
    "open_device",
    "parse_uri",
    "register",
    "schemes",
]

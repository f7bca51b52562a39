"""wearsense: wearable EMG and IMU sensing, and fusion with body pose.

The core types live in :mod:`wearsense.stream`; devices open by URI through
:func:`wearsense.devices.open_device`; the virtual mover is :mod:`wearsense.sim`.
"""

import logging

from wearsense.errors import WearsenseError
from wearsense.stream import Chunk, Modality, Pipeline, Stage, StreamInfo

__version__ = "0.1.0"

# A library logs to its named logger and leaves output to the application (the CLI's -v).
logging.getLogger("wearsense").addHandler(logging.NullHandler())

__all__ = ["Chunk", "Modality", "Pipeline", "Stage", "StreamInfo", "WearsenseError", "__version__"]

"""wearsense: wearable EMG and IMU sensing, and fusion with body pose.

The core types live in :mod:`wearsense.stream`; devices open by URI through
:func:`wearsense.devices.open_device`; the virtual mover is :mod:`wearsense.sim`.
"""

from wearsense.errors import WearsenseError
from wearsense.stream import Chunk, Modality, Pipeline, Stage, StreamInfo

__version__ = "0.1.0"

__all__ = ["Chunk", "Modality", "Pipeline", "Stage", "StreamInfo", "WearsenseError", "__version__"]

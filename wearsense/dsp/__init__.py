"""Signal processing: causal EMG conditioning, features, onset detection, signal quality,
IMU orientation (AHRS) and resampling.

Every stage follows :class:`wearsense.stream.Stage`: ``process(chunk) -> chunk`` with
its own inspectable ``state``, ``reset()``, and settings in a frozen dataclass; the
output of a recording fed in chunks equals the output of one call on the whole
recording. See ``docs/dsp.md`` for stages, delays, frame conventions and measured
numbers.
"""

from wearsense.dsp.emg import (
    REFERENCE_HZ,
    TKEO,
    BandPass,
    BandPassSettings,
    DCRemoval,
    DCRemovalSettings,
    EmgChain,
    EmgChainSettings,
    Envelope,
    EnvelopeSettings,
    MainsNotch,
    MVCNormalise,
    NotchSettings,
    Rectify,
    detect_mains_hz,
    zero_phase_bandpass,
    zero_phase_chain,
    zero_phase_envelope,
    zero_phase_notch,
)
from wearsense.dsp.ahrs import Ahrs, AhrsSettings, AhrsState
from wearsense.dsp.features import FEATURES, EmgFeatures, FeatureSettings, feature_labels
from wearsense.dsp.onset import (
    BaselineSettings,
    CusumChangePoint,
    CusumSettings,
    DoubleThreshold,
    DoubleThresholdSettings,
    OnsetEvent,
    TkeoSettings,
    TkeoThreshold,
    score_onsets,
)
from wearsense.dsp.quality import ChannelQuality, QualityMonitor, QualitySettings
from wearsense.dsp.resample import GridInterpolator, PolyphaseResampler, ResamplerSettings, interpolate_to

__all__ = [
    "Ahrs",
    "AhrsSettings",
    "AhrsState",
    "FEATURES",
    "EmgFeatures",
    "FeatureSettings",
    "feature_labels",
    "BaselineSettings",
    "CusumChangePoint",
    "CusumSettings",
    "DoubleThreshold",
    "DoubleThresholdSettings",
    "OnsetEvent",
    "TkeoSettings",
    "TkeoThreshold",
    "score_onsets",
    "ChannelQuality",
    "QualityMonitor",
    "QualitySettings",
    "GridInterpolator",
    "PolyphaseResampler",
    "ResamplerSettings",
    "interpolate_to",
    "REFERENCE_HZ",
    "TKEO",
    "BandPass",
    "BandPassSettings",
    "DCRemoval",
    "DCRemovalSettings",
    "EmgChain",
    "EmgChainSettings",
    "Envelope",
    "EnvelopeSettings",
    "MainsNotch",
    "MVCNormalise",
    "NotchSettings",
    "Rectify",
    "detect_mains_hz",
    "zero_phase_bandpass",
    "zero_phase_chain",
    "zero_phase_envelope",
    "zero_phase_notch",
]

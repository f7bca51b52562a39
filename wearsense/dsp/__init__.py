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

__all__ = [
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

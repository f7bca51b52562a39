"""Export an EMG stream as an MNE-Python ``Raw`` object (needs ``mne``).

MNE wants a regular grid, so samples are placed by sequence number: sample ``k``
goes to column ``seq[k] - seq[0]``. Lost samples (gaps in ``seq``) become zeros
covered by ``BAD_lost`` annotations, which MNE's functions skip with
``reject_by_annotation``. Channels are typed ``emg`` and scaled to volts; the first
timestamp (seconds, in the stream's clock) is kept in ``raw.info["description"]``.
"""

from __future__ import annotations

import numpy as np

from wearsense.errors import MissingDependencyError, StreamError
from wearsense.stream import Chunk, Modality, StreamInfo

__all__ = ["to_mne_raw"]

_TO_VOLTS = {"V": 1.0, "mV": 1e-3, "uV": 1e-6, "µV": 1e-6}


def to_mne_raw(info: StreamInfo, chunk: Chunk):
    """An ``mne.io.RawArray`` of an EMG stream (channels typed ``emg``, data in volts).

    Raises
    ------
    MissingDependencyError
        mne is not installed.
    StreamError
        Not an EMG stream, irregular rate, empty, or a unit that is not a voltage.
    """
    try:
        import mne
    except ImportError as e:
        raise MissingDependencyError(f"MNE export needs mne ({e}); install it with: pip install mne") from e
    if info.modality is not Modality.EMG:
        raise StreamError(f"MNE export is for EMG streams; {info.name!r} is {info.modality.value}")
    if info.rate_hz <= 0:
        raise StreamError(f"MNE needs a regular sampling rate; stream {info.name!r} is irregular (rate_hz=0)")
    if chunk.n == 0:
        raise StreamError(f"stream {info.name!r} has no samples to export")
    bad_units = sorted({u for u in info.units if u not in _TO_VOLTS})
    if bad_units:
        raise StreamError(
            f"stream {info.name!r}: units {bad_units} are not voltages; MNE export knows "
            f"{', '.join(_TO_VOLTS)}"
        )
    scale = np.array([_TO_VOLTS[u] for u in info.units])
    idx = chunk.seq - chunk.seq[0]
    data = np.zeros((info.n_channels, int(idx[-1]) + 1))
    data[:, idx] = chunk.data.T * scale[:, None]
    mne_info = mne.create_info(list(info.channels), sfreq=info.rate_hz, ch_types="emg")
    mne_info["description"] = (
        f"wearsense stream {info.name}; first sample at t={chunk.t[0]!r} s ({chunk.clock})"
    )
    raw = mne.io.RawArray(data, mne_info, verbose="error")
    present = np.zeros(data.shape[1], bool)
    present[idx] = True
    edges = np.diff(np.concatenate([[1], present.astype(np.int8), [1]]))
    starts, stops = np.flatnonzero(edges == -1), np.flatnonzero(edges == 1)
    if starts.size:
        raw.set_annotations(
            mne.Annotations(
                starts / info.rate_hz, (stops - starts) / info.rate_hz, ["BAD_lost"] * starts.size
            )
        )
    return raw

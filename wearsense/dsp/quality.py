"""Live per-channel EMG signal quality, with a reason that says what to fix.

:class:`QualityMonitor` watches raw EMG (volts): ``update(chunk)`` as data arrive,
``status()`` for the verdict of each channel. It is also a
:class:`~wearsense.stream.Stage` whose ``process`` passes the chunk through, so it can
sit in a pipeline in the recorder or the live view.

Checks, over the last ``window_s`` of signal, evaluated every ``step_s`` (at fixed
sample counts, so chunking does not change the verdicts):

================  ====================================================  ==============================
flag              test                                                  what to do (in the reason)
================  ====================================================  ==============================
``flat``          SD below ``flat_v``                                   check the cable/connector and
                                                                        amplifier
``electrode_off`` at the rail (``full_scale_v``) over half the window,  press the electrode on /
                  or flat at an offset above ``offset_v``               re-gel it
``saturation``    over ``clip_fraction`` of samples at the window's     lower the gain; check the
                  extreme value (or at ``full_scale_v``)                cable
``mains``         50/60 Hz and harmonics carry over ``mains_fraction``  check the reference electrode
                  of the 20-450 Hz power
``motion``        power below 20 Hz exceeds ``motion_ratio`` x the      tape the cable and electrode
                  20-450 Hz power                                       down
``low_snr``       noise in the EMG band above ``noise_floor_v``,        clean/abrade the skin; check
                  estimated from the white spectrum above 500 Hz        contact
                  (rates >= 1.2 kHz), else the 5th percentile of 50 ms
                  RMS over ``history_s``
================  ====================================================  ==============================
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from wearsense.errors import StreamError
from wearsense.stream import Chunk, StreamInfo

__all__ = ["QualitySettings", "ChannelQuality", "QualityMonitor", "describe"]

log = logging.getLogger("wearsense")

_ADVICE = {
    "electrode_off": "electrode off or lead disconnected{detail}: press the electrode on (re-gel it if dry)",
    "flat": "flat line{detail}: check the cable, connector and amplifier channel",
    "saturation": "clipping{detail}: lower the amplifier gain, check for a loose cable",
    "mains": "{detail} dominates, check the reference electrode",
    "motion": "motion artefact{detail}: tape the cable and the electrode down",
    "low_snr": "noisy{detail}: clean/abrade the skin and check electrode contact",
}
#: order in which problems are reported (most basic first)
_PRIORITY = ("electrode_off", "flat", "saturation", "mains", "motion", "low_snr")


@dataclass(frozen=True)
class QualitySettings:
    """Thresholds of :class:`QualityMonitor` (volts, seconds, ratios)."""

    window_s: float = 1.0
    step_s: float = 0.25
    history_s: float = 10.0
    flat_v: float = 0.2e-6
    offset_v: float = 50e-3
    full_scale_v: float | None = None
    clip_fraction: float = 0.01
    rail_fraction: float = 0.5
    mains_fraction: float = 0.3
    motion_ratio: float = 1.0
    noise_floor_v: float = 20e-6


@dataclass(frozen=True)
class ChannelQuality:
    """Verdict on one channel.

    Attributes
    ----------
    channel : int
        Column index.
    label : str
        Channel label.
    flags : frozenset of str
        Problems found (empty when the channel is fine).
    reason : str
        What is wrong and what to do, or ``"ok"``.
    metrics : dict
        The numbers behind it: ``rms_v``, ``mains_fraction``, ``mains_hz``,
        ``motion_ratio``, ``clip_fraction``, ``noise_floor_v``.
    """

    channel: int
    label: str
    flags: frozenset[str]
    reason: str
    metrics: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.flags


class QualityMonitor:
    """Per-channel live quality of raw EMG (see the module docstring for the checks).

    Parameters
    ----------
    info : StreamInfo
        The EMG stream (rate and labels; ``metadata['full_scale_v']`` sets the rails
        if the settings do not).
    settings : QualitySettings
    """

    def __init__(self, info: StreamInfo, settings: QualitySettings = QualitySettings()) -> None:
        if info.rate_hz <= 0:
            raise StreamError(f"QualityMonitor needs a regular stream; {info.name!r} has rate_hz=0")
        self.info = info
        self.settings = settings
        self.rate_hz = info.rate_hz
        self._win = max(16, int(round(settings.window_s * self.rate_hz)))
        self._step = max(1, int(round(settings.step_s * self.rate_hz)))
        self._block = max(1, int(round(0.05 * self.rate_hz)))
        fs = settings.full_scale_v if settings.full_scale_v is not None else info.metadata.get("full_scale_v")
        self._full_scale = None if fs is None else float(fs)
        self.reset()

    def reset(self) -> None:
        """Forget the buffered signal and the verdicts."""
        c = self.info.n_channels
        self._buf = np.zeros((self._win, c))
        self._filled = 0
        self.n_samples = 0
        self._history: list[np.ndarray] = []
        self._status: list[ChannelQuality] = [
            ChannelQuality(k, lab, frozenset(), "waiting for signal", {})
            for k, lab in enumerate(self.info.channels)
        ]

    # ------------------------------------------------------------------ streaming
    def update(self, chunk: Chunk) -> None:
        """Take in raw EMG (V)."""
        self.info.check(chunk)
        x = chunk.data.astype(np.float64)
        i = 0
        while i < x.shape[0]:
            to_eval = self._step - self.n_samples % self._step
            j = min(x.shape[0], i + to_eval)
            seg = x[i:j]
            m = seg.shape[0]
            if m >= self._win:
                self._buf[:] = seg[-self._win :]
            else:
                self._buf = np.roll(self._buf, -m, axis=0)
                self._buf[-m:] = seg
            self._filled = min(self._win, self._filled + m)
            self.n_samples += m
            if self.n_samples % self._step == 0 and self._filled >= self._win:
                self._evaluate()
            i = j

    def process(self, chunk: Chunk) -> Chunk:
        """Stage interface: update, and pass the chunk through unchanged."""
        self.update(chunk)
        return chunk

    def status(self) -> list[ChannelQuality]:
        """The latest verdict per channel (``reason == "waiting for signal"`` until the first window)."""
        return list(self._status)

    def problems(self) -> list[str]:
        """Reason strings of the channels with a problem, e.g. for a live display."""
        return [s.reason for s in self._status if s.flags]

    # ------------------------------------------------------------------ checks
    def _evaluate(self) -> None:
        s = self.settings
        x = self._buf
        n, c = x.shape
        mean = x.mean(axis=0)
        sd = x.std(axis=0)
        xc = x - mean
        spec = np.abs(np.fft.rfft(xc * np.hanning(n)[:, None], axis=0)) ** 2
        f = np.fft.rfftfreq(n, 1 / self.rate_hz)
        band = (f >= 20) & (f <= min(450.0, self.rate_hz / 2))
        low = (f > 0.5) & (f < 20)
        p_band = spec[band].sum(axis=0) + 1e-30
        p_low = spec[low].sum(axis=0)
        mains_frac = {}
        for f0 in (50.0, 60.0):
            near = np.zeros_like(f, dtype=bool)
            for h in range(1, 6):
                if f0 * h < self.rate_hz / 2:
                    near |= np.abs(f - f0 * h) <= 1.5
            mains_frac[f0] = spec[near & band].sum(axis=0) / p_band
        # clipping: samples at the window's extreme (or at the rails when known)
        if self._full_scale is not None:
            at_rail = np.abs(x) >= 0.999 * self._full_scale
        else:
            hi = x.max(axis=0)
            lo = x.min(axis=0)
            at_rail = (x >= hi) | (x <= lo)
        clip = at_rail.mean(axis=0)
        floor = self._noise_floor(spec, f, xc)
        out = []
        for k, label in enumerate(self.info.channels):
            mhz = 50.0 if mains_frac[50.0][k] >= mains_frac[60.0][k] else 60.0
            metrics = {
                "rms_v": float(sd[k]),
                "offset_v": float(mean[k]),
                "mains_hz": mhz,
                "mains_fraction": float(mains_frac[mhz][k]),
                "motion_ratio": float(p_low[k] / p_band[k]),
                "clip_fraction": float(clip[k]),
                "noise_floor_v": float(floor[k]),
            }
            flags: dict[str, str] = {}
            flat = sd[k] < s.flat_v
            pinned = self._full_scale is not None and clip[k] > s.rail_fraction
            if pinned or (flat and abs(mean[k]) > s.offset_v):
                flags["electrode_off"] = f" (signal stuck at {mean[k] * 1e3:+.1f} mV)"
            elif flat:
                flags["flat"] = f" (SD {sd[k] * 1e6:.2f} uV)"
            else:
                if clip[k] > s.clip_fraction and (self._full_scale is not None or self._is_clipped(x[:, k])):
                    flags["saturation"] = f" ({clip[k]:.0%} of samples at the rail)"
                if metrics["mains_fraction"] > s.mains_fraction:
                    flags["mains"] = f"{mhz:g} Hz"
                if metrics["motion_ratio"] > s.motion_ratio:
                    flags["motion"] = f" (power below 20 Hz {metrics['motion_ratio']:.1f}x the EMG band)"
                if floor[k] > s.noise_floor_v and "mains" not in flags and "motion" not in flags:
                    flags["low_snr"] = f" (noise floor {floor[k] * 1e6:.0f} uV RMS)"
            name = f"channel {k} ({label})"
            if flags:
                first = next(p for p in _PRIORITY if p in flags)
                reason = f"{name}: " + _ADVICE[first].format(detail=flags[first])
                others = [p for p in _PRIORITY if p in flags and p != first]
                if others:
                    reason += f" (also: {', '.join(others)})"
            else:
                reason = "ok"
            out.append(ChannelQuality(k, label, frozenset(flags), reason, metrics))
        changed = [o.reason for o, old in zip(out, self._status) if o.flags and o.flags != old.flags]
        for r in changed:
            log.warning("quality: %s", r)
        self._status = out

    def _noise_floor(self, spec: np.ndarray, f: np.ndarray, xc: np.ndarray) -> np.ndarray:
        """Noise RMS (V) in the 20-450 Hz band.

        At rates of 1.2 kHz and up: the mean spectral level above 500 Hz (where surface
        EMG has little power and amplifier/contact noise is white) extended over the
        20-450 Hz band, so a contraction does not count as noise; where the upper half of
        that range is lower (the falling tail of a strong contraction, not white noise),
        its level is used. Below that: the 5th
        percentile of 50 ms RMS over the last ``history_s``.
        """
        n = xc.shape[0]
        hf = (f >= 500) & (f <= 0.9 * self.rate_hz / 2)
        if self.rate_hz >= 1200 and hf.sum() >= 8:
            # White noise is flat there; the tail of a strong contraction still falls with
            # frequency, so the upper half of the band is the better noise estimate then
            # (the lower of the two halves' levels: equal for white noise).
            top = hf & (f >= (500 + 0.9 * self.rate_hz / 2) / 2)
            per_bin = spec[hf].mean(axis=0)
            if top.sum() >= 4:
                per_bin = np.minimum(per_bin, spec[top].mean(axis=0))
            # Parseval with a Hann window: sum |X|^2 = n * sum(w^2) * variance, sum(w^2) ~ 3n/8
            n_band = ((f >= 20) & (f <= 450)).sum()
            return np.sqrt(per_bin * n_band * 2 / (n * 3 * n / 8))
        c = xc.shape[1]
        rms_blocks = np.sqrt((xc[: n - n % self._block].reshape(-1, self._block, c) ** 2).mean(axis=1))
        self._history.append(rms_blocks[-(self._step // self._block or 1):])
        keep = int(np.ceil(self.settings.history_s / self.settings.step_s))
        self._history = self._history[-keep:]
        return np.quantile(np.vstack(self._history), 0.05, axis=0)

    @staticmethod
    def _is_clipped(x: np.ndarray) -> bool:
        """Many samples sitting exactly at the window's max or min: a rail, not a peak."""
        hi, lo = x.max(), x.min()
        return bool(((x == hi).sum() > 3) or ((x == lo).sum() > 3))


def describe(status: Sequence[ChannelQuality]) -> str:
    """One line per channel, for a terminal."""
    return "\n".join(s.reason if s.flags else f"channel {s.channel} ({s.label}): ok" for s in status)


"""Device clocks and transport of the virtual mover.

Each simulated device samples on its own crystal and stamps samples with its own
clock; packets then travel to the host with latency, jitter and loss.

Clock model (true time ``t`` in seconds, the sim's reference)::

    device_time(t) = offset_s + (1 + drift_ppm·1e-6) · t

Sample ``k`` is taken when the device clock reads ``offset_s + phase + k / rate_hz``
(a regular grid in *device* time, so irregular by the drift in true time), and is
stamped with that reading rounded to 1 µs. A camera-like stream stamps its frames
when they leave the pipeline, ``latency_s`` after capture.

Transport: samples are sent in packets of ``packet_samples``; packet ``p`` is ready
``latency_s`` after its last sample and reaches the host ``Exp(jitter_s)`` later,
never before the previous packet (FIFO link); with probability ``loss`` it never
arrives, leaving a gap of ``packet_samples`` in the sequence numbers. Host arrival
times are in the host's clock: true time plus ``host_epoch_s`` (the host is the
reference, no drift).

BLE links (``interval_s > 0``) add the connection-event schedule: the radio only
talks at connection events every ``interval_s`` (7.5–30 ms in BLE), with a phase of
its own; a ready packet waits for the next event, and at most ``per_event`` packets
go out per event (the rest wait for the following one), which makes arrivals bursty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["ClockTruth", "LinkState", "Packets", "packetize"]


@dataclass(frozen=True)
class ClockTruth:
    """True clock and link parameters of one simulated device (what sync should recover).

    Attributes
    ----------
    offset_s : float
        Device clock reading at true time 0 (s).
    drift_ppm : float
        Device clock rate error: it runs ``1 + drift_ppm·1e-6`` times true time.
    phase_s : float
        Device time of sample 0, after ``offset_s`` (s).
    stamp_latency_s : float
        Time from capture to time-stamping (camera pipeline latency; 0 for sensors).
    latency_s : float
        Minimum transport delay from last sample of a packet to host arrival (s).
    jitter_s : float
        Mean of the exponential extra transport delay (s).
    loss : float
        Probability that a packet is lost.
    packet_samples : int
        Samples per packet.
    interval_s : float
        BLE connection interval (s); 0 for a link without connection events.
    interval_phase_s : float
        True time of the first connection event (s).
    per_event : int
        Packets delivered per connection event at most.
    """

    offset_s: float
    drift_ppm: float
    phase_s: float
    stamp_latency_s: float
    latency_s: float
    jitter_s: float
    loss: float
    packet_samples: int
    interval_s: float = 0.0
    interval_phase_s: float = 0.0
    per_event: int = 4

    @property
    def rate_factor(self) -> float:
        return 1.0 + self.drift_ppm * 1e-6

    def device_time(self, true_s: np.ndarray) -> np.ndarray:
        """Device clock reading (s) at true times."""
        return self.offset_s + self.rate_factor * np.asarray(true_s)

    def true_time(self, device_s: np.ndarray) -> np.ndarray:
        """True time (s) at which the device clock read ``device_s`` (inverse of :meth:`device_time`)."""
        return (np.asarray(device_s) - self.offset_s) / self.rate_factor

    def sample_true_times(self, k: np.ndarray, rate_hz: float) -> np.ndarray:
        """True capture time of samples ``k``."""
        return (self.phase_s + np.asarray(k, dtype=np.float64) / rate_hz) / self.rate_factor

    def samples_before(self, true_s: float, rate_hz: float) -> int:
        """Number of samples captured strictly before true time ``true_s``."""
        return max(0, math.ceil((true_s * self.rate_factor - self.phase_s) * rate_hz))

    def stamps(self, k: np.ndarray, rate_hz: float) -> np.ndarray:
        """Device timestamps (s, 1 µs resolution) of samples ``k``."""
        dev = self.offset_s + self.phase_s + np.asarray(k, dtype=np.float64) / rate_hz
        dev = dev + self.rate_factor * self.stamp_latency_s
        return np.round(dev * 1e6) / 1e6


@dataclass(frozen=True)
class Packets:
    """Packets of one block: sample rows ``start[i]:start[i]+count[i]``, their arrival, whether lost."""

    start: np.ndarray
    count: np.ndarray
    arrival_true_s: np.ndarray
    lost: np.ndarray


@dataclass
class LinkState:
    """What a link remembers between blocks: last arrival, last connection event used and its load."""

    arrival: float = -np.inf
    event: int = -1
    used: int = 0


def packetize(
    clock: ClockTruth, k0: int, k1: int, true_last: np.ndarray, link: LinkState, rng: np.random.Generator
) -> Packets:
    """Split samples ``k0..k1`` (whole packets) into packets with arrival times and loss.

    ``true_last`` is the true time of each packet's last sample (capture + stamping
    latency). ``link`` carries the FIFO order and connection-event load across blocks
    and is updated in place.
    """
    p = clock.packet_samples
    n_packets = (k1 - k0) // p
    start = np.arange(n_packets) * p
    ready = true_last + clock.latency_s
    extra = rng.exponential(clock.jitter_s, n_packets) if clock.jitter_s > 0 else np.zeros(n_packets)
    lost = rng.random(n_packets) < clock.loss
    if clock.interval_s > 0:
        events = np.ceil((ready - clock.interval_phase_s) / clock.interval_s).astype(np.int64)
        for i in range(n_packets):  # a few hundred packets a block: capacity needs the running load
            e = max(int(events[i]), link.event)
            if e == link.event and link.used >= clock.per_event:
                e += 1
            link.used = link.used + 1 if e == link.event else 1
            link.event = e
            events[i] = e
        ready = clock.interval_phase_s + events * clock.interval_s
    arrival = np.maximum.accumulate(np.maximum(ready + extra, link.arrival))
    if n_packets:
        link.arrival = float(arrival[-1])
    return Packets(start, np.full(n_packets, p), arrival, lost)

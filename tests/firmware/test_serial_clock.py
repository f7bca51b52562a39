"""The serial path's clock against the emulator's known clock.

The emulator stamps samples with the host's own monotonic clock (device time = host
time since its boot, ``--speed 1``), so the true drift is 0 and every sample is taken
before the frame carrying it reaches the host. The clock model fitted from what
serial:// delivers (device timestamps, arrival times) must see exactly that: one clock
epoch, no loss, a drift of a few ppm at most, and no sample mapped after its arrival.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from test_serial_device import collect, every_stream_has
from wearsense.sync import Timeline, sync_offline

pytestmark = pytest.mark.timeout(120)


@pytest.mark.slow
def test_serial_arrivals_give_the_emulator_clock_zero_drift(emulator):
    emu = emulator("--duration", "12", "--emg-channels", "8", "--imus", "2")
    dev, got = asyncio.run(collect(emu.uri(), until=every_stream_has(11.0)))
    assert set(got) and all(len(chunks) > 50 for chunks in got.values())
    streams = {name: (next(s for s in dev.streams if s.name == name), chunks) for name, chunks in got.items()}
    mapped, tl = sync_offline(streams)
    assert isinstance(tl, Timeline) and len(tl.clocks) == 1  # every stream of the board shares its clock
    model = next(iter(tl.clocks.values()))
    # the streams of one board interleave on the wire: none of that is a clock reset, nor loss
    assert model.state.epoch == 0 and all(st.resets == 0 and st.lost == 0 for st in tl.streams.values())
    # before arrivals were stamped as they came and the streams fed in arrival order: 25-360 ppm
    assert abs(model.state.drift_ppm) < 20.0
    for name, chunks in got.items():
        ends = np.cumsum([c.n for c in chunks]) - 1
        arrival = np.array([c.received_s for c in chunks])
        late = arrival - mapped[name][1].t[ends]
        assert late.min() > -1e-3  # sampled before it arrived (within the fit's own error)
        assert np.median(late) < 0.05  # and not long before: the batches of the serial reader

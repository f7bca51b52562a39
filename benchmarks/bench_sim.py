"""Virtual mover generation speed: real-time factor on one core, and over seeds in parallel.

Reference (same run): NumPy drawing the same number of Gaussian samples the default
mover emits (8 EMG @ 2 kHz + 4 IMUs x 9 ch @ 200 Hz + 60 pose ch @ 60 Hz), i.e. the
cost of the noise alone; the ratio says how close the whole physiology comes to it.
Target (issue 3): >= 200x real time for the default mover on one core.
"""

import os
import time

import numpy as np

from wearsense import sim


def _best_of(fn, repeats):
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run(quick: bool = False) -> list[dict]:
    duration = 20.0 if quick else 120.0
    repeats = 2 if quick else 3
    sim.generate(0, 2.0)  # compile numba kernels, warm caches
    t_sim = _best_of(lambda: sim.generate(1, duration, keep_truth=False), repeats)
    rng = np.random.default_rng(0)
    n = int(duration * (8 * 2000 + 4 * 9 * 200 + 60 * 60))
    t_noise = _best_of(lambda: rng.standard_normal(n), repeats)
    rt = duration / t_sim
    rows = [
        {
            "name": "sim.generate default mover, one core",
            "value": rt,
            "unit": "x real time",
            "reference": "real time",
            "reference_value": 1.0,
            "ratio": rt,
            "target": ">= 200x real time",
            "met": bool(rt >= 200),
        },
        {
            "name": "sim.generate vs drawing its Gaussian noise alone",
            "value": n / t_sim,
            "unit": "samples/s",
            "reference": "numpy standard_normal, same sample count",
            "reference_value": n / t_noise,
            "ratio": t_noise / t_sim,
            "target": "",
            "met": None,
        },
    ]
    # the cost of each part added by issue 13, as the default mover's time over the time
    # without that part (same run, same machine load): > 1 means the part costs that factor
    parts = {
        "realistic EMG (vs emg_model=simple)": {"emg_model": "simple"},
        "coupled body (vs body=independent)": {"body": "independent"},
        "ground contact (vs ground=kinematic)": {"ground": "kinematic"},
        "physiological tremor (vs tremor=0)": {"tremor": 0.0},
    }
    for label, without in parts.items():
        t_without = _best_of(lambda: sim.generate(1, duration, keep_truth=False, **without), repeats)
        rows.append(
            {
                "name": f"cost of the {label}",
                "value": t_sim / t_without,
                "unit": "x time",
                "reference": "default mover without it",
                "reference_value": 1.0,
                "ratio": t_sim / t_without,
                "target": "",
                "met": None,
            }
        )
    t_drawn = _best_of(
        lambda: sim.generate(1, duration, keep_truth=False, person="drawn", vocabulary="full"), repeats
    )
    rows.append(
        {
            "name": "drawn person + full vocabulary, one core",
            "value": duration / t_drawn,
            "unit": "x real time",
            "reference": "default mover",
            "reference_value": rt,
            "ratio": t_sim / t_drawn,
            "target": "",
            "met": None,
        }
    )
    workers = min(4, os.cpu_count() or 1)
    if workers > 1:
        seeds = list(range(2 * workers))
        per = duration / 4
        sim.generate_many(seeds[:workers], 1.0, processes=workers)  # start-up of the pool's children
        t_par = _best_of(lambda: sim.generate_many(seeds, per, processes=workers), 1)
        t_ser = _best_of(lambda: [sim.generate(s, per, keep_truth=False) for s in seeds], 1)
        rows.append(
            {
                "name": f"sim.generate_many over {len(seeds)} seeds, {workers} processes",
                "value": len(seeds) * per / t_par,
                "unit": "x real time",
                "reference": "same seeds one after another",
                "reference_value": len(seeds) * per / t_ser,
                "ratio": t_ser / t_par,
                "target": "",
                "met": None,
            }
        )
    return rows

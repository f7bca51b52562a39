"""Movers who differ: traits of 100 movers drawn from seeds 0..99 (``person="drawn"``).

Writes docs/figures/sim_population.png: height and mass, strength, EMD per muscle,
activation time constants and timing style across the population. A held-out seed
is a different person, not only different choreography and noise.

    python examples/sim_population.py [-o docs/figures/sim_population.png] [--movers 100]
"""

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from wearsense import sim  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-o",
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[1] / "docs" / "figures" / "sim_population.png",
    )
    parser.add_argument("--movers", type=int, default=100)
    args = parser.parse_args()
    n, out = args.movers, args.out
    traits = [sim.traits_of(s, person="drawn") for s in range(n)]
    fig, ax = plt.subplots(2, 3, figsize=(13, 7.5))
    h = np.array([t.height_m for t in traits])
    m = np.array([t.mass_kg for t in traits])
    ax[0, 0].scatter(h, m, s=12)
    ax[0, 0].set(xlabel="height (m)", ylabel="mass (kg)", title="anthropometry")
    ax[0, 1].scatter(h, 0.30 * np.array([t.segment_scale[3] for t in traits]), s=12, label="upper arm")
    ax[0, 1].scatter(h, 0.42 * np.array([t.segment_scale[9] for t in traits]), s=12, label="thigh")
    ax[0, 1].set(xlabel="height (m)", ylabel="segment length (m)", title="segment lengths")
    ax[0, 1].legend()
    emd = np.stack([t.emd_ms for t in traits])
    order = np.argsort(emd.mean(1))
    ax[0, 2].plot(emd[order], np.arange(n), ".", ms=2, color="0.6")
    ax[0, 2].plot(emd.mean(1)[order], np.arange(n), "k|", label="mover mean")
    ax[0, 2].set(xlabel="EMD (ms)", ylabel="mover (sorted)", title="EMD by mover and muscle")
    ax[0, 2].legend()
    ax[1, 0].hist([t.strength for t in traits], 20)
    ax[1, 0].set(xlabel="strength (× reference)", title="maximal torque")
    ax[1, 1].scatter([t.tau_act_ms for t in traits], [t.tau_deact_ms for t in traits], s=12)
    ax[1, 1].set(xlabel="τ_act (ms)", ylabel="τ_deact (ms)", title="activation dynamics")
    ax[1, 2].scatter(
        [t.tempo for t in traits],
        [t.pause for t in traits],
        s=12,
        c=["C0" if t.right_handed else "C3" for t in traits],
    )
    ax[1, 2].set(
        xlabel="tempo (× reference durations)",
        ylabel="pauses (× reference)",
        title="timing style (red: left-handed)",
    )
    fig.suptitle(f"{n} movers drawn from seeds 0..{n - 1} (PopulationConfig defaults)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")
    print(
        f"EMD: mover means {emd.mean(1).min():.0f}-{emd.mean(1).max():.0f} ms (SD {emd.mean(1).std():.1f}), "
        f"within-mover SD {emd.std(1).mean():.1f} ms; height {h.min():.2f}-{h.max():.2f} m"
    )


if __name__ == "__main__":
    main()

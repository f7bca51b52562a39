"""Draw the virtual mover's physiology (the figure in docs/sim.md).

    python examples/sim_physiology.py                     # writes ./sim_physiology.png
    python examples/sim_physiology.py -o docs/figures/sim_physiology.png   # renews the docs' figure

Panels: one reach from neural drive to motion; the raw EMG it produces; a brace
(co-contraction without motion); the EMG spectrum; each device's clock error.
"""

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from scipy import signal

from wearsense import sim


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--out", default="sim_physiology.png",
                        help="PNG to write (default: sim_physiology.png in the working folder)")
    args = parser.parse_args()

    reach = sim.generate(7, 30.0, moves=("reach",))
    brace = sim.generate(5, 60.0, moves=("brace", "rest"))
    tr = reach.truth
    mv = next(m for m in tr.movements if m.detail == "r")
    i = tr.muscles.index("deltoid_anterior_r")
    w = (tr.phys_t > mv.start - 0.3) & (tr.phys_t < mv.start + 0.9)
    t = (tr.phys_t[w] - mv.start) * 1e3

    fig, axes = plt.subplots(3, 2, figsize=(13, 11), constrained_layout=True)
    ax = axes[0, 0]
    ax.plot(t, tr.drive[w, i], label="neural drive u (what EMG measures)")
    ax.plot(t, tr.activation[w, i], label="activation a (tau_act 15 ms, tau_deact 50 ms)")
    ax.plot(t, tr.force[w, i], label="force F(t) = a(t - EMD), EMD 50 ms")
    ax.set_ylabel("fraction of maximum")
    ax2 = ax.twinx()
    ax2.plot(t, tr.joint("shoulder_flex_r")[w], "k", lw=1, label="shoulder flexion (deg)")
    ax2.set_ylabel("deg")
    ax.axvline(0, color="gray", ls=":")
    ax.set_title("A reach: drive -> activation -> force (after the EMD) -> motion")
    ax.legend(fontsize=7, loc="upper left")
    ax2.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("ms from planned motion onset")

    info, emg = reach.streams["sim-emg"]
    te = tr.sample_t["sim-emg"]
    we = (te > mv.start - 0.3) & (te < mv.start + 0.9)
    ax = axes[0, 1]
    ax.plot((te[we] - mv.start) * 1e3, emg.data[we, info.index("deltoid_anterior_r")] * 1e6, lw=0.4)
    ax.set_title("Anterior deltoid EMG (uV): the burst leads motion by ~50 ms")
    ax.set_xlabel("ms from planned motion onset")
    ax.axvline(0, color="gray", ls=":")

    bt = brace.truth
    def recorded_pair(c):
        return [m for m in sim.MUSCLES if m.joint == bt.joints[c.joint] and m.name in bt.muscles][:2]

    cc = next(c for m in bt.movements if m.kind == "brace"
              for c in m.cocontractions if len(recorded_pair(c)) == 2)
    joint = bt.joints[cc.joint]
    pair = recorded_pair(cc)
    wb = (bt.phys_t > cc.t0 - 0.5) & (bt.phys_t < cc.t0 + cc.rise + cc.hold + cc.fall + 0.5)
    ax = axes[1, 0]
    for m in pair:
        ax.plot(bt.phys_t[wb], bt.drive[wb, bt.muscles.index(m.name)], label=f"drive {m.name}")
    ax.set_ylabel("drive")
    ax2 = ax.twinx()
    ax2.plot(bt.phys_t[wb], bt.joint(joint)[wb], "k", lw=1, label=f"{joint} (deg)")
    ax2.set_ylim(bt.joint(joint)[wb].mean() - 10, bt.joint(joint)[wb].mean() + 10)
    ax.set_title("A brace: agonist and antagonist co-contract, the joint does not move")
    ax.legend(fontsize=7, loc="upper left")
    ax2.legend(fontsize=7, loc="lower right")
    ax.set_xlabel("s")

    ax = axes[1, 1]
    f, p = signal.welch(emg.data, fs=info.rate_hz, nperseg=2048, axis=0)
    p = p.mean(axis=1)
    median = f[np.searchsorted(np.cumsum(p) / p.sum(), 0.5)]
    ax.semilogy(f, p)
    ax.axvspan(20, 450, alpha=0.1)
    ax.axvline(median, color="r", ls="--", label=f"median frequency {median:.0f} Hz")
    ax.set_xlim(0, 1000)
    ax.set_title("EMG power spectrum (mean of channels); band 20-450 Hz shaded")
    ax.set_xlabel("Hz")
    ax.legend(fontsize=8)

    ax = axes[2, 0]
    pose_info, pose = reach.streams["sim-pose"]
    tp = tr.sample_t["sim-pose"]
    ax.plot(tp, pose.data[:, pose_info.index("wrist_r_z")], ".", ms=2, label="camera keypoint (1 cm noise)")
    ax.plot(tp, tr.pose[:, pose_info.index("wrist_r_z")], lw=1, label="true wrist height")
    ax.set_title("Camera pose: right wrist height (m)")
    ax.set_xlabel("s (capture time)")
    ax.legend(fontsize=8)

    ax = axes[2, 1]
    for name, (inf, chunk) in reach.streams.items():
        clock = tr.clocks[name]
        err = chunk.t - (tr.sample_t[name] + clock.stamp_latency_s) - clock.offset_s
        ax.plot(tr.sample_t[name], err * 1e3, label=f"{name}: {clock.drift_ppm:+.1f} ppm")
    ax.set_title("Device clocks: timestamp - true time - offset (ms)")
    ax.set_xlabel("true time (s)")
    ax.legend(fontsize=7)
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

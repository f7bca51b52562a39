"""Sim datasets at scale: sharded HDF5, one file per (mover, take), resumable, splittable.

A dataset is ``movers`` people (seeds ``seed0 …``), each recorded for ``hours`` in takes
of ``take_s`` seconds; every take is one shard file ``mover-SSSSS_take-TTTT.h5`` written
to a temporary name and renamed when complete, so an interrupted run resumes by
skipping complete shards. ``shard=(i, n)`` keeps every n-th unit starting at i, so any
cluster scheduler can spread one dataset over machines (``wearsense sim generate
--shard i/n``); ``processes`` runs units in parallel on one machine.

Each take is a new electrode session of its mover (``session = take``) with new
choreography, noise and clocks; the person (body, EMD, timing, EMG character) is the
mover's own. Splits are by mover: the last ``test_fraction`` of movers are ``test``,
the ``val_fraction`` before them ``val``, the rest ``train`` — a test mover is a person
the model never saw. ``hold_out_families`` removes families from train and val takes
only: the test movers perform them (the zero-shot test).

Each take begins, as a lab session does, with the sensors' calibration: the mover
performs the N-pose protocol (``calibration/npose.toml``) wearing that session's
sensors, and its fit (:func:`wearsense.calibrate.simsession.calibrate_session`, named
by ``SESSION_CALIBRATION``) is kept in each IMU stream's metadata (``calibration``, a
profile as a device carries it), so the fusion layer can read the
IMUs in segment axes (``FeatureSpec.imu_frame="segment"``). The root attribute
``calibration`` says, per IMU, the fit's method and its error against the true
mounting. ``DatasetSpec.calibrate=False`` (``--no-calibrate``) skips it.

Shard layout (h5py; every array chunked, so a reader streams it without loading all)::

    /            attrs: generator, wearsense_version, seed, take, session, split, duration_s,
                        config (JSON), traits (JSON), families, calibration (JSON), complete
    /<stream>/data (n, channels) float32   attrs: channels, units, rate_hz, modality, metadata (JSON)
    /<stream>/t    (n,) float64 device timestamps (the device's own clock)
    /<stream>/true_t (n,) float64 true capture times;  /<stream>/seq (n,) int64
    /truth/t (m,) true time of the 100 Hz truth grid
    /truth/joint_angles (m, n_joints) deg;  /truth/drive (m, n_muscles) 0..1 (mean over 10 ms)
    /truth/family, kind, phrase, movement (m,) int;  /truth/effort (m, 4) weight, time, space, flow
    /truth/onsets/<muscle> (k, 2) s
    /movements  structured: kind, family, action, detail, start, end, phrase, effort[4]

The dataset card (``card.json`` and ``README.md``) lists movers, splits, families,
kinds, hours, channels, rates and the generator version.
"""

from __future__ import annotations

import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import StreamError

__all__ = ["DatasetSpec", "GENERATOR_VERSION", "generate_dataset", "units", "shard_path", "write_card",
           "SESSION_CALIBRATION"]

#: Version of the sim's generative model; bump when the same seed gives different data.
GENERATOR_VERSION = "sim-13.1"
TRUTH_RATE_HZ = 100.0


@dataclass(frozen=True)
class DatasetSpec:
    """What to generate. ``overrides`` are :class:`~wearsense.sim.SimConfig` fields."""

    movers: int = 10
    hours: float = 1.0
    take_s: float = 300.0
    seed0: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.1
    hold_out_families: tuple[str, ...] = ()
    overrides: dict[str, Any] = field(
        default_factory=lambda: {"person": "drawn", "vocabulary": "full", "emg_model": "realistic"}
    )
    #: run the N-pose protocol (calibration/npose.toml) before every take, as a lab does
    #: when it puts the sensors on, and keep each IMU's profile in its stream metadata
    calibrate: bool = True

    def __post_init__(self) -> None:
        if self.movers < 1:
            raise StreamError(f"movers must be >= 1, got {self.movers}")
        if not self.hours > 0 or not self.take_s >= 10:
            raise StreamError(f"hours must be > 0 and take_s >= 10 s, got {self.hours}, {self.take_s}")
        if not (
            0 <= self.val_fraction < 1
            and 0 <= self.test_fraction < 1
            and self.val_fraction + self.test_fraction < 1
        ):
            raise StreamError("val_fraction and test_fraction must be >= 0 and leave movers for training")
        from wearsense.sim.vocabulary import FAMILIES

        bad = [f for f in self.hold_out_families if f not in FAMILIES]
        if bad:
            raise StreamError(f"hold_out_families {bad}: families are {', '.join(FAMILIES)}")

    @property
    def takes(self) -> int:
        return int(np.ceil(self.hours * 3600.0 / self.take_s - 1e-9))

    def split_of(self, mover: int) -> str:
        n_test = int(round(self.movers * self.test_fraction))
        n_val = int(round(self.movers * self.val_fraction))
        if mover >= self.movers - n_test:
            return "test"
        if mover >= self.movers - n_test - n_val:
            return "val"
        return "train"

    def config(self, mover: int, take: int):
        from wearsense.sim import SimConfig
        from wearsense.sim.vocabulary import FAMILIES

        cfg = SimConfig(**{**self.overrides, "take": take, "session": take})
        if self.hold_out_families and self.split_of(mover) != "test":
            keep = tuple(f for f in (cfg.families or tuple(FAMILIES)) if f not in self.hold_out_families)
            cfg = replace(cfg, families=keep)
        return cfg


def units(spec: DatasetSpec, shard: tuple[int, int] = (0, 1)) -> list[tuple[int, int]]:
    """(mover, take) pairs of shard ``i`` of ``n``: every n-th unit from i."""
    i, n = shard
    if not (n >= 1 and 0 <= i < n):
        raise StreamError(f"shard must be i/n with 0 <= i < n, got {i}/{n}")
    every = [(m, k) for m in range(spec.movers) for k in range(spec.takes)]
    return every[i::n]


def shard_path(out: Path, spec: DatasetSpec, mover: int, take: int) -> Path:
    return Path(out) / f"mover-{spec.seed0 + mover:05d}_take-{take:04d}.h5"


def _json(x: Any) -> str:
    def default(o):
        if isinstance(o, np.ndarray):
            return o.tolist()
        if isinstance(o, (np.floating, np.integer, np.bool_)):
            return o.item()
        if hasattr(o, "__dataclass_fields__"):
            return asdict(o)
        raise TypeError(type(o))

    return json.dumps(x, default=default)


#: The calibration every take begins with, ``(seed, SimConfig) -> (profiles, report)``
#: (:func:`wearsense.calibrate.simsession.calibrate_session`). Named as
#: ``"module:function"`` and imported when a take is written, so this layer imports no
#: calibration code (the calibrate layer sits above the sim's), as the device layer's
#: ``STREAM_HOOKS`` do.
SESSION_CALIBRATION = "wearsense.calibrate.simsession:calibrate_session"


def _session_calibration():
    import importlib

    module, _, name = SESSION_CALIBRATION.partition(":")
    return getattr(importlib.import_module(module), name)


def _write_unit(args: tuple) -> dict:
    out, spec, mover, take = args
    import h5py

    from wearsense import __version__, sim
    from wearsense.sim.vocabulary import FAMILIES, FAMILY_OF, frame_labels

    path = shard_path(out, spec, mover, take)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    cfg = spec.config(mover, take)
    duration = min(spec.take_s, spec.hours * 3600.0 - take * spec.take_s)
    rec = sim.generate(spec.seed0 + mover, duration, cfg, keep_truth=True)
    profiles, cal_report = _session_calibration()(spec.seed0 + mover, cfg) if spec.calibrate else ({}, {})
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    with h5py.File(tmp, "w") as f:
        a = f.attrs
        a["generator"] = GENERATOR_VERSION
        a["wearsense_version"] = __version__
        a["seed"] = spec.seed0 + mover
        a["take"] = take
        a["session"] = cfg.session
        a["split"] = spec.split_of(mover)
        a["duration_s"] = duration
        a["config"] = _json({k: getattr(cfg, k) for k in cfg.field_names()})
        a["traits"] = _json(asdict(rec.truth.traits))
        a["families"] = _json(sorted({FAMILY_OF[k] for k in cfg.kinds()}))
        a["calibration"] = _json(cal_report)
        for name, (info, chunk) in rec.streams.items():
            g = f.create_group(name)
            rows = max(1, min(chunk.n, int(info.rate_hz)))
            g.create_dataset("data", data=chunk.data, chunks=(rows, chunk.data.shape[1]))
            # time stamps and sequence numbers are nearly linear: lzf shrinks them several-fold
            g.create_dataset("t", data=chunk.t, chunks=(rows,), compression="lzf", shuffle=True)
            g.create_dataset(
                "true_t", data=rec.truth.sample_t[name], chunks=(rows,), compression="lzf", shuffle=True
            )
            g.create_dataset("seq", data=chunk.seq, chunks=(rows,), compression="lzf", shuffle=True)
            g.attrs["channels"] = _json(list(info.channels))
            g.attrs["units"] = _json(list(info.units) if not isinstance(info.units, str) else info.units)
            g.attrs["rate_hz"] = info.rate_hz
            g.attrs["modality"] = str(info.modality)
            meta = dict(info.metadata)
            if name in profiles:  # as a device carries its profile when opened (attach_profile)
                meta["calibration"] = profiles[name]
            g.attrs["metadata"] = _json(meta)
        tr = rec.truth
        step = int(round(1000.0 / TRUTH_RATE_HZ))
        m = tr.phys_t.shape[0] // step
        t = tr.phys_t[: m * step : step]
        g = f.create_group("truth")
        rows = int(TRUTH_RATE_HZ) * 10
        g.create_dataset("t", data=t, chunks=(min(rows, max(m, 1)),))
        g.create_dataset(
            "joint_angles",
            data=tr.joint_angles[: m * step : step],
            chunks=(min(rows, max(m, 1)), tr.joint_angles.shape[1]),
        )
        drive = tr.drive[: m * step].reshape(m, step, -1).mean(axis=1)
        g.create_dataset(
            "drive", data=drive.astype(np.float32), chunks=(min(rows, max(m, 1)), drive.shape[1])
        )
        lab = frame_labels(tr.movements, t)
        for k, v in lab.items():
            g.create_dataset(k, data=v, chunks=(min(rows, max(m, 1)),) + v.shape[1:])
        g.attrs["joints"] = _json(list(tr.joints))
        g.attrs["muscles"] = _json(list(tr.muscles))
        g.attrs["family_names"] = _json(list(FAMILIES))
        g.attrs["kind_names"] = _json(list(FAMILY_OF))
        g.attrs["effort_factors"] = _json(["weight", "time", "space", "flow"])
        on = g.create_group("onsets")
        for muscle, pairs in tr.onsets.items():
            on.create_dataset(muscle, data=pairs)
        dt = np.dtype(
            [
                ("kind", "S16"),
                ("family", "S12"),
                ("action", "S8"),
                ("detail", "S48"),
                ("start", "f8"),
                ("end", "f8"),
                ("phrase", "i4"),
                ("effort", "f4", (4,)),
            ]
        )
        mv = np.array(
            [
                (x.kind, x.family, x.action, x.detail[:48], x.start, x.end, x.phrase, x.effort)
                for x in tr.movements
            ],
            dtype=dt,
        )
        f.create_dataset("movements", data=mv)
        a["complete"] = True
    os.replace(tmp, path)
    return {
        "path": str(path),
        "seconds": duration,
        "cpu_s": time.process_time() - cpu0,
        "wall_s": time.perf_counter() - wall0,
    }


def _complete(path: Path) -> bool:
    if not path.exists():
        return False
    import h5py

    try:
        with h5py.File(path, "r") as f:
            return bool(f.attrs.get("complete", False))
    except OSError:
        return False


def write_card(out: Path, spec: DatasetSpec) -> dict:
    """Write ``card.json`` and ``README.md`` describing the dataset (same spec, same card)."""
    from wearsense.sim import Mover
    from wearsense.sim.vocabulary import FAMILIES, FAMILY_OF

    from wearsense import __version__

    cfg = spec.config(0, 0)
    probe = Mover(spec.seed0, cfg, keep_truth=False)
    train_kinds = sorted(cfg.kinds())
    test_kinds = sorted(spec.config(spec.movers - 1, 0).kinds()) if spec.test_fraction else train_kinds
    splits = {
        s: [spec.seed0 + m for m in range(spec.movers) if spec.split_of(m) == s]
        for s in ("train", "val", "test")
    }
    card = {
        "generator": GENERATOR_VERSION,
        "wearsense_version": __version__,
        "movers": spec.movers,
        "seeds": [spec.seed0, spec.seed0 + spec.movers - 1],
        "hours_per_mover": spec.hours,
        "hours_total": spec.hours * spec.movers,
        "take_s": spec.take_s,
        "takes_per_mover": spec.takes,
        "shards": spec.movers * spec.takes,
        "splits": splits,
        "split_rule": "by mover: a test mover is a person never seen in training",
        "hold_out_families": list(spec.hold_out_families),
        "calibration": "npose protocol before every take (IMU stream metadata)" if spec.calibrate else "none",
        "families_train": sorted({FAMILY_OF[k] for k in train_kinds}),
        "families_test": sorted({FAMILY_OF[k] for k in test_kinds}),
        "kinds_train": train_kinds,
        "kinds_test": test_kinds,
        "all_families": {f: list(k) for f, k in FAMILIES.items()},
        "streams": {
            name: {"channels": list(info.channels), "rate_hz": info.rate_hz, "modality": str(info.modality)}
            for name, info in probe.infos.items()
        },
        "truth": {
            "rate_hz": TRUTH_RATE_HZ,
            "arrays": ["t", "joint_angles", "drive", "family", "kind", "phrase", "movement", "effort"],
        },
        "config": {k: getattr(cfg, k) for k in cfg.field_names() if k not in ("take", "session", "families")},
    }
    Path(out).mkdir(parents=True, exist_ok=True)
    text = _json(card)
    (Path(out) / "card.json").write_text(json.dumps(json.loads(text), indent=1) + "\n")
    lines = [
        f"# wearsense sim dataset ({GENERATOR_VERSION})",
        "",
        f"- movers: {spec.movers} (seeds {card['seeds'][0]}–{card['seeds'][1]}), {spec.hours:g} h each, "
        f"{card['hours_total']:g} h in all; takes of {spec.take_s:g} s (one shard file each, "
        f"{card['shards']} shards)",
        f"- splits by mover: train {len(splits['train'])}, val {len(splits['val'])}, "
        f"test {len(splits['test'])}",
        f"- families in train/val: {', '.join(card['families_train'])}; "
        f"in test: {', '.join(card['families_test'])}"
        + (f" (held out of training: {', '.join(spec.hold_out_families)})" if spec.hold_out_families else ""),
        "- streams: "
        + "; ".join(f"{n} {len(s['channels'])} ch @ {s['rate_hz']:g} Hz" for n, s in card["streams"].items()),
        f"- truth at {TRUTH_RATE_HZ:g} Hz: joint angles, drive, family/kind/phrase/movement labels, Effort",
        f"- person: {cfg.person}; vocabulary: {cfg.vocabulary}; EMG model: {cfg.emg_model}",
        "",
        "Shard layout: see `wearsense.sim.datasets`. Same spec, same seeds: the same data.",
    ]
    (Path(out) / "README.md").write_text("\n".join(lines) + "\n")
    return card


def generate_dataset(
    out: Path, spec: DatasetSpec, shard: tuple[int, int] = (0, 1), processes: int = 1, progress=None
) -> dict:
    """Write the shards of ``shard`` (i, n) that are not complete yet; returns a summary.

    ``progress``: optional callable receiving each finished unit's dict (path, seconds, cpu_s, wall_s).
    Summary: units written and skipped, simulated seconds, CPU seconds, wall seconds and
    ``hours_per_core_minute`` (simulated hours per CPU-minute of the workers).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_card(out, spec)
    todo = [u for u in units(spec, shard) if not _complete(shard_path(out, spec, *u))]
    skipped = len(units(spec, shard)) - len(todo)
    for stale in out.glob("*.tmp*"):
        stale.unlink()
    wall0 = time.perf_counter()
    done = []
    jobs = [(out, spec, m, k) for m, k in todo]
    if processes <= 1 or len(jobs) <= 1:
        for j in jobs:
            done.append(_write_unit(j))
            if progress:
                progress(done[-1])
    else:
        with ProcessPoolExecutor(max_workers=processes) as pool:
            for r in pool.map(_write_unit, jobs):
                done.append(r)
                if progress:
                    progress(r)
    sim_s = sum(d["seconds"] for d in done)
    cpu_s = sum(d["cpu_s"] for d in done)
    return {
        "written": len(done),
        "skipped": skipped,
        "simulated_s": sim_s,
        "cpu_s": cpu_s,
        "wall_s": time.perf_counter() - wall0,
        "hours_per_core_minute": (sim_s / 3600.0) / (cpu_s / 60.0) if cpu_s > 0 else float("nan"),
    }

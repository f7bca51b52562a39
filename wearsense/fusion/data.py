"""Fusion datasets: readers that yield :class:`~wearsense.fusion.frames.Take`, and a prepared cache.

- :class:`~wearsense.fusion.featurize.StepFeaturizer`: the one place streams become
  step frames (live and offline).
- :func:`read_sim` (sim shards of ``wearsense sim generate``), :func:`read_xdf` (any
  XDF session with EMG, IMU and pose streams), :func:`read_emg2pose` (the emg2pose
  HDF5 layout): each yields takes lazily.
- :func:`prepare` runs a reader once and writes a :class:`TakeStore`: one ``.npz``
  per take plus ``card.json`` (the dataset card), so training does not redo the DSP.
- :func:`make_sim_dataset`: generate a sim dataset and prepare it, in one call.

numpy (and h5py) only: no torch here.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from wearsense.errors import ConfigError, FormatError, OutputError
from wearsense.fusion.data_emg2pose import read_emg2pose
from wearsense.fusion.data_sim import read_shard, read_sim
from wearsense.fusion.data_xdf import read_xdf
from wearsense.fusion.featurize import STEP_FIELDS, StepFeaturizer, body_frame
from wearsense.fusion.frames import FeatureSpec, Take

__all__ = [
    "StepFeaturizer",
    "body_frame",
    "read_sim",
    "read_shard",
    "read_xdf",
    "read_emg2pose",
    "prepare",
    "TakeStore",
    "make_sim_dataset",
    "CARD_FORMAT",
]

CARD_FORMAT = "wearsense-fusion-takes"
CARD_VERSION = 1
_ARRAYS = STEP_FIELDS + ("y_angles", "y_kp", "y_ok")


# --------------------------------------------------------------------------- one take on disk
def save_take(take: Take, path: Path) -> None:
    """Write one take as ``.npz`` (arrays uncompressed, names/meta/spec as JSON)."""
    arrays = {f: getattr(take, f) for f in _ARRAYS if getattr(take, f) is not None}
    arrays.update({f"label_{k}": v for k, v in take.labels.items()})
    head = {
        "name": take.name, "mover": take.mover, "split": take.split, "spec": take.spec.to_dict(),
        "names": take.names, "meta": take.meta,
    }
    arrays["header"] = np.array(json.dumps(head, default=_jsonable))
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def load_take(path: Path) -> Take:
    """Read a take written by :func:`save_take`."""
    try:
        with np.load(path, allow_pickle=False) as z:
            head = json.loads(str(z["header"]))
            arrays = {f: z[f] for f in _ARRAYS if f in z.files}
            labels = {k[6:]: z[k] for k in z.files if k.startswith("label_")}
    except (OSError, KeyError, ValueError) as e:
        raise FormatError(f"{path}: not a prepared take ({e}); run prepare() again", str(path)) from None
    return Take(
        name=head["name"], mover=head["mover"], split=head["split"], spec=FeatureSpec.from_dict(head["spec"]),
        y_kp=arrays.pop("y_kp", None), labels=labels, names=head["names"], meta=head["meta"], **arrays,
    )


def _jsonable(o: Any) -> Any:
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, np.generic):
        return o.item()
    return str(o)


# --------------------------------------------------------------------------- the store
class TakeStore:
    """A prepared dataset: ``card.json`` and one ``takes/<name>.npz`` per take.

    ``TakeStore(out_dir).takes(split="train")`` yields :class:`Take` lazily (one file
    read per take); ``card`` is the dataset card; ``spec`` the FeatureSpec the takes
    were made with (pass ``spec=`` to insist on one: a different one is an error).
    """

    def __init__(self, root: str | Path, spec: FeatureSpec | None = None) -> None:
        self.root = Path(root)
        card = self.root / "card.json"
        if not card.exists():
            raise FormatError(
                f"{self.root}: no prepared takes (card.json missing); run "
                "wearsense.fusion.data.prepare(source, spec, out_dir) first", str(card)
            )
        self.card = json.loads(card.read_text())
        if self.card.get("format") != CARD_FORMAT:
            raise FormatError(f"{card}: not a {CARD_FORMAT} card (format {self.card.get('format')!r})",
                              str(card))
        self.spec = FeatureSpec.from_dict(self.card["spec"])
        if spec is not None and spec != self.spec:
            want = spec.to_dict()
            diff = {k: (v, want[k]) for k, v in self.spec.to_dict().items() if want[k] != v}
            raise ConfigError(
                f"{self.root}: takes were prepared with a different FeatureSpec (stored, wanted: {diff}); "
                "prepare them again into another folder"
            )

    def index(self, split: str | Iterable[str] | None = None, families: Iterable[str] | None = None,
              movers: Iterable[str] | None = None) -> list[dict]:
        """The card's entries of the takes that match (see :meth:`takes`)."""
        splits = None if split is None else ({split} if isinstance(split, str) else set(split))
        fam = None if families is None else set(families)
        mov = None if movers is None else {str(m) for m in movers}
        out = []
        for e in self.card["takes"]:
            if splits is not None and e["split"] not in splits:
                continue
            if fam is not None and not fam.intersection(e.get("families", [])):
                continue
            if mov is not None and e["mover"] not in mov:
                continue
            out.append(e)
        return out

    def takes(self, split: str | Iterable[str] | None = None, families: Iterable[str] | None = None,
              movers: Iterable[str] | None = None) -> Iterator[Take]:
        """Takes lazily, filtered by split ("train"/"val"/"test"), movement families performed
        (any of) and movers (names as in ``Take.mover``)."""
        for e in self.index(split, families, movers):
            yield load_take(self.root / e["file"])

    def __len__(self) -> int:
        return len(self.card["takes"])

    def __repr__(self) -> str:
        return f"TakeStore({str(self.root)!r}, {len(self)} takes, {self.card.get('hours', 0):.3g} h)"


def _source_takes(source: Any, spec: FeatureSpec, **kwargs: Any) -> tuple[str, Iterable[Take]]:
    if not isinstance(source, (str, os.PathLike)):
        return "takes", source
    p = Path(source)
    if p.is_dir() and list(p.glob("mover-*_take-*.h5")):
        return "sim", read_sim(p, spec, **kwargs)
    if p.suffix.lower() == ".xdf" or (p.is_dir() and list(p.glob("*.xdf"))):
        return "xdf", read_xdf(p, spec, **kwargs)
    if p.is_dir() and (p / "metadata.csv").exists():
        return "emg2pose", read_emg2pose(p, spec, **kwargs)
    raise FormatError(
        f"{p}: not a sim dataset folder (mover-*_take-*.h5), an XDF file or folder, or an emg2pose "
        "folder (*.hdf5 + metadata.csv); pass one of those, or an iterable of Take", str(p)
    )


def prepare(source: Any, spec: FeatureSpec, out_dir: str | Path, *, overwrite: bool = False,
            **reader_kwargs: Any) -> TakeStore:
    """Read every take of ``source`` once and write a :class:`TakeStore` in ``out_dir``.

    ``source``: a sim dataset folder, an XDF file or folder of them, an emg2pose folder,
    or an iterable of :class:`Take` (e.g. a reader you configured yourself).
    ``reader_kwargs`` go to the reader. A folder already holding takes of another spec is
    an error unless ``overwrite=True`` (which removes its takes first).
    """
    out = Path(out_dir)
    kind, takes = _source_takes(source, spec, **reader_kwargs)
    tdir = out / "takes"
    try:
        tdir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{out}: cannot create the store folder ({e})", str(out)) from None
    card_path = out / "card.json"
    if card_path.exists() and not overwrite:
        old = json.loads(card_path.read_text())
        if FeatureSpec.from_dict(old.get("spec", {})) != spec:
            raise OutputError(
                f"{out}: holds takes prepared with another FeatureSpec; choose another folder or "
                "pass overwrite=True", str(out)
            )
    if overwrite:
        for old in tdir.glob("*.npz"):
            old.unlink()
    wall0 = time.perf_counter()
    entries = []
    first: Take | None = None
    for take in takes:
        file = f"takes/{take.name}.npz"
        save_take(take, out / file)
        first = first or take
        fam_codes = sorted({int(c) for c in np.unique(take.labels.get("family", np.zeros(0, int))) if c >= 0})
        fam_names = take.names.get("families", [])
        entries.append({
            "name": take.name, "mover": take.mover, "split": take.split, "file": file, "steps": len(take),
            "seconds": len(take) / spec.step_hz,
            "families": [fam_names[c] for c in fam_codes if c < len(fam_names)]
            or take.meta.get("families", []),
        })
    if not entries:
        raise FormatError(f"{source}: the reader yielded no takes (check split/movers/families filters)")
    card = build_card(kind, source, spec, entries, first, time.perf_counter() - wall0)
    card_path.write_text(json.dumps(card, indent=1, default=_jsonable) + "\n")
    (out / "README.md").write_text(card_markdown(card))
    return TakeStore(out)


def card_markdown(card: dict) -> str:
    """The dataset card as a short Markdown page (written beside ``card.json`` as README.md)."""
    src = card["source"]
    ch = card["channels"]
    gen = card.get("generation") or {}

    def n(key: str) -> int:
        return len(ch.get(key, []))

    lines = [
        f"# Prepared fusion takes ({src['kind']})",
        "",
        f"- source: {src.get('path') or 'takes given in memory'}"
        + (f" (generator {src['generator']})" if src.get("generator") else ""),
        f"- {card['takes_total']} takes, {card['hours'] * 60:.1f} min; wearsense {card['wearsense_version']}",
        "- splits: " + "; ".join(f"{s} {n} takes, movers {', '.join(card['movers'][s])}"
                                 for s, n in card["splits"].items()),
        "- families performed: "
        + "; ".join(f"{s}: {', '.join(f) or '-'}" for s, f in card["families"].items()),
        f"- EMG {n('emg')} ch, IMU slots {n('imu')} x {n('imu_features')}, pose {n('pose')} values "
        f"({card['pose']['kind']}, latency {card['pose']['latency_s']} s), joints {n('joints')}, "
        f"keypoints {n('keypoints')}",
        "- rates (Hz): " + ", ".join(f"{n} {r:g}" for n, r in card["rates_hz"].items()),
        f"- clock: {card['clock']}",
        f"- step {card['spec']['step_hz']:g} Hz, horizons {card['spec']['horizons_ms']} ms "
        "(the full FeatureSpec is in card.json)",
    ]
    if gen.get("hold_out_families"):
        lines.append(f"- held out of training: {', '.join(gen['hold_out_families'])}")
    lines += ["", "Layout: `takes/<name>.npz` (see wearsense.fusion.data.save_take); read with "
              "`wearsense.fusion.data.TakeStore`."]
    return "\n".join(lines) + "\n"


def build_card(kind: str, source: Any, spec: FeatureSpec, entries: list[dict], first: Take,
               prepare_s: float) -> dict:
    """The dataset card of a prepared store (what ``card.json`` holds)."""
    from wearsense import __version__

    splits: dict[str, list[str]] = {}
    movers: dict[str, list[str]] = {}
    for e in entries:
        splits.setdefault(e["split"], []).append(e["name"])
        movers.setdefault(e["split"], [])
        if e["mover"] not in movers[e["split"]]:
            movers[e["split"]].append(e["mover"])
    fam_by_split = {s: sorted({f for e in entries if e["split"] == s for f in e["families"]}) for s in splits}
    generation = None
    if kind == "sim" and (Path(source) / "card.json").exists():  # the sim dataset's own card
        sim_card = json.loads((Path(source) / "card.json").read_text())
        generation = {k: sim_card.get(k) for k in ("generator", "seeds", "take_s", "hold_out_families",
                                                   "families_train", "families_test", "split_rule", "config")}
    seconds = sum(e["seconds"] for e in entries)
    meta = first.meta
    return {
        "format": CARD_FORMAT,
        "version": CARD_VERSION,
        "source": {"kind": kind, "path": str(source) if isinstance(source, (str, os.PathLike)) else None,
                   "generator": meta.get("generator")},
        "wearsense_version": __version__,
        "spec": spec.to_dict(),
        "takes_total": len(entries),
        "hours": seconds / 3600.0,
        "movers": movers,
        "splits": {s: len(v) for s, v in splits.items()},
        "families": fam_by_split,
        "channels": {k: list(v) for k, v in first.names.items() if k in ("emg", "imu", "imu_features", "pose",
                                                                          "joints", "keypoints")},
        "rates_hz": meta.get("rates_hz", {}),
        "pose": {"kind": meta.get("pose_kind"), "latency_s": meta.get("pose_latency_s")},
        "clock": meta.get("clock"),
        "generation": generation,
        "prepare_wall_s": round(prepare_s, 2),
        "takes": entries,
    }


# --------------------------------------------------------------------------- sim in one call
def make_sim_dataset(
    out: str | Path,
    movers: int = 6,
    minutes_per_mover: float = 2.0,
    *,
    hold_out_families: Iterable[str] = (),
    seed: int = 0,
    take_s: float = 60.0,
    val_fraction: float = 0.17,
    test_fraction: float = 0.17,
    spec: FeatureSpec = FeatureSpec(),
    processes: int = 1,
    overrides: dict | None = None,
) -> TakeStore:
    """Generate a sim dataset (:func:`wearsense.sim.datasets.generate_dataset`) into
    ``out/shards`` and prepare it into ``out`` (a :class:`TakeStore`).

    Movers are seeds ``seed .. seed+movers-1``; splits by mover (the last
    ``test_fraction`` test, the ``val_fraction`` before them val). Both steps resume:
    shards and takes already there are kept (same settings, same data).
    """
    from wearsense.sim.datasets import DatasetSpec, generate_dataset

    ds = DatasetSpec(
        movers=movers, hours=minutes_per_mover / 60.0, take_s=min(take_s, minutes_per_mover * 60.0),
        seed0=seed,
        val_fraction=val_fraction, test_fraction=test_fraction, hold_out_families=tuple(hold_out_families),
        **({"overrides": {**DatasetSpec().overrides, **overrides}} if overrides else {}),
    )
    out = Path(out)
    generate_dataset(out / "shards", ds, processes=processes)
    store_card = out / "card.json"
    if store_card.exists():
        try:
            store = TakeStore(out, spec)
            if len(store) == movers * ds.takes:
                return store
        except ConfigError:
            pass
    return prepare(out / "shards", spec, out, overwrite=True)

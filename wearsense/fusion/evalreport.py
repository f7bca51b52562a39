"""Markdown tables and figures of an :class:`~wearsense.fusion.evaluate.EvalResult`.

Figures are :class:`matplotlib.figure.Figure` objects made without pyplot: the library
never chooses a plotting backend (the caller saves or shows them).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from wearsense.fusion.frames import CONDITIONS, HORIZONS_MS

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from wearsense.fusion.evaluate import EvalResult

__all__ = ["markdown", "figures", "fig_error_vs_horizon", "fig_lead_time", "fig_per_mover", "fig_efficiency"]

_LABEL = {
    "camera": "camera", "imu": "IMU", "emg": "EMG", "inside_out": "EMG+IMU", "camera_imu": "camera+IMU",
    "all": "all (fused)",
}


def _cell(r: dict | None, digits: int = 1) -> str:
    if r is None or r["value"] is None or (isinstance(r["value"], float) and math.isnan(r["value"])):
        return "–"
    v, lo, hi = r["value"], r["ci_low"], r["ci_high"]
    if lo is None or (isinstance(lo, float) and math.isnan(lo)):
        return f"{v:.{digits}f}"
    hi_txt = "∞" if isinstance(hi, float) and math.isinf(hi) else f"{hi:.{digits}f}"
    lo_txt = "−∞" if isinstance(lo, float) and math.isinf(lo) else f"{lo:.{digits}f}"
    return f"{v:.{digits}f} [{lo_txt}, {hi_txt}]"


def _conditions(result: "EvalResult") -> list[str]:
    present = {r["condition"] for r in result.rows}
    return [c for c in CONDITIONS if c in present]


def _splits(result: "EvalResult") -> list[str]:
    seen = []
    for r in result.rows:
        if r["split"] not in seen and r["metric"] == "angle_error_deg":
            seen.append(r["split"])
    return seen


def _horizon_table(result, split, metric, models, digits=1, perturbation="none") -> list[str]:
    head = "| model | condition | " + " | ".join(f"{h} ms" for h in HORIZONS_MS) + " |"
    lines = [head, "|" + "---|" * (len(HORIZONS_MS) + 2)]
    for model in models:
        conds = ["camera"] if model in ("zero_velocity", "constant_velocity") else _conditions(result)
        for c in conds:
            cells = [_cell(result.value(model=model, condition=c, split=split, metric=metric, horizon_ms=h,
                                        perturbation=perturbation, train_minutes=None), digits)
                     for h in HORIZONS_MS]
            if all(x == "–" for x in cells):
                continue
            lines.append(f"| {model} | {_LABEL.get(c, c)} | " + " | ".join(cells) + " |")
    return lines


def _joint_table(result: "EvalResult", split: str) -> list[str]:
    """Per-joint error of camera-only and fused at the tracking horizon, each model kind."""
    joints = []
    for r in result.rows:
        m = r["metric"]
        if m.startswith("angle_error_deg[") and r["split"] == split and m[16:-1] not in joints:
            joints.append(m[16:-1])
    if not joints:
        return []
    per_joint = [r for r in result.rows if r["metric"].startswith("angle_error_deg[")]
    h = per_joint[0]["horizon_ms"]
    kinds = [k for k in ("model", "ridge") if any(r["model"] == k for r in per_joint)]
    head = "| joint | " + " | ".join(f"{k} camera | {k} fused | {k} fused vs camera %" for k in kinds) + " |"
    lines = [f"### Joint-angle error per joint at {h} ms (deg, mean over movers and seeds)", "",
             "Fused helps where a sensor sees the joint; elsewhere it can only hold camera-only's error.", "",
             head, "|---|" + "---|---|---|" * len(kinds)]
    for j in joints:
        cells = []
        for k in kinds:
            kw = dict(model=k, split=split, perturbation="none", train_minutes=None,
                      metric=f"angle_error_deg[{j}]")
            cam, fus = result.value(condition="camera", **kw), result.value(condition="all", **kw)
            gain = "–"
            if cam and fus and cam["value"]:
                gain = f"{100.0 * (1.0 - fus['value'] / cam['value']):.0f}"
            cells += [_cell(cam and {**cam, "ci_low": None}, 2), _cell(fus and {**fus, "ci_low": None}, 2),
                      gain]
        lines.append(f"| {j} | " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(result: "EvalResult") -> str:
    """The results as Markdown: one table per metric and split, values with [95 % interval]."""
    meta = result.meta
    out = ["# wearsense eval results", ""]
    if meta.get("command"):
        out += ["Command:", "", "    " + meta["command"], ""]
    for key in ("data", "data_command", "imu_frame"):
        if meta.get(key):
            out += [f"- {key}: `{meta[key]}`"]
    sp = meta.get("splits", {})
    out += [
        f"- preset: {meta.get('preset', {}).get('name')}; training seeds: "
        f"{meta.get('preset', {}).get('seeds')}; duration {meta.get('duration_s')} s",
        f"- movers: train {sp.get('train')}, val {sp.get('val')}, test {sp.get('test')}; minutes "
        f"{meta.get('split_minutes')}",
        f"- test movers held out of training: {meta.get('test_movers_held_out')}; families only in test: "
        f"{meta.get('families_only_in_test')}",
        "- values: mean over movers (each mover averaged over seeds) [paired/percentile bootstrap 95 % "
        "interval over movers]",
        "",
    ]
    models = [m for m in ("model", "ridge", "zero_velocity", "constant_velocity")
              if any(r["model"] == m for r in result.rows)]
    for split in _splits(result):
        out += [f"## {split}", ""]
        for metric, title, digits in (
            ("angle_error_deg", "Joint-angle error (deg, mean absolute)", 2),
            ("mpjpe_mm", "MPJPE (mm)", 1),
            ("own_skill_pct", "Skill: % lower error than the same predictor's own estimate of now held "
             "(its zero-velocity)", 1),
            ("own_skill_ceiling_pct", "Ceiling of that skill: what it would be if the predictor knew the "
             "true motion from its estimate of now on", 1),
            ("skill_pct", "% lower error than the camera's zero-velocity (for joint angles from keypoints: "
             "noise-free angles at capture time, an oracle)", 1),
            ("vs_camera_pct", "% lower joint-angle error than camera-only (same model kind)", 1),
            ("emg_share_pct", "EMG's share: % lower error with EMG than the same condition without it", 1),
            ("lead_time_ms", "Lead time gained over camera-only (ms), per camera-only horizon", 0),
            ("jerk_deg_s3", "RMS jerk of the predicted trajectory (deg/s³)", 0),
        ):
            rows_of = models + (["truth"] if metric == "jerk_deg_s3" else [])
            lines = _horizon_table(result, split, metric, rows_of, digits)
            if len(lines) > 2:
                out += [f"### {title}", ""] + lines + [""]
        out += _joint_table(result, split)
        lines = ["| model | condition | tracking success % | onset latency ms | truth's onset latency ms "
                 "| onsets missed % |", "|---|---|---|---|---|---|"]
        for model in models:
            conds = ["camera"] if model in ("zero_velocity", "constant_velocity") else _conditions(result)
            for c in conds:
                kw = dict(model=model, condition=c, split=split, perturbation="none", train_minutes=None)
                row = [_cell(result.value(metric="tracking_success_pct", **kw), 1),
                       _cell(result.value(metric="onset_latency_ms", **kw), 0),
                       _cell(result.value(metric="onset_latency_truth_ms", **kw), 0),
                       _cell(result.value(metric="onset_missed_pct", **kw), 1)]
                if any(x != "–" for x in row):
                    lines.append(f"| {model} | {_LABEL.get(c, c)} | " + " | ".join(row) + " |")
        if len(lines) > 2:
            defs = meta.get("definitions", {})
            out += ["### Tracking success and motion-onset latency", "",
                    f"Tracking: {defs.get('tracking_success_pct', '')}. Onset latency: "
                    f"{defs.get('onset_latency_ms', '')}.", ""] + lines + [""]
    rob = [r for r in result.rows if r["perturbation"] != "none" and r["metric"] == "vs_unperturbed_pct"
           and r["split"] == "all_test" and r["horizon_ms"] == 100]
    if rob:
        out += ["## Robustness (all_test, 100 ms)", "",
                "Change of joint-angle error under each perturbation, % (negative = worse), "
                "paired over movers.",
                "", "| perturbation | model | condition | error deg | change % |", "|---|---|---|---|---|"]
        for r in rob:
            e = result.value(model=r["model"], condition=r["condition"], split="all_test",
                             perturbation=r["perturbation"], metric="angle_error_deg", horizon_ms=100)
            out.append(f"| {r['perturbation']} | {r['model']} | {_LABEL.get(r['condition'], r['condition'])} "
                       f"| {_cell(e, 2)} | {_cell(r, 1)} |")
        out.append("")
    eff = [r for r in result.rows if r["train_minutes"] is not None and r["metric"] == "angle_error_deg"
           and r["split"] == meta.get("efficiency_split") and r["horizon_ms"] == 100]
    if eff:
        out += [f"## Data efficiency ({meta.get('efficiency_split')}, 100 ms)", "",
                "| model | condition | training minutes | joint-angle error deg |", "|---|---|---|---|"]
        for r in eff:
            cond = _LABEL.get(r['condition'], r['condition'])
            out.append(f"| {r['model']} | {cond} | {r['train_minutes']:g} "
                       f"| {_cell(r, 2)} |")
        mult = [r for r in result.rows if r["metric"].startswith("data_multiplier")]
        if mult:
            out += ["", "How many times more training data camera-only needs to match the fused model "
                    "(a lower bound where camera-only never matches within the sizes trained):", "",
                    "| model | fused training minutes | multiplier | kind |", "|---|---|---|---|"]
            for r in mult:
                kind = {"data_multiplier_lower_bound": "lower bound: camera-only never matches",
                        "data_multiplier_upper_bound": "upper bound: camera-only matches with its least data",
                        }.get(r["metric"], "interpolated")
                out.append(f"| {r['model']} | {r['train_minutes']:g} | {_cell(r, 1)} | {kind} |")
        if meta.get("efficiency_note"):
            out += ["", meta["efficiency_note"]]
        out.append("")
    return "\n".join(out)


def _figure(w=6.4, h=4.0) -> "Figure":
    from matplotlib.figure import Figure

    return Figure(figsize=(w, h), layout="constrained")


def fig_error_vs_horizon(result: "EvalResult", split: str, model: str = "model") -> "Figure":
    """Joint-angle error vs horizon per condition (bands: 95 % intervals), baselines dashed."""
    fig = _figure()
    ax = fig.add_subplot()
    for c in _conditions(result):
        rows = [result.value(model=model, condition=c, split=split, metric="angle_error_deg", horizon_ms=h,
                             perturbation="none", train_minutes=None) for h in HORIZONS_MS]
        if any(r is None for r in rows):
            continue
        v = np.array([r["value"] for r in rows])
        ax.plot(HORIZONS_MS, v, marker="o", label=_LABEL.get(c, c))
        ax.fill_between(HORIZONS_MS, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows], alpha=0.2)
    for base, style in (("zero_velocity", "--"), ("constant_velocity", ":")):
        rows = [result.value(model=base, condition="camera", split=split, metric="angle_error_deg",
                             horizon_ms=h, perturbation="none") for h in HORIZONS_MS]
        if all(r is not None for r in rows):
            oracle = " (noise-free angles: oracle)" if result.meta.get("velocity_baselines_oracle") else ""
            ax.plot(HORIZONS_MS, [r["value"] for r in rows], "k" + style,
                    label="camera " + base.replace("_", "-") + oracle)
    ax.set_xlabel("prediction horizon (ms)")
    ax.set_ylabel("joint-angle error (deg, mean abs)")
    ax.set_title(f"{model}: error vs horizon ({split})")
    ax.legend(fontsize=8)
    return fig


def fig_lead_time(result: "EvalResult", split: str, model: str = "model") -> "Figure":
    """Lead time gained over camera-only per camera-only horizon, with 95 % intervals."""
    fig = _figure()
    ax = fig.add_subplot()
    for c in _conditions(result):
        rows = [result.value(model=model, condition=c, split=split, metric="lead_time_ms", horizon_ms=h)
                for h in HORIZONS_MS]
        if any(r is None for r in rows):
            continue
        v = np.array([r["value"] for r in rows], dtype=float)
        lo = np.array([r["ci_low"] for r in rows], dtype=float)
        hi = np.array([r["ci_high"] for r in rows], dtype=float)
        def bar(x):  # no bar where the interval is open (the condition never matched camera-only)
            return np.where(np.isfinite(x), x, 0.0)

        ax.errorbar(HORIZONS_MS, v, yerr=[bar(v - lo), bar(hi - v)], marker="o",
                    capsize=3, label=_LABEL.get(c, c))
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xlabel("camera-only horizon (ms)")
    ax.set_ylabel("lead time gained (ms)")
    ax.set_title(f"{model}: lead time over camera-only ({split})")
    ax.legend(fontsize=8)
    return fig


def fig_per_mover(result: "EvalResult", split: str, horizon_ms: int = 100, model: str = "model") -> "Figure":
    """Each test mover's joint-angle error per condition (dots; seeds averaged), with the mean."""
    fig = _figure()
    ax = fig.add_subplot()
    conds = _conditions(result)
    for i, c in enumerate(conds):
        vals: dict[str, list[float]] = {}
        for r in result.per_mover:
            if (r["model"] == model and r["condition"] == c and r["split"] == split
                    and r["perturbation"] == "none"
                    and r["train_minutes"] is None and r["metric"] == "angle_error_deg"
                    and r["horizon_ms"] == horizon_ms):
                vals.setdefault(r["mover"], []).append(r["value"])
        if not vals:
            continue
        y = np.array([np.mean(v) for v in vals.values()])
        ax.scatter(np.full(len(y), i) + np.linspace(-0.15, 0.15, len(y)), y, s=18)
        ax.plot([i - 0.25, i + 0.25], [y.mean()] * 2, "k-")
    ax.set_xticks(range(len(conds)), [_LABEL.get(c, c) for c in conds], rotation=20)
    ax.set_ylabel(f"joint-angle error at {horizon_ms} ms (deg)")
    ax.set_title(f"{model}: per-mover spread ({split})")
    return fig


def fig_efficiency(result: "EvalResult") -> "Figure | None":
    """Learning curves: joint-angle error at 100 ms vs training minutes (log), with intervals."""
    split = result.meta.get("efficiency_split")
    rows = [r for r in result.rows if r["train_minutes"] is not None and r["metric"] == "angle_error_deg"
            and r["split"] == split and r["horizon_ms"] == 100]
    if not rows:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    for key in sorted({(r["model"], r["condition"]) for r in rows}):
        rr = sorted((r for r in rows if (r["model"], r["condition"]) == key),
                    key=lambda r: r["train_minutes"])
        x = [r["train_minutes"] for r in rr]
        v = np.array([r["value"] for r in rr])
        lo = np.array([r["ci_low"] for r in rr])
        hi = np.array([r["ci_high"] for r in rr])
        ax.errorbar(x, v, yerr=[np.clip(v - lo, 0, None), np.clip(hi - v, 0, None)],
                    marker="o", capsize=3, ls="-" if key[0] == "model" else "--",
                    label=f"{key[0]} {_LABEL.get(key[1], key[1])}")
    ax.set_xscale("log")
    ax.set_xlabel("training data (minutes)")
    ax.set_ylabel("joint-angle error at 100 ms (deg)")
    ax.set_title(f"data efficiency ({split})")
    ax.legend(fontsize=8)
    return fig


def figures(result: "EvalResult") -> dict[str, "Figure"]:
    """Every figure of a result, by file stem."""
    out = {}
    splits = _splits(result)
    main = "held_out_movers_and_families" if "held_out_movers_and_families" in splits else (
        splits[0] if splits else None)
    if main is None:
        return out
    model = "model" if any(r["model"] == "model" for r in result.rows) else "ridge"
    for split in [s for s in ("held_out_movers", "held_out_movers_and_families") if s in splits] or [main]:
        out[f"error_vs_horizon_{split}"] = fig_error_vs_horizon(result, split, model)
    out["lead_time"] = fig_lead_time(result, main, model)
    out["per_mover"] = fig_per_mover(result, main, 100, model)
    eff = fig_efficiency(result)
    if eff is not None:
        out["data_efficiency"] = eff
    return out

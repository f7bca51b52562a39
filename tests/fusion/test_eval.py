"""The evaluation harness end to end on toy takes whose answer is known (EMG leads, the camera lags)."""

from __future__ import annotations

import csv
from dataclasses import replace

import numpy as np
import pytest
from eval_toys import toy_dataset, toy_take

from wearsense.fusion.baselines import RidgeBaseline
from wearsense.fusion.evaluate import (
    PRESETS,
    EvalPreset,
    EvalResult,
    assign_splits,
    run_evaluation,
    seen_families,
    subset_masks,
    subset_minutes,
    take_minutes,
)
from wearsense.fusion.frames import HORIZONS_MS


class RidgeSet:
    """A stand-in for the deep model: one ridge per condition behind predict_take."""

    def __init__(self, conditions, train, val):
        self.models = RidgeBaseline.fit_many(conditions, train, val)

    def predict_take(self, take, condition):
        return self.models[condition].predict_take(take, condition)


def ridge_trainer(conditions, seed, train, val):
    return RidgeSet(conditions, train, val)


@pytest.fixture(scope="module")
def data():
    return toy_dataset(n_train=3, n_val=1, n_test=3, duration_s=30.0)


@pytest.fixture(scope="module")
def result(data):
    preset = replace(
        PRESETS["quick"], conditions=("camera", "camera_imu", "all"), seeds=(0, 1),
        robustness=("emg_dropout",),
        efficiency_minutes=(0.02, 0.2, 1.5), efficiency_deep=True, n_boot=200,
    )
    return run_evaluation(data, preset, trainer=ridge_trainer, meta={"command": "wearsense eval --data toy"})


def test_subsets_separate_families_never_seen_in_training(data):
    seen = seen_families(data["train"])
    assert seen == {"a"}
    b_take = next(t for t in data["test"] if t.labels["family"][0] == 1)
    masks = subset_masks(b_take, seen)
    assert masks["held_out_movers_and_families"].all() and not masks["held_out_movers"].any()
    assert masks["after_onset"].any() and not masks["after_onset"].all()


def test_splits_are_by_mover_unless_there_are_too_few():
    takes = [replace(toy_take(i, mover=f"m{i % 5}", duration_s=10.0), split="") for i in range(10)]
    s = assign_splits(takes)
    movers = {k: {t.mover for t in v} for k, v in s.items()}
    assert not (movers["train"] & movers["test"]) and not (movers["val"] & movers["test"])
    assert movers["test"] == {"m4"}
    one = assign_splits([replace(toy_take(0, mover="solo", duration_s=10.0), split="")])
    assert [len(one[k]) for k in ("train", "val", "test")] == [1, 1, 1]
    assert one["test"][0].t[0] > one["train"][0].t[-1]  # test is the later part of the take


def test_training_subsets_are_nested_and_spread_over_movers(data):
    small = subset_minutes(data["train"], 0.3)  # the toy takes are 29.5 s long, one per mover
    big = subset_minutes(data["train"], 1.2)
    assert take_minutes(small) == pytest.approx(0.3, abs=0.01)
    assert take_minutes(big) == pytest.approx(1.2, abs=0.01)
    assert len({t.mover for t in small}) == 1 and len({t.mover for t in big}) == 3
    np.testing.assert_array_equal(small[0].t, big[0].t[: len(small[0])])


def test_every_row_says_what_it_is(result):
    cols = set(EvalResult.COLUMNS)
    assert all(set(r) == cols for r in result.rows)
    metrics = {r["metric"] for r in result.rows}
    assert {"angle_error_deg", "mpjpe_mm", "skill_pct", "vs_camera_pct", "lead_time_ms",
            "tracking_success_pct",
            "onset_latency_ms", "jerk_deg_s3", "emg_share_pct", "vs_unperturbed_pct"} <= metrics
    err = result.select(model="model", condition="all", split="held_out_movers", metric="angle_error_deg",
                        perturbation="none", train_minutes=None)
    assert sorted(r["horizon_ms"] for r in err) == list(HORIZONS_MS)
    assert all(r["ci_low"] <= r["value"] <= r["ci_high"] and r["seeds"] == "0 1" for r in err)
    assert {r["model"] for r in result.rows} >= {"model", "ridge", "zero_velocity", "constant_velocity"}


def test_the_harness_finds_the_known_gain_of_emg(result):
    for split in ("held_out_movers", "held_out_movers_and_families"):
        vs = result.value(model="model", condition="all", split=split, metric="vs_camera_pct", horizon_ms=100)
        assert vs["value"] > 30 and vs["ci_low"] > 0
        lead = result.value(model="model", condition="all", split=split, metric="lead_time_ms", horizon_ms=50)
        assert lead["value"] > 50
        share = result.value(model="model", condition="all", split=split, metric="emg_share_pct",
                             horizon_ms=100)
        assert share["value"] > 0


def test_own_skill_is_measured_against_the_predictors_own_estimate_held(result):
    """own_skill_pct compares each predictor with its horizon-0 output held; at 0 ms the
    two are the same prediction (skill 0), later a predictor that anticipates gains."""
    for model, cond in (("model", "all"), ("ridge", "camera"), ("constant_velocity", "camera")):
        sel = result.select(model=model, condition=cond, split="held_out_movers", metric="own_skill_pct",
                            perturbation="none")
        rows = {r["horizon_ms"]: r for r in sel}
        assert sorted(rows) == list(HORIZONS_MS)
        assert abs(rows[0]["value"]) < 1e-9 and rows[0]["reference"] == f"{model}/{cond}/persistence"
    # the toy's EMG leads its motion: the fused predictor anticipates, so it beats holding
    assert result.value(model="model", condition="all", split="held_out_movers", metric="own_skill_pct",
                        horizon_ms=100)["value"] > 10


def test_the_own_skill_ceiling_is_the_present_error_against_holding(result):
    """own_skill_ceiling_pct: the skill of knowing the true motion from the predictor's own
    estimate of now on, 100 (1 - 0 ms error / persistence error), per mover then paired.
    It is 0 at 0 ms and grows with the horizon, and it is lower for a predictor whose
    estimate of now is worse (camera-only's here, against the fused one's)."""
    def ceiling(model, cond, h):
        return result.value(model=model, condition=cond, split="held_out_movers", perturbation="none",
                            train_minutes=None, metric="own_skill_ceiling_pct", horizon_ms=h)["value"]

    for model, cond in (("model", "all"), ("ridge", "camera"), ("constant_velocity", "camera")):
        assert abs(ceiling(model, cond, 0)) < 1e-9
        assert ceiling(model, cond, 50) < ceiling(model, cond, 400)
    err0 = result.value(model="ridge", condition="camera", split="held_out_movers", perturbation="none",
                        train_minutes=None, metric="angle_error_deg", horizon_ms=0)["value"]
    pers = result.value(model="ridge", condition="camera", split="held_out_movers", perturbation="none",
                        train_minutes=None, metric="persistence_error", horizon_ms=200)["value"]
    # the mean over movers of their ratios, against the ratio of the means: close, not equal
    assert ceiling("ridge", "camera", 200) == pytest.approx(100 * (1 - err0 / pers), abs=3.0)
    assert ceiling("ridge", "camera", 200) < ceiling("ridge", "all", 200)


def test_per_joint_errors_average_to_the_error(result, tmp_path):
    rows = result.select(model="ridge", condition="all", split="held_out_movers", perturbation="none",
                         train_minutes=None, horizon_ms=100)
    joints = [r for r in rows if r["metric"].startswith("angle_error_deg[")]
    whole = next(r for r in rows if r["metric"] == "angle_error_deg")
    assert len(joints) > 1
    # every mover's joints average to its error; the mean over movers commutes with it
    assert np.mean([r["value"] for r in joints]) == pytest.approx(whole["value"], rel=1e-6)
    md = result.write(tmp_path)["md"].read_text()
    assert "Joint-angle error per joint" in md and "own estimate of now held" in md


def test_results_record_seeds_splits_and_the_command(result, tmp_path):
    paths = result.write(tmp_path)
    meta = result.meta
    assert meta["splits"]["test"] == ["test0", "test1", "test2"] and meta["test_movers_held_out"]
    assert meta["families_only_in_test"] == ["b"]
    assert meta["preset"]["seeds"] == (0, 1) or meta["preset"]["seeds"] == [0, 1]
    assert meta["preset"]["tracking_threshold_deg"] > 0  # fixed on validation, recorded
    md = paths["md"].read_text()
    assert "wearsense eval --data toy" in md and "held_out_movers_and_families" in md
    with open(paths["csv"]) as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(result.rows) and rows[0].keys() == set(EvalResult.COLUMNS)
    for name in ("error_vs_horizon_held_out_movers", "lead_time", "per_mover", "data_efficiency"):
        assert paths[name].stat().st_size > 1000


def test_data_efficiency_reports_a_multiplier_or_a_lower_bound(result):
    mult = [r for r in result.rows if r["metric"].startswith("data_multiplier")]
    assert {r["model"] for r in mult} == {"ridge", "model"}
    sizes = result.meta["efficiency_minutes"]
    assert sizes[-1] / sizes[0] >= 50
    for r in mult:
        if r["metric"].endswith("lower_bound"):  # camera-only never matched: it needs more than all the data
            assert r["value"] >= 1.0
        if r["metric"].endswith("upper_bound"):  # camera-only matched with its smallest size already
            assert r["value"] <= 1.0


def test_a_checkpoint_is_scored_under_every_condition_without_training(data):
    model = RidgeSet(("camera", "all"), data["train"], data["val"])
    preset = replace(PRESETS["quick"], conditions=("camera", "all"), robustness=(), efficiency_minutes=(),
                     n_boot=100)

    def no_training(*a):
        raise AssertionError("trained")

    res = run_evaluation({"test": data["test"], "val": data["val"]}, preset, checkpoint=model,
                         trainer=no_training)
    rows = res.select(model="model", metric="angle_error_deg", split="held_out_movers", horizon_ms=100)
    assert {r["condition"] for r in rows} == {"camera", "all"} and rows[0]["seeds"] == "checkpoint"


def test_a_preset_must_compare_against_the_camera():
    with pytest.raises(Exception, match="camera"):
        EvalPreset(name="x", conditions=("all",))
    with pytest.raises(Exception, match="nope"):
        EvalPreset(name="x", conditions=("camera", "nope"))


def test_keypoint_only_data_is_compared_on_keypoint_error():
    """XDF sessions with a keypoint pose stream have no joint angles (J = 0)."""
    d = toy_dataset(n_train=3, n_val=1, n_test=3, duration_s=20.0)
    no_angles = {k: [replace(t, y_angles=t.y_angles[:, :, :0]) for t in v] for k, v in d.items()}
    preset = replace(PRESETS["quick"], conditions=("camera", "all"), robustness=(), efficiency_minutes=(),
                     n_boot=100)
    res = run_evaluation(no_angles, preset, trainer=ridge_trainer)
    assert res.meta["primary_metric"] == "mpjpe_mm"
    assert not res.select(metric="angle_error_deg")
    vs = res.value(model="model", condition="all", split="held_out_movers", metric="vs_camera_pct",
                   horizon_ms=100)
    assert vs["value"] > 0
    assert res.select(metric="tracking_success_pct", model="model")

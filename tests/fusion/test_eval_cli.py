"""``wearsense eval`` end to end on a tiny sim dataset, as a lab would run it on its own data."""

from __future__ import annotations

import csv
import json

import pytest

from wearsense.cli import main

pytest.importorskip("torch")
pytest.importorskip("wearsense.fusion.train")


@pytest.fixture(scope="module")
def sim_store(tmp_path_factory):
    from wearsense.fusion.data import make_sim_dataset

    out = tmp_path_factory.mktemp("eval-sim")
    make_sim_dataset(out, movers=5, minutes_per_mover=0.5, hold_out_families=["martial"], take_s=30.0,
                     val_fraction=0.2, test_fraction=0.4)
    return out


@pytest.mark.slow
def test_eval_trains_scores_and_writes_every_output(sim_store, tmp_path, capsys):
    out = tmp_path / "results"
    code = main(["eval", "--data", str(sim_store), "--preset", "quick", "--conditions", "camera,all",
                 "--steps", "3", "--no-robustness", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "joint-angle error at 100 ms" in printed
    rows = list(csv.DictReader(open(out / "results.csv")))
    got = {(r["model"], r["condition"]) for r in rows}
    assert {("model", "camera"), ("model", "all"), ("ridge", "all"), ("zero_velocity", "camera")} <= got
    assert {r["split"] for r in rows} >= {"held_out_movers", "all_test"}
    meta = json.loads((out / "results.json").read_text())
    assert meta["command"].startswith("wearsense eval") and "--steps 3" in meta["command"]
    assert meta["preset"]["seeds"] == [0] and meta["splits"]["test"]
    assert "Command:" in (out / "results.md").read_text()
    assert (out / "lead_time.png").stat().st_size > 1000
    # a second run into the same folder needs --overwrite
    from wearsense.cli.eval import _check_out

    with pytest.raises(Exception, match="--overwrite"):
        _check_out(out, overwrite=False)


def test_raw_sources_are_read_with_the_presets_imu_frame_and_stores_keep_their_own(sim_store):
    from wearsense.fusion.evaluate import PRESETS, load_data
    from wearsense.fusion.frames import FeatureSpec

    assert PRESETS["shipped"].spec == {"imu_frame": "segment"}
    seg = FeatureSpec(imu_frame="segment")
    raw, what = load_data([sim_store / "shards"], read_spec=seg)
    assert "sim shards" in what and {t.spec.imu_frame for t in raw} == {"segment"}
    kept, _ = load_data([sim_store], read_spec=seg)
    assert {t.spec.imu_frame for t in kept} == {"sensor"}
    with pytest.raises(Exception, match="imu_frame"):
        load_data([sim_store], seg)  # a checkpoint's spec is insisted on

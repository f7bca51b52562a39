"""`wearsense sim generate`: sharded, resumable, splittable HDF5 datasets with a card."""

import json

import h5py
import numpy as np
import pytest

from wearsense import sim
from wearsense.cli import main
from wearsense.errors import StreamError
from wearsense.sim.datasets import DatasetSpec, generate_dataset, shard_path, units
from wearsense.sim.vocabulary import FAMILIES

SPEC = DatasetSpec(
    movers=3,
    hours=40.0 / 3600,
    take_s=20.0,
    test_fraction=0.34,
    val_fraction=0.0,
    hold_out_families=("dance",),
    overrides={"person": "drawn", "vocabulary": "full", "imu": 1},
)


def test_shards_i_of_n_cover_the_dataset_once():
    parts = [set(units(SPEC, (i, 3))) for i in range(3)]
    assert set().union(*parts) == set(units(SPEC)) and sum(map(len, parts)) == len(units(SPEC)) == 6
    with pytest.raises(StreamError, match="shard"):
        units(SPEC, (3, 3))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds")
    a = generate_dataset(out, SPEC, (0, 2))
    b = generate_dataset(out, SPEC, (1, 2), processes=2)
    return out, a, b


def test_generated_shards_are_complete_chunked_and_resumable(dataset):
    out, a, b = dataset
    assert a["written"] + b["written"] == 6 and a["hours_per_core_minute"] > 0
    again = generate_dataset(out, SPEC)
    assert again["written"] == 0 and again["skipped"] == 6
    with h5py.File(shard_path(out, SPEC, 0, 1), "r") as f:
        assert f.attrs["complete"] and f.attrs["generator"].startswith("sim-")
        emg = f["sim-emg/data"]
        assert emg.chunks is not None and emg.chunks[0] <= 2000  # streamable in one-second chunks
        assert emg.shape[1] == 8 and f["sim-emg"].attrs["rate_hz"] == 2000.0
        assert f["truth/effort"].shape[1] == 4 and f["truth/t"].shape == f["truth/family"].shape
        assert f["movements"].shape[0] >= 1


def test_a_shard_holds_exactly_what_the_sim_generates_for_that_mover_and_take(dataset):
    out, _, _ = dataset
    rec = sim.generate(1, 20.0, SPEC.config(1, 1))
    with h5py.File(shard_path(out, SPEC, 1, 1), "r") as f:
        np.testing.assert_array_equal(f["sim-emg/data"][:], rec.streams["sim-emg"][1].data)
        np.testing.assert_array_equal(f["sim-imu0/t"][:], rec.streams["sim-imu0"][1].t)
        assert json.loads(f.attrs["traits"])["height_m"] == rec.truth.traits.height_m


def test_takes_of_one_mover_are_one_person_doing_different_things(dataset):
    out, _, _ = dataset
    with h5py.File(shard_path(out, SPEC, 0, 0), "r") as f0, h5py.File(shard_path(out, SPEC, 0, 1), "r") as f1:
        assert json.loads(f0.attrs["traits"]) == json.loads(f1.attrs["traits"])
        assert f0.attrs["session"] != f1.attrs["session"]
        assert (
            not np.array_equal(f0["truth/joint_angles"][:100], f1["truth/joint_angles"][:100])
            or f0["movements"][0]["kind"] != f1["movements"][0]["kind"]
        )


def test_held_out_families_appear_only_for_test_movers_and_the_card_says_so(dataset):
    out, _, _ = dataset
    card = json.loads((out / "card.json").read_text())
    assert card["splits"]["test"] == [2] and card["splits"]["train"] == [0, 1]
    assert "dance" not in card["families_train"] and "dance" in card["families_test"]
    assert card["streams"]["sim-emg"]["rate_hz"] == 2000.0 and card["hours_total"] == pytest.approx(
        3 * 40 / 3600
    )
    dance = set(FAMILIES["dance"])
    for mover in (0, 1):
        for take in (0, 1):
            with h5py.File(shard_path(out, SPEC, mover, take), "r") as f:
                kinds = {k.decode() for k in f["movements"]["kind"]}
                assert not kinds & dance and f.attrs["split"] == "train"
    assert "README.md" in {p.name for p in out.iterdir()}


def test_cli_generate_writes_and_resumes(tmp_path, capsys):
    args = [
        "sim",
        "generate",
        str(tmp_path),
        "--movers",
        "1",
        "--hours",
        str(15 / 3600),
        "--take-minutes",
        "0.25",
        "--imu",
        "0",
        "--test",
        "0",
        "--val",
        "0",
    ]
    assert main(args) == 0
    assert "1 shards written" in capsys.readouterr().out
    assert main(args) == 0
    assert "0 shards written, 1 already complete" in capsys.readouterr().out
    assert main(args[:3] + ["--shard", "5/2"]) == 2


def test_a_session_whose_calibration_fails_is_kept_uncalibrated(monkeypatch):
    from wearsense.calibrate import simsession
    from wearsense.calibrate.simsession import calibrate_session
    from wearsense.errors import CalibrationError
    from wearsense.sim import SimConfig

    profiles, report = calibrate_session(1, SimConfig(imu=2))
    assert sorted(profiles) == ["sim-imu0", "sim-imu1"] and report["sim-imu0"]["error_deg"] < 3.0

    def refuse(*a, **k):
        raise CalibrationError("step 'npose' failed 3 times; last: sim-imu0 moved during the N-pose")

    monkeypatch.setattr(simsession, "run_protocol", refuse)
    profiles, report = calibrate_session(1, SimConfig(imu=2))
    assert profiles == {} and "moved during the N-pose" in report["error"]
    assert calibrate_session(1, SimConfig(imu=0)) == ({}, {})

"""Sim shards -> Takes, the prepared TakeStore and its card."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pytest

from wearsense.errors import ConfigError, FormatError
from wearsense.fusion.data import TakeStore, load_take, prepare, read_shard, read_sim, save_take
from wearsense.fusion.frames import FeatureSpec


def shards(store: TakeStore):
    return store.root / "shards"


def test_read_sim_splits_by_mover(sim_dataset):
    root = shards(sim_dataset)
    by_split = {s: [t.mover for t in read_sim(root, split=s)] for s in ("train", "val", "test")}
    assert by_split == {"train": ["mover-00040"], "val": ["mover-00041"], "test": ["mover-00042"]}
    assert [t.mover for t in read_sim(shards(sim_dataset), movers=[42])] == ["mover-00042"]
    with pytest.raises(FormatError, match="splits are"):
        list(read_sim(shards(sim_dataset), split="dev"))


def test_take_fields_and_targets_follow_the_truth(sim_dataset):
    path = sorted(shards(sim_dataset).glob("*.h5"))[0]
    take = read_shard(path)
    spec = take.spec
    k = len(take)
    assert k == pytest.approx(20 * spec.step_hz, abs=3)
    assert np.allclose(np.diff(take.t), 1 / spec.step_hz)
    assert take.emg.shape == (k, 8, spec.emg_patch) and take.imu.shape == (k, 4, 10)
    assert take.pose.shape == (k, 60) and take.y_kp.shape == (k, len(spec.horizons_ms), 20, 3)
    assert take.names["joints"][0] == "trunk_flex" and len(take.names["joints"]) == take.y_angles.shape[2]
    with h5py.File(path, "r") as f:
        tt, ja = f["truth/t"][:], f["truth/joint_angles"][:]
    h = take.horizon_index(200)
    ok = take.y_ok[:, h]
    want = np.stack([np.interp(take.t[ok] + 0.2, tt, ja[:, j]) for j in range(ja.shape[1])], 1)
    np.testing.assert_allclose(take.y_angles[ok, h], want, atol=1e-3)
    # beyond the end of the truth: not a target
    assert not take.y_ok[-1, take.horizon_index(500)] and take.y_ok[:, 0].all()
    # the keypoint target at h=0 is the camera's view of now: noisy (1 cm) but close, in the body frame
    h0 = take.horizon_index(0)
    later = take.pose_ok & (take.t > 2)
    # the camera frame shows the body pose_age ago; compare with the target at t - age (nearest step)
    lag = int(round(float(np.median(take.pose_age[later])) * spec.step_hz))
    idx = np.flatnonzero(later)[lag:]
    err = np.abs(take.pose[idx].reshape(-1, 20, 3) - take.y_kp[idx - lag, h0])
    assert np.median(err) < 0.02
    assert take.labels["onset"].sum() >= 1
    family = take.labels["family"]
    assert family.min() >= -1 and (family >= 0).mean() > 0.3  # -1: between movements
    assert take.meta["clock"].startswith("sim true time")


def test_incomplete_shard_is_an_error_naming_the_fix(sim_dataset, tmp_path):
    src = sorted(shards(sim_dataset).glob("*.h5"))[0]
    bad = tmp_path / src.name
    shutil.copy(src, bad)
    with h5py.File(bad, "a") as f:
        f.attrs["complete"] = False
    with pytest.raises(FormatError, match="incomplete.*wearsense sim generate"):
        read_shard(bad)
    (tmp_path / "mover-00001_take-0000.h5").write_bytes(b"not hdf5")
    with pytest.raises(FormatError, match="not a readable HDF5"):
        read_shard(tmp_path / "mover-00001_take-0000.h5")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no shards"):
        list(read_sim(tmp_path / "empty"))


def test_every_session_begins_with_an_npose_calibration_kept_in_the_imu_metadata(sim_dataset, tmp_path):
    paths = sorted(shards(sim_dataset).glob("*.h5"))
    errors, mountings = [], []
    for path in paths:
        with h5py.File(path, "r") as f:
            report = json.loads(f.attrs["calibration"])
            imus = [n for n in f if n.startswith("sim-imu")]
            assert sorted(report) == sorted(imus)
            for n in imus:
                meta = json.loads(f[n].attrs["metadata"])
                sec = meta["calibration"]["segment"]
                assert sec["segment"] == meta["segment"] and sec["method"] == "npose+functional"
                errors.append(report[n]["error_deg"])
                mountings.append(report[n]["mounting_deg"])
    # the sensors sit up to 8 deg off their segments; the N-pose fit finds them to within ~2-3 deg
    assert max(errors) < 3.5 and np.mean(errors) < 0.6 * np.mean(mountings), (errors, mountings)

    seg = FeatureSpec(imu_frame="segment")
    take = read_shard(paths[0], seg)
    plain = read_shard(paths[0])
    assert take.meta["imu_frame"] == "segment" and set(take.meta["calibration"]) == set(take.names["imu"])
    np.testing.assert_array_equal(take.imu_ok, plain.imu_ok)
    np.testing.assert_array_equal(take.emg, plain.emg)
    assert not np.allclose(take.imu, plain.imu, atol=1e-3)
    # a shard written without the calibration cannot be read in segment axes, and says so
    bare = tmp_path / paths[0].name
    shutil.copy(paths[0], bare)
    with h5py.File(bare, "a") as f:
        for n in f:
            if n.startswith("sim-imu"):
                meta = json.loads(f[n].attrs["metadata"])
                del meta["calibration"]
                f[n].attrs["metadata"] = json.dumps(meta)
    with pytest.raises(FormatError, match="no sensor-to-segment calibration.*generate the dataset again"):
        read_shard(bare, seg)
    np.testing.assert_array_equal(read_shard(bare).imu, plain.imu)  # in sensor axes it reads as before


def test_store_round_trips_takes_exactly(sim_dataset, tmp_path):
    take = next(sim_dataset.takes(split="test"))
    save_take(take, tmp_path / "x.npz")
    back = load_take(tmp_path / "x.npz")
    for f in ("t", "emg", "emg_ok", "imu", "pose", "pose_age", "events", "events_ok", "y_angles", "y_kp",
              "y_ok"):
        np.testing.assert_array_equal(getattr(back, f), getattr(take, f), err_msg=f)
    assert back.names == take.names and back.spec == take.spec and back.mover == take.mover
    np.testing.assert_array_equal(back.labels["kind"], take.labels["kind"])
    # the store holds what the reader makes
    again = read_shard(sorted(shards(sim_dataset).glob("mover-00042*.h5"))[0])
    np.testing.assert_array_equal(again.emg, take.emg)


def test_card_describes_the_dataset(sim_dataset):
    card = json.loads((sim_dataset.root / "card.json").read_text())
    assert card["source"]["kind"] == "sim" and card["source"]["generator"].startswith("sim-")
    assert card["movers"] == {"train": ["mover-00040"], "val": ["mover-00041"], "test": ["mover-00042"]}
    assert card["hours"] == pytest.approx(3 * 20 / 3600, rel=0.02)
    assert len(card["channels"]["emg"]) == 8 and card["channels"]["imu_features"][0] == "qw"
    assert card["rates_hz"]["sim-emg"] == 2000.0
    assert FeatureSpec.from_dict(card["spec"]) == sim_dataset.spec
    assert set(card["families"]["train"]) and len(sim_dataset) == 3
    readme = (sim_dataset.root / "README.md").read_text()
    assert "test 1 takes, movers mover-00042" in readme and "held out of training: martial" in readme


def test_store_filters_lazily(sim_dataset):
    fams = sim_dataset.card["takes"][0]["families"]
    assert [t.split for t in sim_dataset.takes(split=["train", "val"])] == ["train", "val"]
    assert [t.mover for t in sim_dataset.takes(movers=["mover-00041"])] == ["mover-00041"]
    assert len(list(sim_dataset.takes(families=fams[:1]))) >= 1
    assert list(sim_dataset.takes(families=["no-such-family"])) == []


def test_store_refuses_another_spec(sim_dataset, tmp_path):
    with pytest.raises(ConfigError, match="different FeatureSpec"):
        TakeStore(sim_dataset.root, FeatureSpec(step_hz=30.0))
    with pytest.raises(FormatError, match="prepare"):
        TakeStore(tmp_path)
    store = prepare(list(sim_dataset.takes(split="val")), sim_dataset.spec, tmp_path / "s")
    assert len(store) == 1 and store.card["source"]["kind"] == "takes"


def test_phrase_split_cuts_takes_where_phrases_begin(sim_dataset):
    from wearsense.fusion.data_sim import phrase_split_of

    root = shards(sim_dataset)
    whole = next(read_sim(root, movers=[40]))
    pieces = list(read_sim(root, movers=[40], phrase_split=(0.3, 0.3)))
    assert len(pieces) >= 2
    np.testing.assert_array_equal(np.concatenate([p.t for p in pieces]), whole.t)
    np.testing.assert_array_equal(np.concatenate([p.emg for p in pieces]), whole.emg)  # same inputs as live
    for p in pieces:
        phrases = set(np.unique(p.labels["phrase"])) - {-1}
        assert phrases == {p.meta["phrase"]}
        assert p.split == phrase_split_of(40, 0, p.meta["phrase"], (0.3, 0.3))
        assert p.name.endswith(f"phrase-{p.meta['phrase']:03d}") and p.mover == whole.mover
    val = list(read_sim(root, split="val", movers=[40], phrase_split=(0.3, 0.3)))
    assert [p.name for p in val] == [p.name for p in pieces if p.split == "val"]


def test_take_slice_keeps_every_field_aligned(tiny):
    take = tiny(steps=20)
    part = take.slice(5, 12, split="val")
    assert len(part) == 7 and part.split == "val" and part.meta["slice"] == [5, 12]
    np.testing.assert_array_equal(part.y_kp, take.y_kp[5:12])
    np.testing.assert_array_equal(part.labels["onset"], take.labels["onset"][5:12])


def test_held_out_families_stay_out_of_training(sim_dataset):
    import json as _json

    for take in sim_dataset.takes(split=["train", "val"]):
        names = take.names["families"]
        performed = {names[c] for c in np.unique(take.labels["family"]) if c >= 0}
        assert "martial" not in performed and "martial" not in take.meta["families"]
    test = next(sim_dataset.takes(split="test"))
    assert "martial" in test.meta["families"]  # the test mover's choreography may draw it
    root = shards(sim_dataset)
    assert [t.split for t in read_sim(root, families=["martial"])] == ["test"]
    assert _json.loads((root / "card.json").read_text())["hold_out_families"] == ["martial"]
    assert sim_dataset.card["generation"]["hold_out_families"] == ["martial"]

"""The emg2pose layout: tiny session files built to the documented layout (group emg2pose, compound
dataset timeseries with emg T x 16 at 2 kHz, joint_angles T x 20 in rad, time) and a metadata.csv."""

from __future__ import annotations

import csv

import h5py
import numpy as np
import pytest

from wearsense.errors import FormatError
from wearsense.fusion.data_emg2pose import read_emg2pose

RATE = 2000.0
COLUMNS = ["filename", "user", "session", "stage", "side", "moving_hand", "held_out_user", "held_out_stage",
           "split", "generalization", "start", "end"]


def write_session(path, seconds=4.0, seed=0, ik_fail=(2.0, 2.25), fields=("emg", "joint_angles", "time")):
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = 1.7e9 + np.arange(n) / RATE  # absolute times, as recorded
    tt = t - t[0]
    ja = 0.4 * np.sin(2 * np.pi * 0.7 * tt[:, None] + np.arange(20)[None, :] * 0.3) + 0.5
    ja[(tt >= ik_fail[0]) & (tt < ik_fail[1])] = 0.0  # an inverse-kinematics failure
    emg = rng.normal(0, 1, (n, 16)) * (5 + 80 * np.abs(np.cos(2 * np.pi * 0.7 * tt))[:, None])  # µV
    dt = np.dtype([(f, "f4", (16,)) if f == "emg" else (f, "f4", (20,)) if f == "joint_angles" else (f, "f8")
                   for f in fields])
    rec = np.zeros(n, dt)
    for f in fields:
        rec[f] = {"emg": emg, "joint_angles": ja, "time": t}[f]
    with h5py.File(path, "w") as h:
        h.create_group("emg2pose").create_dataset("timeseries", data=rec)
    return tt, ja


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("emg2pose")
    rows = [("s1_pinch", "u1", "train", "", 0), ("s1_wave", "u1", "val", "", 1),
            ("s2_pinch", "u2", "test", "user", 2)]
    truth = {}
    for name, user, split, gen, seed in rows:
        truth[name] = write_session(root / f"{name}.hdf5", seed=seed)
    with open(root / "metadata.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        for name, user, split, gen, _ in rows:
            stage = name.split("_")[1]
            w.writerow([name, user, "sess1", stage, "right", "True", user == "u2", False, split, gen, 0, 4])
    return root, truth


def test_reads_the_documented_layout_by_split(root):
    folder, truth = root
    takes = list(read_emg2pose(folder, split="train"))
    assert [t.name for t in takes] == ["s1_pinch"]
    take = takes[0]
    k = len(take)
    assert take.emg.shape == (k, 16, take.spec.emg_patch) and take.imu.shape == (k, 0, 10)
    assert take.pose.shape == (k, 20) and take.y_angles.shape == (k, len(take.spec.horizons_ms), 20)
    assert take.y_kp is None and take.mover == "u1" and take.meta["stage"] == "pinch"
    assert [t.mover for t in read_emg2pose(folder, split="test", generalization="user")] == ["u2"]
    assert len(list(read_emg2pose(folder))) == 3


def test_targets_are_future_angles_in_degrees_and_pose_arrives_late(root):
    folder, truth = root
    take = next(read_emg2pose(folder, split="train"))
    tt, ja = truth["s1_pinch"]
    h = take.horizon_index(100)
    ok = take.y_ok[:, h]
    want = np.rad2deg(np.stack([np.interp(take.t[ok] + 0.1, tt, ja[:, j]) for j in range(20)], 1))
    np.testing.assert_allclose(take.y_angles[ok, h], want, atol=1e-3)
    # input: a 60 Hz frame captured at least 50 ms before now, in degrees
    good = take.pose_ok
    assert good.mean() > 0.8 and take.pose_age[good].min() >= 0.05 - 1e-9
    assert take.pose_age[good].max() <= 0.05 + 1 / 60 + 1e-6
    k = np.flatnonzero(good)[40]
    capture = take.t[k] - take.pose_age[k]
    seen = np.rad2deg([np.interp(capture, tt, ja[:, j]) for j in range(20)])
    np.testing.assert_allclose(take.pose[k], seen, atol=1e-3)
    assert take.emg_ok.all() and (take.emg > 0).all()


def test_inverse_kinematics_failures_are_masked(root):
    folder, _ = root
    take = next(read_emg2pose(folder, split="train"))
    h0 = take.horizon_index(0)
    during = (take.t > 2.01) & (take.t < 2.24)
    assert not take.y_ok[during, h0].any() and (take.y_angles[during, h0] == 0).all()
    seen = (take.t - take.pose_age > 2.01) & (take.t - take.pose_age < 2.24)
    assert seen.any() and not take.pose_ok[seen].any() and (take.pose[seen] == 0).all()
    assert take.meta["ik_failure_fraction"] == pytest.approx(0.25 / 4, abs=1e-3)


def test_wrong_layouts_name_the_problem(tmp_path):
    with pytest.raises(FormatError, match="metadata.csv"):
        list(read_emg2pose(tmp_path))
    (tmp_path / "metadata.csv").write_text("filename,user\nx,u1\n")
    with pytest.raises(FormatError, match=r"lacks column\(s\) \['split'\]"):
        list(read_emg2pose(tmp_path))
    (tmp_path / "metadata.csv").write_text("filename,user,split\nx,u1,train\ny,u1,train\n")
    with pytest.raises(FormatError, match="not in the folder.*skip_missing"):
        list(read_emg2pose(tmp_path))
    assert list(read_emg2pose(tmp_path, skip_missing=True)) == []
    write_session(tmp_path / "x.hdf5", seconds=1.0, fields=("emg", "time"))
    with pytest.raises(FormatError, match=r"lacks field\(s\) \['joint_angles'\]"):
        list(read_emg2pose(tmp_path, skip_missing=True))
    with h5py.File(tmp_path / "x.hdf5", "w") as h:
        h.create_dataset("other", data=np.zeros(3))
    with pytest.raises(FormatError, match="no dataset emg2pose/timeseries"):
        list(read_emg2pose(tmp_path, skip_missing=True))


def test_prepare_caches_an_emg2pose_folder(root, tmp_path):
    from wearsense.fusion.data import prepare

    folder, _ = root
    store = prepare(folder, next(read_emg2pose(folder, split="val")).spec, tmp_path / "store")
    assert store.card["source"]["kind"] == "emg2pose" and len(store) == 3
    assert store.card["movers"]["test"] == ["u2"] and store.card["channels"]["imu"] == []
    again = next(read_emg2pose(folder, split="val"))
    np.testing.assert_array_equal(next(store.takes(split="val")).y_angles, again.y_angles)

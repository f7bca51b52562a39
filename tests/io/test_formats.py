"""C3D, BVH, CSV and HDF5 readers/exporters, MNE export, and the by-extension registry."""

from __future__ import annotations

import numpy as np
import pytest

from wearsense.errors import FormatError, StreamError
from wearsense.io import export, read
from wearsense.io.bvh import read_bvh
from wearsense.io.c3d import read_c3d
from wearsense.io.csv import read_csv, write_csv
from wearsense.io.hdf5 import read_hdf5, write_hdf5
from wearsense.io.mne_raw import to_mne_raw
from wearsense.io.xdf import load

BVH = """HIERARCHY
ROOT Hips
{
  OFFSET 0.0 0.0 0.0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0.0 10.0 0.0
    CHANNELS 3 Zrotation Xrotation Yrotation
    JOINT Head
    {
      OFFSET 0.0 20.0 0.0
      CHANNELS 3 Zrotation Xrotation Yrotation
      End Site
      {
        OFFSET 0.0 5.0 0.0
      }
    }
  }
}
MOTION
Frames: 3
Frame Time: 0.0333333
0 100 0 0 0 0 0 0 0 0 0 0
5 100 0 90 0 0 0 0 0 0 0 0
0 100 0 0 0 0 0 90 0 0 0 90
"""


def test_bvh_forward_kinematics_gives_known_joint_positions(tmp_path):
    p = tmp_path / "walk.bvh"
    p.write_text(BVH)
    streams = read(p)
    info, pose = streams["walk-pose"]
    assert info.channels[:6] == ("Hips_x", "Hips_y", "Hips_z", "Spine_x", "Spine_y", "Spine_z")
    assert info.rate_hz == pytest.approx(30.0, rel=1e-5)
    xyz = pose.data.reshape(3, -1, 3) * 100  # back to file centimetres
    # frame 0: a vertical chain above the root at y = 100 cm
    np.testing.assert_allclose(xyz[0], [[0, 100, 0], [0, 110, 0], [0, 130, 0], [0, 135, 0]], atol=1e-4)
    # frame 1: root moved 5 cm along x and turned 90 deg about z: the chain lies along -x
    np.testing.assert_allclose(xyz[1], [[5, 100, 0], [-5, 100, 0], [-25, 100, 0], [-30, 100, 0]], atol=1e-4)
    # frame 2: spine pitched 90 deg about x (y -> z); the head's own 90 deg about y
    # then turns its child offset (0, 5, 0) ... which lies on the rotation axis of y: unchanged
    np.testing.assert_allclose(xyz[2], [[0, 100, 0], [0, 110, 0], [0, 110, 20], [0, 110, 25]], atol=1e-4)
    np.testing.assert_array_equal(pose.seq, [0, 1, 2])
    motion_info, motion = streams["walk-motion"]
    assert motion_info.units[3] == "deg" and motion.data[1, 3] == 90


def test_bvh_truncated_or_wrong_file_raises_with_path(tmp_path):
    p = tmp_path / "cut.bvh"
    p.write_text(BVH[: BVH.index("5 100 0 90")])
    with pytest.raises(FormatError, match="frames x 12 channels") as e:
        read_bvh(p)
    assert e.value.path == str(p)
    p.write_text(BVH[:120])
    with pytest.raises(FormatError, match="truncated"):
        read_bvh(p)
    q = tmp_path / "x.bvh"
    q.write_text("not a bvh")
    with pytest.raises(FormatError, match="HIERARCHY"):
        read_bvh(q)


def _write_c3d(path, n_frames=50, rate=100.0):
    import ezc3d

    rng = np.random.default_rng(5)
    c = ezc3d.c3d()
    c["parameters"]["POINT"]["RATE"]["value"] = [rate]
    c["parameters"]["POINT"]["LABELS"]["value"] = ("LASI", "RASI")
    c["parameters"]["POINT"]["UNITS"]["value"] = ["mm"]
    c["parameters"]["ANALOG"]["RATE"]["value"] = [1000.0]
    c["parameters"]["ANALOG"]["LABELS"]["value"] = ("EMG1", "EMG2")
    c["parameters"]["ANALOG"]["UNITS"]["value"] = ["V", "V"]
    pts = np.ones((4, 2, n_frames))
    pts[:3] = rng.uniform(-1000, 1000, (3, 2, n_frames))
    pts[:3, 1, 10:15] = np.nan  # RASI occluded
    c["data"]["points"] = pts
    analog = rng.standard_normal((1, 2, n_frames * 10)) * 1e-3
    c["data"]["analogs"] = analog
    c.write(str(path))
    return pts, analog


def test_c3d_markers_in_metres_with_occlusions_and_analog_channels(tmp_path):
    p = tmp_path / "trial.c3d"
    pts, analog = _write_c3d(p)
    streams = read(p, analog_modality="EMG")
    info, markers = streams["trial-markers"]
    assert info.modality.value == "MARKER" and info.channels[:3] == ("LASI_x", "LASI_y", "LASI_z")
    np.testing.assert_allclose(markers.data[:, :3], pts[:3, 0].T / 1000, rtol=1e-6)
    assert np.isnan(markers.data[10:15, 3:]).all() and not np.isnan(markers.data[:10]).any()
    np.testing.assert_allclose(markers.t[:3], [0, 0.01, 0.02])
    ainfo, emg = streams["trial-analog"]
    assert ainfo.modality.value == "EMG" and ainfo.units == ("V", "V") and ainfo.rate_hz == 1000.0
    np.testing.assert_allclose(emg.data, analog[0].T, rtol=1e-6)


def test_c3d_damaged_file_raises_format_error(tmp_path):
    p = tmp_path / "trial.c3d"
    _write_c3d(p)
    raw = p.read_bytes()
    bad = tmp_path / "bad.c3d"
    bad.write_bytes(b"this is not a c3d file at all" * 20)
    with pytest.raises(FormatError, match="not a readable C3D") as e:
        read_c3d(bad)
    assert e.value.path == str(bad)
    cut = tmp_path / "cut.c3d"
    cut.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(FormatError):
        read_c3d(cut)


def test_csv_round_trip_is_bit_exact_with_header_convention(tmp_path, session_file):
    path, _ = session_file
    f = load(path)
    for name, s in f.streams.items():
        out = write_csv(tmp_path / f"{name}.csv", s.info, s.chunk)
        head = out.read_text().splitlines()
        assert head[0] == "# wearsense-csv: 1" and head[8].startswith("t,seq,")
        info, chunk = read_csv(out)[name]
        assert info == s.info
        assert chunk.equals(s.chunk)  # NaN occlusions in pose included


def test_plain_csv_with_time_column_reads(tmp_path):
    p = tmp_path / "keypoints.csv"
    p.write_text("time,nose_x,nose_y\n0.0,0.1,0.2\n0.02,0.11,\n0.04,0.12,0.22\n")
    info, c = read_csv(p, modality="POSE", units="m")["keypoints"]
    assert info.channels == ("nose_x", "nose_y") and info.rate_hz == pytest.approx(50.0)
    assert np.isnan(c.data[1, 1]) and list(c.seq) == [0, 1, 2]


def test_bad_csv_files_raise_format_error(tmp_path):
    cases = {
        "no_time.csv": "a,b\n1,2\n",
        "ragged.csv": "t,a,b\n0,1,2\n1,2\n",
        "text.csv": "t,a\n0,hello\n",
        "backwards.csv": "t,a\n1,1\n0,2\n",
        "empty.csv": "# name: x\n",
    }
    for name, text in cases.items():
        p = tmp_path / name
        p.write_text(text)
        with pytest.raises(FormatError) as e:
            read_csv(p)
        assert e.value.path == str(p), name
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x01" * 10)
    with pytest.raises(FormatError, match="UTF-8"):
        read_csv(binary)


def test_hdf5_export_has_one_group_per_stream_and_reads_back(tmp_path, session_file):
    import h5py

    path, _ = session_file
    streams = load(path).as_streams()
    out = write_hdf5(tmp_path / "s.h5", streams)
    with h5py.File(out) as h:
        assert set(h) == set(streams)
        g = h["emg"]
        assert g.attrs["rate_hz"] == 2000.0 and g["data"].dtype == np.float32 and g["t"].dtype == np.float64
        assert list(g.attrs["channels"].astype(str)) == list(streams["emg"][0].channels)
    back = read_hdf5(out)
    for name, (info, chunk) in streams.items():
        assert back[name][0] == info and back[name][1].equals(chunk)
    plain = tmp_path / "other.h5"
    with h5py.File(plain, "w") as h:
        h["x"] = np.zeros(3)
    with pytest.raises(FormatError, match="not written by wearsense"):
        read_hdf5(plain)
    (tmp_path / "junk.h5").write_bytes(b"junk" * 100)
    with pytest.raises(FormatError, match="not a readable HDF5"):
        read_hdf5(tmp_path / "junk.h5")


def test_mne_raw_export_puts_lost_samples_in_bad_annotations(session_file):
    path, _ = session_file
    info, chunk = load(path).as_streams()["emg"]
    raw = to_mne_raw(info, chunk)
    assert raw.info["sfreq"] == 2000.0 and raw.get_channel_types() == ["emg"] * 8
    assert raw.n_times == chunk.seq[-1] - chunk.seq[0] + 1
    assert len(raw.annotations) == 3 and set(raw.annotations.description) == {"BAD_lost"}
    np.testing.assert_allclose(raw.annotations.duration, 20 / 2000.0)
    np.testing.assert_allclose(raw.get_data()[:, : 20 * 16].T, chunk.data[: 20 * 16], rtol=1e-6)
    imu_info, imu = load(path).as_streams()["imu0"]
    with pytest.raises(StreamError, match="for EMG streams"):
        to_mne_raw(imu_info, imu)
    mv = info.with_(units="m/s^2")
    with pytest.raises(StreamError, match="not voltages"):
        to_mne_raw(mv, chunk)


def test_registry_reads_by_extension_and_explains_unsupported_formats(tmp_path, session_file):
    path, _ = session_file
    assert set(read(path)) == {"emg", "imu0", "pose"}
    for ext, hint in ((".edf", "read_raw_edf"), (".trc", "C3D"), (".fbx", "BVH"), (".vhdr", "brainvision")):
        with pytest.raises(FormatError, match=hint):
            read(tmp_path / f"x{ext}")
    with pytest.raises(FormatError, match="unknown file type '.abc'.*reads .bvh, .c3d, .csv"):
        read(tmp_path / "x.abc")
    files = export(read(path), tmp_path / "csv", "csv")
    assert sorted(p.name for p in files) == ["emg.csv", "imu0.csv", "pose.csv"]
    with pytest.raises(FormatError, match="csv, hdf5"):
        export(read(path), tmp_path, "parquet")

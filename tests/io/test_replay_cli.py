"""replay:// plays recordings back as devices; the record/info/export/repair commands."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from wearsense.cli import main
from wearsense.devices import BlockingDevice, acquire
from wearsense.errors import DeviceError, DeviceURIError
from wearsense.io import xdf
from wearsense.recording import Recording


def test_replay_yields_the_original_chunks_in_order(session_file):
    path, pairs = session_file
    with BlockingDevice(f"replay://{path}?speed=0") as dev:
        assert [s.name for s in dev.streams] == ["emg", "imu0", "pose"]
        got = list(dev)
    assert [i.name for i, _ in got] == [i.name for i, _ in pairs]
    for (_, a), (_, b) in zip(got, pairs):
        assert a.equals(b)  # data, timestamps, seq, clock
        assert a.received_s == pytest.approx(b.received_s, abs=1e-12, nan_ok=True)


def test_replay_then_record_reproduces_the_session(session_file, tmp_path):
    path, _ = session_file
    out = tmp_path / "again.xdf"
    state = asyncio.run(Recording([f"replay://{path}?speed=0"], out).run()).state
    assert {s.name: s.lost for s in state.streams} == {"emg": 60, "imu0": 0, "pose": 0}
    a, b = xdf.load(path), xdf.load(out)
    for name in a.streams:
        assert b.streams[name].chunk.equals(a.streams[name].chunk)
        np.testing.assert_array_equal(b.streams[name].chunk_ends, a.streams[name].chunk_ends)


def test_two_devices_with_the_same_stream_names_are_kept_apart(session_file, tmp_path):
    path, _ = session_file
    out = tmp_path / "two.xdf"
    asyncio.run(Recording([f"replay://{path}?speed=0", f"replay://{path}?speed=0"], out).run())
    f = xdf.load(out)
    assert set(f.streams) == {"emg", "imu0", "pose", "emg@2", "imu0@2", "pose@2"}
    assert f.streams["emg@2"].chunk.equals(f.streams["emg"].chunk)


def test_replay_bad_uris_and_files_give_device_errors(tmp_path):
    with pytest.raises(DeviceURIError, match="speed"):
        acquire("replay://x.xdf?speed=-1")
    with pytest.raises(DeviceError, match="no such file"):
        acquire(f"replay://{tmp_path}/missing.xdf")
    (tmp_path / "junk.xdf").write_bytes(b"junk")
    with pytest.raises(DeviceError, match="not an XDF file"):
        acquire(f"replay://{tmp_path}/junk.xdf")


def test_record_from_sim_until_duration(tmp_path):
    out = tmp_path / "sim.xdf"
    states = []
    state = asyncio.run(Recording(["sim://mover?seed=4&emg=4&imu=1&realtime=0&duration_s=3"], out,
                                  duration_s=30).run(on_status=states.append)).state
    f = xdf.load(out)
    assert f.closed_cleanly and set(f.streams) == {"sim-emg", "sim-imu0", "sim-pose"}
    assert (
        f.streams["sim-emg"].chunk.n == next(s.samples for s in state.streams if s.name == "sim-emg") > 5000
    )
    assert f.streams["sim-emg"].info.metadata["placement"]
    assert states and states[-1].bytes_written > 0


def test_record_refuses_existing_output_before_opening_devices(tmp_path, capsys):
    out = tmp_path / "taken.xdf"
    out.write_bytes(b"keep me")
    rc = main(["record", "sim://mover?realtime=0&duration_s=1", "-o", str(out)])
    assert rc == 2 and "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"


def test_info_export_and_repair_commands(session_file, tmp_path, capsys):
    path, _ = session_file
    assert main(["info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "emg" in text and "2000.0" in text and " 60 " in text  # 60 lost EMG samples
    assert main(["export", str(path), "--format", "hdf5", "-o", str(tmp_path / "h5")]) == 0
    assert (tmp_path / "h5" / "session.h5").exists()
    assert main(["repair", str(path)]) == 0
    assert "nothing to repair" in capsys.readouterr().out
    cut = tmp_path / "cut.xdf"
    cut.write_bytes(path.read_bytes()[:-300])
    assert main(["info", str(cut)]) == 0
    assert "DAMAGED" in capsys.readouterr().out
    assert main(["export", str(cut), "--format", "csv", "-o", str(tmp_path / "c")]) == 2
    assert "wearsense repair" in capsys.readouterr().err
    assert main(["repair", str(cut)]) == 0
    assert (tmp_path / "cut.xdf.bak").exists()
    assert xdf.load(cut).closed_cleanly


def test_export_refuses_to_replace_another_recordings_files(session_file, tmp_path, capsys):
    path, _ = session_file
    out = tmp_path / "csv"
    assert main(["export", str(path), "--format", "csv", "-o", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "emg.csv").write_text("another recording's EMG\n")
    capsys.readouterr()
    assert main(["export", str(path), "--format", "csv", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "already holds" in err and "emg.csv" in err and "--overwrite" in err and "Traceback" not in err
    assert (out / "emg.csv").read_text() == "another recording's EMG\n"
    assert main(["export", str(path), "--format", "csv", "-o", str(out), "--overwrite"]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_export_to_an_existing_file_or_an_uncreatable_folder_is_one_line(session_file, tmp_path, capsys):
    path, _ = session_file
    other = tmp_path / "s2.xdf"
    other.write_bytes(b"keep me")
    assert main(["export", str(path), "--format", "csv", "-o", str(other)]) == 2
    err = capsys.readouterr().err
    assert "is a file, not a folder" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert other.read_bytes() == b"keep me"
    # a folder below a file cannot be created, whoever runs the test
    assert main(["export", str(path), "--format", "hdf5", "-o", str(other / "sub" / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot export into" in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err

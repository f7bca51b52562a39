"""`wearsense calibrate` and `wearsense profiles` on the sim; the profile applied on re-open
and kept by a recording."""

from __future__ import annotations

import numpy as np
import pytest

import wearsense
from wearsense.calibrate.profile import ImuCorrection, load_profile, profile_of
from wearsense.cli import main


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    folder = tmp_path / "profiles"
    monkeypatch.setenv("WEARSENSE_PROFILES_DIR", str(folder))
    return folder


def test_calibrate_cli_guides_retries_and_writes_profiles(profiles, capsys):
    assert (
        main(
            [
                "calibrate",
                "imu_still",
                "sim://mover?seed=2&imu=2",
                "--yes",
                "--fast",
                "--mistake",
                "still:1:move",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "-- step still: Put the sensors on a table" in out
    assert "FAILED: sim-imu0 moved during the still period" in out
    assert "-- step still (attempt 2)" in out and "   ok" in out
    assert "profile of sim:2:imu1 (gyro)" in out and "2 profile(s) written" in out
    assert load_profile("sim:2:imu0", profiles).sections["gyro"]["protocol"] == "imu_still"

    assert main(["profiles"]) == 0
    listing = capsys.readouterr().out
    assert "2 profile(s)" in listing and "sim:2:imu0" in listing and "imu_still v1" in listing
    assert main(["profiles", "sim:2:imu1"]) == 0
    assert 'serial = "sim:2:imu1"' in capsys.readouterr().out


def test_calibrate_cli_fails_after_the_retries_with_one_line(profiles, capsys):
    args = ["calibrate", "imu_still", "sim://mover?seed=2&imu=1", "--yes", "--fast"]
    args += [f"--mistake=still:{k}:move" for k in (1, 2, 3)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "step 'still' failed 3 times" in err and "rest it on a table" in err
    assert not profiles.exists() or not any(profiles.iterdir())


def test_calibrate_cli_check_validates_a_protocol(capsys, tmp_path):
    assert main(["calibrate", "npose", "sim://mover", "--check"]) == 0
    assert "elbow_flexion" in capsys.readouterr().out
    bad = tmp_path / "imu_still.toml"
    bad.write_text('[protocol]\nname = "imu_still"\nversion = 0\n')
    assert main(["calibrate", str(bad), "sim://mover", "--check"]) == 2
    assert "field 'version'" in capsys.readouterr().err


def test_profile_is_attached_on_reopen_and_kept_by_a_recording(profiles, tmp_path, capsys):
    assert main(["calibrate", "imu_still", "sim://mover?seed=5&imu=1", "--yes", "--fast"]) == 0
    uri = "sim://mover?seed=5&imu=1&emg=2&realtime=0&duration_s=2"
    with wearsense.open(uri) as dev:
        info = next(s for s in dev.streams if s.name == "sim-imu0")
        assert profile_of(info).serial == "sim:5:imu0"
        emg = next(s for s in dev.streams if s.name == "sim-emg")
        assert "calibration" not in emg.metadata  # never calibrated
        seen = {i.name: i for i, _ in dev}
    assert profile_of(seen["sim-imu0"]).sections["gyro"]["protocol"] == "imu_still"

    path = tmp_path / "s.xdf"
    wearsense.record([uri], path)
    streams = wearsense.read(path)
    stored = profile_of(streams["sim-imu0"][0])
    assert stored == load_profile("sim:5:imu0", profiles)
    # raw data stay raw, and the stored profile re-applies: the correction moves the gyro by its bias
    info, chunk = streams["sim-imu0"]
    bias = np.array(stored.sections["gyro"]["bias_dps"])
    fixed = ImuCorrection(info).process(chunk)
    gyro = [info.index(f"gyro_{a}") for a in "xyz"]
    np.testing.assert_allclose((chunk.data[:, gyro] - fixed.data[:, gyro]).mean(axis=0), bias, atol=1e-4)
    assert np.abs(bias).max() > 0.2
    capsys.readouterr()
    assert main(["info", str(path), "--no-sync"]) == 0
    assert "sim-imu0: recorded with calibration profile of sim:5:imu0" in capsys.readouterr().out

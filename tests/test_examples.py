"""Every example runs as documented (small sizes), so the examples cannot rot."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script, *args, cwd):
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL,
                          env={**os.environ, "MPLBACKEND": "Agg"})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.slow
def test_lab_session_records_reads_and_replays(tmp_path):
    out = run("lab_session.py", "--out", str(tmp_path / "s.xdf"), "--seconds", "3", cwd=tmp_path)
    assert "sim-emg" in out and "replayed 6 streams" in out


@pytest.mark.slow
def test_watch_preactivation_reports_leads(tmp_path):
    out = run("watch_preactivation.py", "--fast", "--seconds", "20", cwd=tmp_path)
    assert "switched on" in out and "led by" in out


@pytest.mark.slow
def test_make_training_data_writes_one_grid_per_mover(tmp_path):
    path = tmp_path / "m.npz"
    run("make_training_data.py", "--seeds", "2", "--minutes", "0.2", "--processes", "1", "--out", str(path),
        cwd=tmp_path)
    data = np.load(path)
    assert data["seed0_t"].shape[0] == data["seed1_emg_envelope"].shape[0] == data["seed0_pose"].shape[0]
    assert data["seed0_imu"].shape[1] == 36


@pytest.mark.slow
def test_sim_physiology_figure_goes_to_the_working_folder(tmp_path):
    """Not over the committed docs/figures/ file unless asked to (-o)."""
    docs_figure = EXAMPLES.parent / "docs" / "figures" / "sim_physiology.png"
    before = docs_figure.stat().st_mtime_ns if docs_figure.exists() else None
    out = run("sim_physiology.py", cwd=tmp_path)
    assert (tmp_path / "sim_physiology.png").stat().st_size > 50_000
    assert "wrote sim_physiology.png" in out
    assert (docs_figure.stat().st_mtime_ns if docs_figure.exists() else None) == before

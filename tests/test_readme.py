"""The README's Python quick start runs as written (in a fresh folder, in a fresh interpreter)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Quick start in Python", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_quick_start_is_at_most_ten_lines_of_the_front_door():
    code = quick_start()
    assert len(code.strip().splitlines()) <= 10
    assert "wearsense.open(" in code and "wearsense.record(" in code and "wearsense.read(" in code


def test_readme_quick_start_runs(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", quick_start()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert re.match(r"sim-\S+ \d+ samples from t = ", lines[0]), lines
    assert lines[-1].startswith("5.0 s recorded:") and "'sim-emg': 10000" in lines[-1], lines
    assert (tmp_path / "session.xdf").stat().st_size > 0


def test_import_wearsense_stays_light():
    code = (
        "import sys, wearsense; heavy = [m for m in ('numba', 'scipy', 'wearsense.devices', 'wearsense.io', "
        "'wearsense.recording', 'torch') if m in sys.modules]; print(heavy); "
        "assert callable(wearsense.open) and callable(wearsense.record) and callable(wearsense.read)"
    )
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

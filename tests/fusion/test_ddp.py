"""Training past one machine: two torchrun processes (gloo, CPU) follow the one-process run."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SCRIPT = textwrap.dedent("""
    import sys, torch
    sys.path.insert(0, {here!r})
    torch.set_num_threads(1)
    from synthetic_takes import make_takes
    from wearsense.fusion.train import load_config, train
    cfg = load_config("tiny", steps=12, batch_size=4, val_every=6)
    result = train(cfg, make_takes(3, seed=0, seconds=6), make_takes(1, seed=1, seconds=6))
    if torch.distributed.is_initialized():
        rank = torch.distributed.get_rank()
        torch.distributed.destroy_process_group()
    else:
        rank = 0
    torch.save({{"state": result.model.state_dict(), "loss": [h["train_loss"] for h in result.history]}},
               sys.argv[1] + f".rank{{rank}}")
""")


@pytest.mark.slow
def test_two_gloo_processes_agree_with_one(tmp_path):
    script = tmp_path / "train_tiny.py"
    script.write_text(SCRIPT.format(here=str(HERE)))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    one = subprocess.run([sys.executable, str(script), str(tmp_path / "one")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
                          "--nproc_per_node=2", str(script), str(tmp_path / "two")],
                         env=env, capture_output=True, text=True, timeout=300)
    assert two.returncode == 0, two.stderr[-3000:]
    ref = torch.load(tmp_path / "one.rank0", weights_only=True)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"two.rank{rank}", weights_only=True)
        for name, value in ref["state"].items():
            torch.testing.assert_close(got["state"][name], value, rtol=1e-4, atol=1e-5, msg=name)
        torch.testing.assert_close(torch.tensor(got["loss"]), torch.tensor(ref["loss"]), rtol=1e-4, atol=1e-5)

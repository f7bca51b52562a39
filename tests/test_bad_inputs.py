"""Every subcommand meets ordinary mistakes with one clear line, a non-zero exit and no traceback.

The catalogue below runs each ``wearsense`` subcommand (found the way the CLI finds
them) as a user would, in its own process, on bad inputs: wrong URIs, missing, empty,
non-XDF and truncated files, outputs that exist or cannot be written, unknown formats.
A subcommand added without an entry here fails :func:`test_every_subcommand_is_in_the_catalogue`.
Closed pipes and Ctrl-C while the command is still importing are checked apart.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from wearsense.cli import commands, main

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    args: tuple[str, ...]  # {placeholders} name files of the `files` fixture
    says: str  # what the error line must name (case-insensitive)
    usage: bool = False  # argparse's own usage error: its usage lines come first

    @property
    def command(self) -> str:
        return self.args[0]

    @property
    def prefix(self) -> str:
        """How the error line starts: ``wearsense <command>: error: ``."""
        known = self.command in commands()
        return f"wearsense {self.command}: error: " if known else "wearsense: error: "


CATALOGUE = [
    # info
    Case(("info", "{missing}"), "no such file"),
    Case(("info", "{empty}"), "not an XDF file"),
    Case(("info", "{text}"), "not an XDF file"),
    Case(("info", "{folder}"), "folder"),
    # sync-report
    Case(("sync-report", "{missing}"), "no such file"),
    Case(("sync-report", "{empty}"), "not an XDF file"),
    Case(("sync-report", "{text}"), "not an XDF file"),
    Case(("sync-report", "{xdf}", "--png", "{nodir}/s.png"), "{nodir}"),
    # export
    Case(("export", "{missing}", "--format", "csv", "-o", "out"), "no such file"),
    Case(("export", "{text}", "--format", "csv", "-o", "out"), "not an XDF file"),
    Case(("export", "{trunc}", "--format", "csv", "-o", "out"), "wearsense repair"),
    Case(("export", "{xdf}", "--format", "csv", "-o", "{existing}"), "{existing}"),
    Case(("export", "{xdf}", "--format", "csv", "-o", "{text}/sub"), "{text}"),
    Case(("export", "{xdf}", "--format", "nope", "-o", "out"), "invalid choice", usage=True),
    Case(("export", "{unknown_ext}", "--format", "csv", "-o", "out"), "unknown file type"),
    # repair
    Case(("repair", "{missing}"), "no such file"),
    Case(("repair", "{empty}"), "not an XDF file"),
    Case(("repair", "{text}"), "not an XDF file"),
    Case(("repair", "{xdf}", "-o", "{nodir}/r.xdf"), "{nodir}"),
    # record
    Case(("record", "nope://x", "-o", "a.xdf"), "unknown device scheme"),
    Case(("record", "sim://mover?seed=x", "-o", "a.xdf"), "seed"),
    Case(("record", "sim://mover?bogus=1", "-o", "a.xdf"), "bogus"),
    Case(("record", "serial:///dev/wearsense-no-such-port", "-o", "a.xdf"), "wearsense-no-such-port"),
    Case(("record", "replay://{missing}", "-o", "a.xdf"), "{missing}"),
    Case(("record", "sim://mover", "-o", "{existing}"), "--overwrite"),
    Case(("record", "sim://mover", "-o", "{nodir}/a.xdf"), "{nodir}"),
    Case(("record", "sim://mover", "-o", "a.txt"), ".xdf"),
    Case(("record", "sim://mover", "-o", "a.xdf", "--duration", "-1"), "duration", usage=True),
    # stream
    Case(("stream", "nope://x"), "unknown device scheme"),
    Case(("stream", "sim://mover?bogus=1"), "bogus"),
    # devices, scan, bench, demo
    Case(("devices", "nope"), "unknown device scheme"),
    Case(("scan", "--profile", "{missing}"), "{missing}"),
    Case(("scan", "--timeout", "x"), "invalid float", usage=True),
    Case(("bench", "nosuch"), "no benchmark named"),
    Case(("bench", "--dir", "{nodir}"), "benchmarks folder"),
    Case(("demo", "--duration", "1"), "at least 3 s"),
    Case(("demo", "-o", "{nodir}/d.png"), "{nodir}"),
    # dashboard (live views)
    Case(("dashboard", "nope://x", "--port", "0"), "unknown device scheme"),
    Case(("dashboard", "sim://mover", "--token", "abc"), "at least 8 characters"),
    Case(("dashboard", "sim://mover", "--port", "99999"), "port must lie in"),
    Case(("dashboard", "sim://mover", "--host", "10.255.255.1"), "not an address of this machine"),
    Case(("dashboard", "sim://mover", "--port", "0", "--record", "{existing}"), "--overwrite"),
    Case(("dashboard", "sim://mover", "--port", "0", "--record", "{nodir}/a.xdf"), "{nodir}"),
    Case(("dashboard", "sim://mover", "--duration", "0"), "duration", usage=True),
    Case(("dashboard", "sim://mover", "--osc", "nohost"), "host:port"),
    Case(("live", "nope://x"), "unknown device scheme"),
    Case(("live", "sim://mover", "--full-scale-uv", "0"), "--full-scale-uv must be > 0"),
    Case(("live", "sim://mover", "--record", "{existing}"), "--overwrite"),
    Case(("live", "sim://mover", "--osc", "127.0.0.1:x"), "not a number"),
    Case(("live", "sim://mover", "--checkpoint", "{missing}"), "does not exist"),
    Case(("report", "{missing}"), "no such file"),
    Case(("report", "{empty}"), "not an XDF file"),
    Case(("report", "{text}"), "not an XDF file"),
    Case(("report", "{xdf}", "-o", "{nodir}/r.html"), "{nodir}"),
    Case(("report", "{xdf}", "-o", "r.txt"), ".html"),
    # calibrate, profiles
    Case(("calibrate", "nosuch", "sim://mover"), "no calibration protocol 'nosuch'"),
    Case(("calibrate", "{text}", "sim://mover"), "not valid TOML"),
    Case(("calibrate", "{nodir}/p.toml", "sim://mover"), "cannot read the protocol file"),
    Case(("calibrate", "imu_still", "nope://x", "--yes", "--fast"), "unknown device scheme"),
    Case(("calibrate", "imu_still", "sim://mover", "--yes", "--fast", "--profiles-dir", "{text}"), "{text}"),
    Case(("profiles", "nosuchserial", "--dir", "{folder}"), "no profile for device"),
    Case(("profiles", "--dir", "{missing}"), "no such folder"),
    Case(("calibrate", "imu_still", "sim://mover", "--mistake", "x"), "STEP:ATTEMPT:KIND"),
    # sim
    Case(("sim",), "required", usage=True),
    Case(("sim", "generate", "out", "--movers", "0"), "movers must be >= 1"),
    Case(("sim", "generate", "out", "--shard", "3/2"), "shard must be"),
    Case(("sim", "generate", "{text}"), "{text}"),
    # predict
    Case(("predict", "nope://x", "--fast"), "unknown device scheme"),
    Case(("predict", "sim://mover?bogus=1", "--fast"), "bogus"),
    Case(("predict", "--checkpoint", "{missing}"), "{missing}"),
    Case(("predict", "--checkpoint", "{text}"), "checkpoint"),
    Case(("predict", "sim://mover?emg=2&duration_s=1", "--fast", "--no-lsl", "--osc", "off"), "do not match"),
    Case(("predict", "--osc", "localhost"), "host:port"),
    Case(("predict", "--condition", "eyes"), "inside_out"),
    Case(("predict", "--duration", "0"), "must be > 0", usage=True),
    Case(("predict", "-o", "{nodir}/p.png"), "{nodir}"),
    # train, finetune (the fusion model)
    Case(("train", "{missing}"), "neither a file nor a preset"),
    Case(("train", "{text}"), "not valid TOML"),
    Case(("train", "tiny", "--steps", "0"), "steps=0"),
    Case(("train", "tiny", "-o", "{text}"), "is a file"),
    Case(("finetune", "{missing}", "--data", "{folder}", "--mover", "m", "-o", "f.pt"), "no such file"),
    Case(("finetune", "{text}", "--data", "{folder}", "--mover", "m", "-o", "f.pt"), "not a readable"),
    Case(("finetune", "default", "--data", "{folder}", "--mover", "m", "-o", "{nodir}/f.pt"), "{nodir}"),
    Case(("finetune", "default", "--data", "{folder}", "--mover", "m", "-o", "f.txt"), ".pt"),
    Case(("finetune", "default", "--data", "{folder}", "--mover", "m", "-o", "f.pt", "--condition", "x"),
         "choose one of"),
    Case(("finetune", "default", "--mover", "m", "-o", "f.pt"), "--data", usage=True),
    # eval
    Case(("eval", "--data", "{missing}", "--out", "o"), "no such file"),
    Case(("eval", "--data", "{folder}", "--out", "o"), "not a take store"),
    Case(("eval", "--data", "{unknown_ext}", "--out", "o"), "not a take store"),
    Case(("eval", "--data", "{xdf}", "--out", "{existing}"), "a file is in the way"),
    Case(("eval", "--data", "{xdf}", "--out", "{nodir}/r"), "{nodir}"),
    Case(("eval", "--data", "{xdf}", "--out", "o", "--seeds", "x"), "--seeds"),
    Case(("eval", "--data", "{xdf}", "--out", "o", "--conditions", "camera,nope"), "nope"),
    Case(("eval", "--data", "{xdf}", "--out", "o", "--conditions", "all"), "include 'camera'"),
    Case(("eval", "--data", "{xdf}", "--out", "o", "--preset", "nope"), "invalid choice", usage=True),
    Case(("eval", "--out", "o"), "--data", usage=True),
    # no subcommand or an unknown one
    Case(("nosuchcommand",), "invalid choice", usage=True),
]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, str]:
    """Good and bad inputs, made once: a short real recording and its broken relatives."""
    d = tmp_path_factory.mktemp("bad-inputs")
    xdf = d / "s.xdf"
    assert main(["record", "sim://mover?realtime=0&duration_s=2", "-o", str(xdf), "--quiet"]) == 0
    data = xdf.read_bytes()
    (d / "trunc.xdf").write_bytes(data[: len(data) - 1000])  # cut inside the last chunk
    (d / "empty.xdf").write_bytes(b"")
    (d / "text.xdf").write_text("time,emg\n0,1\n")
    (d / "existing.xdf").write_bytes(data)
    (d / "s.foo").write_bytes(data)
    (d / "folder.xdf").mkdir()
    return {
        "xdf": str(xdf), "trunc": str(d / "trunc.xdf"), "empty": str(d / "empty.xdf"),
        "text": str(d / "text.xdf"), "existing": str(d / "existing.xdf"), "folder": str(d / "folder.xdf"),
        "unknown_ext": str(d / "s.foo"), "missing": str(d / "missing.xdf"), "nodir": str(d / "no" / "such"),
    }


def run_cli(*args: str, cwd: Path, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, "-m", "wearsense", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, stdin=subprocess.DEVNULL, timeout=120, **kw)


def test_every_subcommand_is_in_the_catalogue():
    missing = set(commands()) - {case.command for case in CATALOGUE}
    assert not missing, f"add bad-input cases for: {sorted(missing)}"


@pytest.mark.parametrize("case", CATALOGUE, ids=[" ".join(c.args) for c in CATALOGUE])
def test_bad_input_gets_one_clear_line(case, files, tmp_path):
    args = [a.format(**files) for a in case.args]
    proc = run_cli(*args, cwd=tmp_path)
    err = proc.stderr
    assert proc.returncode != 0, f"exit 0 on a bad input; stdout:\n{proc.stdout}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    if case.usage:  # argparse: "usage: ..." (possibly wrapped), then its one error line
        assert lines[0].startswith("usage: wearsense")
        lines = lines[next(i for i, line in enumerate(lines) if ": error:" in line):]
    assert lines and lines[0].startswith(case.prefix), err
    # one line says it; anything after it is an indented detail (e.g. the valid parameters)
    assert all(line.startswith(" ") for line in lines[1:]), err
    assert case.says.format(**files).lower() in lines[0].lower(), err


def test_a_closed_pipe_ends_quietly(files, tmp_path):
    """``wearsense info s.xdf | head -1``: the reader goes away; no traceback, status 141."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for args in (["info", files["xdf"]], ["devices"]):
        proc = subprocess.Popen([sys.executable, "-m", "wearsense", *args], cwd=tmp_path, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        proc.stdout.close()  # the reader is gone before the first line
        err = proc.stderr.read().decode()
        assert proc.wait(timeout=120) == 141, err
        assert err == "", err


BOMB = (
    "class Bomb:\n"  # its finaliser is interrupted: Python would print that and carry on
    "    def __del__(self):\n"
    "        signal.raise_signal(signal.SIGINT)\n"
    "        x = 1\n"
)


@pytest.mark.parametrize("where", ["in the import", "in a finaliser during the import"])
def test_ctrl_c_while_the_command_is_still_importing(tmp_path, where):
    """A real SIGINT arrives while ``record``'s modules are being imported."""
    interrupt = "    Bomb()\n" if "finaliser" in where else "    os.kill(os.getpid(), signal.SIGINT)\n"
    code = (
        "import os, signal, sys, wearsense.cli as cli\n"
        + BOMB
        + "real = cli.importlib.import_module\n"
        "def interrupted(name, *a):\n"
        + interrupt
        + "    return real(name, *a)\n"
        "cli.importlib.import_module = interrupted\n"
        "sys.exit(cli.main(['record', 'sim://mover', '-o', 'a.xdf']))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr == "wearsense record: interrupted\n"
    assert not (tmp_path / "a.xdf").exists()


@pytest.mark.parametrize(("code", "says"), [
    (errno.ENOSPC, "the disk is full"),
    (errno.EACCES, "choose a place you may write to"),
    (errno.EROFS, "read-only"),
])
def test_operating_system_errors_name_the_path_and_the_fix(monkeypatch, capsys, code, says):
    def fails(args):
        raise OSError(code, os.strerror(code), "/data/session.xdf")

    monkeypatch.setattr("wearsense.cli.devices.run", fails)
    assert main(["devices"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("wearsense devices: error: ") and "/data/session.xdf" in err and says in err


def test_debug_shows_the_traceback(tmp_path):
    proc = run_cli("--debug", "info", str(tmp_path / "missing.xdf"), cwd=tmp_path)
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_help_and_version_load_no_numerical_library(tmp_path):
    """`wearsense --help` reads the subcommands' names without importing them."""
    code = (
        "import sys\n"
        "from wearsense.cli import main\n"
        "for argv in (['--help'], ['--version']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = sorted(m for m in ('numpy', 'numba', 'scipy', 'matplotlib', 'torch', 'bleak', 'pylsl',\n"
        "                           'h5py', 'mne') if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
    assert "sync-report" in proc.stdout and "wearsense 0." in proc.stdout


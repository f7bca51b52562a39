"""The ``wearsense`` command line: thin subcommands over the library.

Each subcommand is one module in this package defining::

    NAME = "demo"                       # the subcommand
    HELP = "one line for --help"
    def add_arguments(parser): ...      # argparse options
    def run(args) -> int: ...           # exit status

Modules are discovered automatically, so adding a subcommand touches no shared file.
``NAME`` and ``HELP`` are read from each module's source (plain string literals), and
only the module of the command being run is imported: ``wearsense --help`` and
``--version`` load no numerical library.

What a user causes ends in one line on stderr, never a traceback (``--debug`` shows it):

- a library error (:class:`~wearsense.errors.WearsenseError`): its message, status 2;
- an operating-system error (missing folder, existing file, no permission, full disk):
  the path, the reason and what to do, status 2;
- Ctrl-C, even while the command's modules are still importing: status 130;
- a closed pipe (``wearsense info s.xdf | head -3``): silent, as ``cat`` is, status 141
  (128 + SIGPIPE, what a shell reports for a command killed by a broken pipe).
"""

from __future__ import annotations

import argparse
import ast
import errno
import importlib
import importlib.util
import logging
import os
import pkgutil
import signal
import sys
import threading
from collections.abc import Collection, Sequence
from pathlib import Path

from wearsense import __version__
from wearsense.errors import WearsenseError

#: exit status of a command killed by a broken pipe in a shell (128 + SIGPIPE)
EXIT_BROKEN_PIPE = 141

_FIXES = {
    errno.ENOENT: "check the path; a folder to write into must exist",
    errno.EEXIST: "something is in the way: choose another name or remove it; some commands take --overwrite",
    errno.EACCES: "choose a place you may write to, or change its permissions",
    errno.EPERM: "choose a place you may write to, or change its permissions",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.ENOSPC: "the disk is full; free some space or write to another disk",
    errno.EDQUOT: "your disk quota is used up; free some space or write elsewhere",
    errno.EISDIR: "a file was expected; give a file path, not a folder",
    errno.ENOTDIR: "a folder in the path is a file; check the path",
    errno.ENAMETOOLONG: "shorten the path",
}


def _literals(path: Path) -> dict[str, str]:
    """Module-level ``NAME = "..."`` and ``HELP = "..."`` of a source file, unimported."""
    found = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            key = node.targets[0].id
            if key in ("NAME", "HELP") and isinstance(node.value, ast.Constant):
                found[key] = node.value.value
    return found


def commands() -> dict[str, tuple[str, str]]:
    """Every subcommand: ``NAME -> (module name, HELP)``, sorted, without importing them."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module_name = f"{__name__}.{info.name}"
        spec = importlib.util.find_spec(module_name)
        origin = Path(spec.origin) if spec and spec.origin else None
        if origin is not None and origin.suffix == ".py":
            names = _literals(origin)
        else:  # not a plain source file (zip, compiled): import it to learn its name
            module = importlib.import_module(module_name)
            names = {"NAME": getattr(module, "NAME", None), "HELP": getattr(module, "HELP", "")}
        if isinstance(names.get("NAME"), str):
            found[names["NAME"]] = (module_name, names.get("HELP", ""))
    return dict(sorted(found.items()))


def build_parser(load: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser. Only the subcommands named in ``load`` (default: all) get
    their module imported and their arguments; the others are listed by name and help."""
    parser = argparse.ArgumentParser(
        prog="wearsense",
        description="Wearable EMG/IMU sensing, sync, recording and fusion with pose.",
    )
    parser.add_argument("--version", action="version", version=f"wearsense {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log more (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_) in commands().items():
        p = sub.add_parser(name, help=help_, description=help_)
        if load is None or name in load:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _command_in(argv: Sequence[str]) -> str | None:
    """The subcommand named in ``argv``: the first word that is not an option (the
    top-level options take no value)."""
    return next((a for a in argv if not a.startswith("-")), None)


def seconds_arg(text: str) -> float:
    """argparse type of a duration option: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds > 0, e.g. --duration 60; got {text!r}")
    return value


def describe_os_error(e: OSError) -> str:
    """One line: what failed, on which path, and what to do about it."""
    reason = e.strerror or str(e)
    where = f": {e.filename}" if e.filename is not None else ""
    if e.filename2 is not None:
        where += f" -> {e.filename2}"
    fix = _FIXES.get(e.errno)
    return f"{reason}{where}" + (f" ({fix})" if fix else "")


def _silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so that Python's flush at exit
    raises nothing more (the recipe in Python's ``signal`` documentation)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (a test's capture)
        pass
    finally:
        os.close(devnull)


def _setup_logging(verbose: int) -> None:
    if verbose:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger = logging.getLogger("wearsense")
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)


class _ImportGuard:
    """Ctrl-C while the command's modules import (seconds on a loaded machine) must end
    the command, every time. A KeyboardInterrupt that lands in a finaliser or callback
    during an import is "unraisable": Python prints it and carries on. So while guarded,
    Ctrl-C is also noted, unraisable interrupts stay silent, and :meth:`check` raises
    once the imports are done. Outside the main thread it does nothing."""

    def __init__(self) -> None:
        self.interrupted = False
        self._active = threading.current_thread() is threading.main_thread()

    def __enter__(self) -> _ImportGuard:
        if self._active:
            self._previous = signal.signal(signal.SIGINT, self._on_sigint)
            self._hook = sys.unraisablehook
            sys.unraisablehook = self._on_unraisable
        return self

    def __exit__(self, *exc: object) -> None:
        if self._active:
            signal.signal(signal.SIGINT, self._previous)
            sys.unraisablehook = self._hook

    def _on_sigint(self, signum, frame) -> None:
        self.interrupted = True
        raise KeyboardInterrupt

    def _on_unraisable(self, unraisable) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            self._hook(unraisable)

    def check(self) -> None:
        if self.interrupted:
            raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(argv)
    debug = "--debug" in argv
    label = f"wearsense {command}" if command else "wearsense"
    try:
        try:
            guard = _ImportGuard()
            with guard:  # the command's module imports here (seconds)
                parser = build_parser([command] if command else [])
                args = parser.parse_args(argv)
            guard.check()
            if args.command is None:
                parser.print_help()
                return 1
            _setup_logging(args.verbose)
            return int(args._run(args) or 0)
        finally:
            sys.stdout.flush()  # a closed pipe shows here, inside the handlers, not at exit
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"{label}: interrupted", file=sys.stderr)
        return 130
    except WearsenseError as e:  # before OSError: RecordingError is both
        if debug:
            raise
        print(f"{label}: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:
        if debug:
            raise
        print(f"{label}: error: {describe_os_error(e)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

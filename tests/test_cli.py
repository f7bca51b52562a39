"""The command line: subcommands are found, errors are one clear line with status 2."""

from wearsense.cli import main


def test_devices_lists_every_scheme(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    for scheme in ("sim://", "serial://", "replay://"):
        assert scheme in out


def test_devices_shows_parameters_of_one_scheme(capsys):
    assert main(["devices", "sim"]) == 0
    assert "drift_ppm (float" in capsys.readouterr().out


def test_library_errors_are_one_line_without_traceback(capsys):
    assert main(["devices", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wearsense devices: error: unknown device scheme 'nope'")
    assert "Traceback" not in err


def test_no_command_prints_help(capsys):
    assert main([]) == 1
    assert "demo" in capsys.readouterr().out


def test_library_never_chooses_the_plotting_backend():
    """Plot functions return a Figure (a notebook keeps its inline plots); only an application
    (the CLI, an example script) may pick a backend."""
    import pathlib

    import wearsense

    package = pathlib.Path(wearsense.__file__).parent
    offenders = [str(p.relative_to(package)) for p in package.rglob("*.py")
                 if "cli" not in p.relative_to(package).parts
                 and ("matplotlib.use(" in p.read_text() or "import matplotlib.pyplot" in p.read_text())]
    assert offenders == []

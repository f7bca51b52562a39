"""``wearsense profiles``: the calibration profiles stored per device serial."""

from __future__ import annotations

from wearsense.calibrate.profile import list_profiles, load_profile, profiles_dir, dumps_toml
from wearsense.errors import WearsenseError

NAME = "profiles"
HELP = "list the stored calibration profiles (one per device serial), or show one"


def add_arguments(parser) -> None:
    parser.add_argument("serial", nargs="?", help="show this device's whole profile")
    parser.add_argument(
        "--dir", help="profiles folder (default: $WEARSENSE_PROFILES_DIR or the user config folder)"
    )


def run(args) -> int:
    from pathlib import Path

    folder = args.dir or profiles_dir()
    if args.dir and not Path(args.dir).is_dir():
        raise WearsenseError(
            f"--dir {args.dir}: no such folder; give the folder 'wearsense calibrate' wrote the "
            "profiles to, or leave --dir out for the default"
        )
    if args.serial:
        profile = load_profile(args.serial, folder)
        if profile is None:
            raise WearsenseError(
                f"no profile for device {args.serial!r} in {folder}; "
                "'wearsense profiles' lists the serials there"
            )
        print(dumps_toml(profile.to_dict()), end="")
        return 0
    rows = list_profiles(folder)
    print(f"{len(rows)} profile(s) in {folder}")
    for path, p in rows:
        print(f"  {p.serial:<24} updated {p.updated}  {', '.join(p.sections)}  ({'; '.join(p.protocols)})")
    return 0

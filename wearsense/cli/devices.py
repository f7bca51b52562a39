"""``wearsense devices``: the URI schemes that can be opened, and each driver's parameters."""

from __future__ import annotations

from wearsense.devices import driver_class, schemes
from wearsense.errors import MissingDependencyError

NAME = "devices"
HELP = "list device URI schemes and their query parameters"


def add_arguments(parser) -> None:
    parser.add_argument("scheme", nargs="?", help="show the parameters of one scheme (e.g. sim)")


def run(args) -> int:
    names = [args.scheme.lower()] if args.scheme else schemes()
    for name in names:
        try:
            cls = driver_class(name, f"{name}://")
        except MissingDependencyError as e:
            print(f"{name}://  (unavailable: {e})")
            continue
        print(f"{name}://  {cls.summary}")
        if args.scheme:
            for p in cls.params:
                print(f"    {p.describe()}")
    return 0

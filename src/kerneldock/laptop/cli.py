"""The ``kerneldock`` command. ``main()`` is the only place that catches KerneldockError."""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..common.errors import KerneldockError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerneldock",
        description="Debug Jupyter kernels that run in containers on another machine.",
    )
    parser.add_argument("--version", action="version", version=f"kerneldock {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args) or 0
    except KerneldockError as error:
        print(f"kerneldock: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

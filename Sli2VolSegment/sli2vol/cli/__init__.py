"""``sli2vol`` command line: propagate, demo, train, export, evaluate.

Exit statuses: :mod:`sli2vol.errors` (``EXIT_*``); the error boundary: :mod:`sli2vol.cli.boundary`.
"""
from __future__ import annotations

import sys

from sli2vol.cli.boundary import OneLineParser, run_command


def build_parser() -> OneLineParser:
    # imported here so that importing sli2vol.cli.boundary (as crest does) does not pull in the
    # file readers (SimpleITK) of the sli2vol subcommands
    from sli2vol.cli import evaluate, propagate, train

    parser = OneLineParser(prog="sli2vol", description="Sli2Vol: annotate one slice, get the 3-D segment.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (propagate, train, evaluate):
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``sli2vol`` console script; returns the exit status."""
    return run_command("sli2vol", build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())

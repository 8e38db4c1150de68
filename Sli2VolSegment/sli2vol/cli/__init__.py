"""``sli2vol`` command line: propagate, demo, train, evaluate."""
from __future__ import annotations

import argparse
import sys

from sli2vol.cli import evaluate, propagate, train
from sli2vol.errors import InputError, ModelError, PropagationCancelled


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sli2vol", description="Sli2Vol: annotate one slice, get the 3-D segment.")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in (propagate, train, evaluate):
        module.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except (InputError, ModelError, PropagationCancelled, OSError) as exc:
        print(f"sli2vol {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"sli2vol {args.command}: interrupted; nothing was written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

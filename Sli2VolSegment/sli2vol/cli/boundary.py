"""The error boundary of both command lines (``sli2vol`` and ``crest``): the one place where
exceptions become a one-line message and an exit status (:mod:`sli2vol.errors`).

- argparse refusals (unknown option, a value its validator refused): one line, ``EXIT_USAGE``;
- expected failures (:class:`InputError`, :class:`ModelError`, cancellation, file-system errors and
  the CLI's own error types): one line naming the thing and the reason, ``EXIT_ERROR``;
- Ctrl-C: one line saying what was kept, ``EXIT_INTERRUPTED``;
- anything else (a bug): one line plus the path of a log file holding the full traceback, ``EXIT_INTERNAL``.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import traceback
from collections.abc import Sequence
from typing import Callable

from sli2vol.errors import (
    EXIT_ERROR,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    InputError,
    ModelError,
    PropagationCancelled,
    RunInterrupted,
    one_line,
)

EXPECTED = (InputError, ModelError, PropagationCancelled, OSError)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage block) and exit with ``EXIT_USAGE``."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def write_traceback(prog: str) -> str:
    """Write the current exception's traceback to a new temporary log file; returns its path."""
    with tempfile.NamedTemporaryFile("w", prefix=f"{prog}-error-", suffix=".log", delete=False) as log:
        log.write(f"{' '.join(sys.argv)}\n\n{traceback.format_exc()}")
    return log.name


def run_command(prog: str, parser: argparse.ArgumentParser, argv: Sequence[str] | None = None,
                expected: tuple = ()) -> int:
    """Parse ``argv`` and call ``args.run(args)``; returns the exit status, whatever happens.

    ``expected``: further exception types of the CLI that are expected failures (one line, ``EXIT_ERROR``).
    """
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or an argparse error already printed on one line
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    command = f"{prog} {args.command}"
    run: Callable = args.run
    try:
        return int(run(args) or EXIT_OK)
    except RunInterrupted as exc:
        print(f"{command}: {one_line(exc)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except KeyboardInterrupt:
        print(f"{command}: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except EXPECTED + tuple(expected) as exc:
        print(f"{command}: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 -- the boundary: any bug becomes one line and a log file
        log = write_traceback(prog)
        print(f"{command}: internal error ({type(exc).__name__}: {one_line(exc)[:200]}); "
              f"please report it with the traceback in {log}", file=sys.stderr)
        return EXIT_INTERNAL

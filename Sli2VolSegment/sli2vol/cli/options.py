"""Option validators shared by the ``sli2vol`` and ``crest`` command lines: every numeric option is
parsed by one of these, so a bad value is refused (one line, ``EXIT_USAGE``) before any work."""
from __future__ import annotations

import argparse
from typing import Callable

from sli2vol.engine.device import DEVICE_HELP, select_device
from sli2vol.engine.threads import apply_thread_policy
from sli2vol.errors import InputError
from sli2vol.validation import require, require_window


def number(integer: bool = False, **bounds) -> Callable[[str], float]:
    """An argparse ``type=`` for a finite number (an integer when ``integer``) within ``bounds``
    (``minimum``, ``above``, ``maximum``, ``below``, as :func:`sli2vol.validation.require`)."""
    def parse(text: str):
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            kind = "an integer" if integer else "a number"
            raise argparse.ArgumentTypeError(f"{kind} is needed, got {text!r}") from None
        try:
            require("value", value, integer=integer, **bounds)
        except InputError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
        return value

    parse.__name__ = "integer" if integer else "number"
    return parse


POSITIVE_INT = number(integer=True, minimum=1)
NON_NEGATIVE_INT = number(integer=True, minimum=0)
POSITIVE_FLOAT = number(above=0.0)
NON_NEGATIVE_FLOAT = number(minimum=0.0)
FINITE_FLOAT = number()
UNIT_INTERVAL = number(minimum=0.0, maximum=1.0)  # [0, 1]


def device_name(text: str) -> str:
    """An argparse ``type=`` for ``--device``: refused unless :func:`select_device` accepts it here."""
    try:
        select_device(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


class Window(argparse.Action):
    """``--window LOW HIGH`` (with ``type=FINITE_FLOAT, nargs=2``): refused unless LOW < HIGH."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            require_window("the window", values)
        except InputError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None
        setattr(namespace, self.dest, tuple(values))


def thread_count(text: str) -> int | str:
    """An argparse ``type=`` for ``--threads``: a whole number >= 1, or 'auto'."""
    return "auto" if text.strip().lower() == "auto" else POSITIVE_INT(text)


THREADS_HELP = "CPU threads for torch: a number, or 'auto' (default): the cores idle when the run starts"


def add_device_and_threads(parser: argparse.ArgumentParser, threads_help: str = THREADS_HELP,
                           threads_default: str | None = "auto") -> None:
    """``--device`` and ``--threads``, validated the same way in every command of both command lines."""
    parser.add_argument("--device", type=device_name, help=DEVICE_HELP)
    parser.add_argument("--threads", type=thread_count, default=threads_default, help=threads_help)


def set_threads(threads: int | str | None) -> int:
    """Apply ``--threads`` (None or "auto": the idle cores now, see :mod:`sli2vol.engine.threads`);
    returns the torch thread count."""
    return apply_thread_policy(threads)  # the value was checked by ``thread_count`` when parsed

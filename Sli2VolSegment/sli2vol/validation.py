"""Checks of configuration values, shared by the dataclass configs (``__post_init__``) and the
command lines' option validators, so a value is refused with the same one-line message either way."""
from __future__ import annotations

import math
import numbers
from typing import Any

from sli2vol.errors import InputError


def require(name: str, value: Any, *, integer: bool = False, minimum: float | None = None,
            above: float | None = None, maximum: float | None = None,
            below: float | None = None) -> None:
    """Raise :class:`InputError` quoting ``value`` unless it is a finite real number (an integer
    when ``integer``) with ``minimum <= value``, ``above < value``, ``value <= maximum`` and
    ``value < below`` (bounds that are None are not checked)."""
    kind = numbers.Integral if integer else numbers.Real
    if isinstance(value, bool) or not isinstance(value, kind):
        raise InputError(f"{name} must be {'an integer' if integer else 'a number'}, got {value!r}")
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value!r}")
    for bound, fails, words in ((minimum, lambda b: value < b, ">="), (above, lambda b: value <= b, ">"),
                                (maximum, lambda b: value > b, "<="), (below, lambda b: value >= b, "<")):
        if bound is not None and fails(bound):
            raise InputError(f"{name} must be {words} {bound:g}, got {value!r}")


def require_choice(name: str, value: Any, choices: tuple) -> None:
    """Raise :class:`InputError` unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise InputError(f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}")


def require_window(name: str, window) -> None:
    """An intensity window: two finite numbers, low < high."""
    if window is None:
        return
    if len(window) != 2:
        raise InputError(f"{name} must be two numbers (low, high), got {window!r}")
    for value in window:
        require(name, value)
    if not window[0] < window[1]:
        raise InputError(f"{name} must have low < high, got {tuple(window)}")

"""The ``--threads`` option shared by the ``sli2vol`` commands."""
from __future__ import annotations

from sli2vol.engine.threads import apply_thread_policy
from sli2vol.errors import InputError


def set_threads(threads: int | str | None) -> int:
    """Apply ``--threads`` (None or "auto": the idle cores now, see :mod:`sli2vol.engine.threads`);
    returns the torch thread count."""
    try:
        return apply_thread_policy("auto" if threads is None else threads)
    except ValueError as exc:
        raise InputError(f"--threads must be >= 1 or 'auto', got {threads!r}") from exc

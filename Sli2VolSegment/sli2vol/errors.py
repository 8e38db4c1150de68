"""The exceptions every layer raises for expected failures, and the command lines' exit statuses.

An expected failure (bad file, bad option, bad dataset, corrupt checkpoint, cancelled run) is one of
these exceptions; its message is one line naming the thing and the reason. Both command lines
(``sli2vol`` and ``crest``) exit with these statuses (see :mod:`sli2vol.cli.boundary`).
"""
from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1  # expected failure: bad input, option, file, dataset or model; nothing was written
EXIT_USAGE = 2  # argparse: unknown option or a value its validator refused; nothing was read or written
EXIT_INTERNAL = 3  # unexpected exception: one line on stderr, the traceback in a log file
EXIT_INTERRUPTED = 130  # Ctrl-C (or SIGTERM): the message says what was kept


class InputError(ValueError):
    """Image, mask, file, option or configuration value that cannot be used; the message says what is
    wrong."""


class ModelError(ValueError):
    """A model or checkpoint file is missing, unreadable, or not what the command needs."""


class PropagationCancelled(RuntimeError):
    """Raised when the cancel check returns True; nothing has been written."""


class RunInterrupted(Exception):
    """A run was stopped (Ctrl-C) after writing something; the message says what was kept and how to go on."""


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (its type's name when it has none)."""
    return " ".join(str(exc).split()) or type(exc).__name__

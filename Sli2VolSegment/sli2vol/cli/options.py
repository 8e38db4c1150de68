"""The ``--threads`` option shared by the ``sli2vol`` commands."""
from __future__ import annotations

import torch

from sli2vol.errors import InputError


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (None: leave torch's default)."""
    if threads is not None:
        if threads < 1:
            raise InputError(f"--threads must be >= 1, got {threads}")
        torch.set_num_threads(threads)

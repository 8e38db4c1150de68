"""Choosing the torch device: the one place every command and the Slicer layer go through."""
from __future__ import annotations

import torch

from sli2vol.errors import InputError

DEVICE_HELP = "cpu, cuda, cuda:N or mps (default: CUDA when available, else CPU)"
AUTO = ("", "auto")


def select_device(device: str | None = None) -> torch.device:
    """``device`` if given and usable here, else CUDA when available, else CPU.

    ``None``, ``""`` and ``"auto"`` choose automatically. Raises :class:`InputError` (one line) for a
    name torch does not know, a device type this project does not run on, or a device this machine
    lacks (CUDA without a CUDA build or GPU, a CUDA index beyond the GPUs present, MPS off a Mac).
    """
    if device is None or str(device).strip().lower() in AUTO:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(str(device).strip())
    except (RuntimeError, ValueError):
        raise InputError(f"device {device!r} is not a device name; use {DEVICE_HELP}") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise InputError(f"device {device!r} requested but CUDA is not available on this machine "
                             "(no NVIDIA GPU, or a CPU-only torch build); use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise InputError(f"device {device!r} requested but this machine has {torch.cuda.device_count()} "
                             "CUDA device(s)")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise InputError(f"device {device!r} requested but MPS (Apple GPU) is not available on this "
                             "machine")
    elif dev.type != "cpu":
        raise InputError(f"device {device!r} is not supported; use {DEVICE_HELP}")
    return dev

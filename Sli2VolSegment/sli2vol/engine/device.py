"""Choosing the torch device: the one place every command and the Slicer layer go through."""
from __future__ import annotations

from typing import Optional

import torch

from sli2vol.errors import InputError


def select_device(device: Optional[str] = None) -> torch.device:
    """``device`` if given, else CUDA when available, else CPU."""
    if device:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise InputError(f"device {device!r} requested but CUDA is not available")
        return dev
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")

"""Overlap and slice measures on label volumes."""
from __future__ import annotations

import numpy as np


def largest_slice(labels: np.ndarray, label: int, axis: int = 0) -> int:
    """Index along ``axis`` of the slice with the most voxels of ``label``."""
    other = tuple(a for a in range(labels.ndim) if a != axis)
    return int(np.argmax((labels == label).sum(axis=other)))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    """Dice coefficient of two boolean arrays (1.0 when both are empty)."""
    a, b = a.astype(bool), b.astype(bool)
    denom = a.sum() + b.sum()
    return 1.0 if denom == 0 else float(2.0 * (a & b).sum() / denom)

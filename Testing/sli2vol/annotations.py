"""Masks with one annotated slice, cut from full label volumes."""
from __future__ import annotations

import numpy as np


def one_slice_annotation(labels: np.ndarray, index: int, axis: int = 0) -> np.ndarray:
    """A mask holding only slice ``index`` (along ``axis``) of ``labels``."""
    mask = np.zeros_like(labels)
    sl = [slice(None)] * 3
    sl[axis] = index
    mask[tuple(sl)] = labels[tuple(sl)]
    return mask

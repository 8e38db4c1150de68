"""Regions of interest around a mask, aligned to the feature grid."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

ROI_QUANTUM_PX = 16  # ROI bounds snap to this grid so that neighbouring slices share features
ROI_SLACK_PX = 8  # extra room when a new ROI is placed, so that it serves several slices


class Roi(NamedTuple):
    """Rows [y0, y1) and columns [x0, x1) of a slice."""

    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y1), slice(self.x0, self.x1)

    def contains(self, other: "Roi") -> bool:
        return self.y0 <= other.y0 and self.x0 <= other.x0 and self.y1 >= other.y1 and self.x1 >= other.x1

    @property
    def area(self) -> int:
        return (self.y1 - self.y0) * (self.x1 - self.x0)


def full_frame(shape_hw: tuple[int, int]) -> Roi:
    return Roi(0, shape_hw[0], 0, shape_hw[1])


def roi_around(mask: np.ndarray, margin: int, quantum: int = ROI_QUANTUM_PX) -> Roi:
    """Bounding box of ``mask`` (H, W) grown by ``margin`` pixels, snapped outward to multiples of
    ``quantum`` (a multiple of the model stride) and clipped to the slice."""
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("cannot place a region of interest around an empty mask")

    def span(lo: int, hi: int, size: int) -> tuple[int, int]:
        start = max(0, (lo - margin) // quantum * quantum)
        stop = min(size, -(-(hi + 1 + margin) // quantum) * quantum)
        return start, stop

    y0, y1 = span(int(rows[0]), int(rows[-1]), h)
    x0, x1 = span(int(cols[0]), int(cols[-1]), w)
    return Roi(y0, y1, x0, x1)


def paste(crop: np.ndarray, roi: Roi, shape_hw: tuple[int, int]) -> np.ndarray:
    """A full-frame (H, W) array, zero outside ``roi``, holding ``crop``."""
    out = np.zeros(shape_hw, dtype=crop.dtype)
    out[roi.slices] = crop
    return out

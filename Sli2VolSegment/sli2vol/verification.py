"""The paper's verification module: reject propagated pixels that look like the previous background."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass
class VerificationConfig:
    enabled: bool = True
    ring_iterations: int = 5  # N = dilate(P, ring_iterations) - P
    closing_iterations: int = 2  # fill holes, dilate, erode, fill holes (0: fill holes only)


def intensity_references(prev_slice: np.ndarray, prev_mask: np.ndarray, ring_iterations: int) -> tuple[float, float]:
    """Mean intensity p inside the previous mask P and n in the ring N around it (both (H, W))."""
    ring = ndimage.binary_dilation(prev_mask, iterations=ring_iterations) & ~prev_mask
    p = float(prev_slice[prev_mask].mean())
    n = float(prev_slice[ring].mean()) if ring.any() else float("nan")
    return p, n


def verify_mask(
    prev_slice: np.ndarray,
    prev_mask: np.ndarray,
    next_slice: np.ndarray,
    propagated: np.ndarray,
    config: VerificationConfig = VerificationConfig(),
) -> np.ndarray:
    """Keep a propagated pixel only if its intensity on the next slice is closer to p than to n.

    Args:
        prev_slice, next_slice: (H, W) float intensities of slices i and i+1.
        prev_mask: (H, W) bool mask M_i on slice i.
        propagated: (H, W) bool mask propagated to slice i+1 by the network.
        config: ring width and morphological clean-up.

    Returns:
        (H, W) bool refined mask M_{i+1} (a new array; inputs untouched).
    """
    if not config.enabled or not prev_mask.any() or not propagated.any():
        return propagated.copy()
    p, n = intensity_references(prev_slice, prev_mask, config.ring_iterations)
    kept = propagated.copy()
    if np.isfinite(n):
        kept &= np.abs(next_slice - p) < np.abs(next_slice - n)
    kept = ndimage.binary_fill_holes(kept)
    if config.closing_iterations > 0 and kept.any():
        kept = ndimage.binary_dilation(kept, iterations=config.closing_iterations)
        kept = ndimage.binary_erosion(kept, iterations=config.closing_iterations, border_value=1)
        kept = ndimage.binary_fill_holes(kept)
    return kept

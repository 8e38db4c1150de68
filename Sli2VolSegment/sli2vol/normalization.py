"""Intensity normalisation of whole volumes to about [0, 1] before propagation or training."""
from __future__ import annotations

import numpy as np

CT_WINDOW_HU = (-300.0, 400.0)
PERCENTILES = (0.5, 99.5)


def looks_like_ct(volume: np.ndarray) -> bool:
    """Heuristic: Hounsfield units have air near -1000 and a large negative range."""
    low = float(np.percentile(volume, 1))
    return low < -500.0 and float(volume.max()) > 0.0


def intensity_window(volume: np.ndarray, mode: str = "auto") -> tuple[float, float]:
    """(low, high) window: the CT window [-300, 400] HU for CT, robust percentiles otherwise.

    ``mode``: ``"auto"`` (CT if the values look like HU), ``"ct"`` or ``"percentile"``.
    """
    if mode not in ("auto", "ct", "percentile"):
        raise ValueError(f"normalisation mode must be 'auto', 'ct' or 'percentile', got {mode!r}")
    if mode == "ct" or (mode == "auto" and looks_like_ct(volume)):
        return CT_WINDOW_HU
    sample = volume[:: max(1, volume.shape[0] // 64)]
    low, high = np.percentile(sample, PERCENTILES)
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def normalize_intensity(volume: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Map ``window`` linearly to [0, 1] and clip; returns a new float32 array."""
    low, high = window
    if not high > low:
        raise ValueError(f"intensity window must have high > low, got {window}")
    out = (volume.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)

"""Intensity normalisation of whole volumes to about [0, 1] before propagation or training."""
from __future__ import annotations

import numpy as np

from sli2vol.errors import InputError
from sli2vol.validation import require, require_choice, require_window

CT_WINDOW_HU = (-300.0, 400.0)
PERCENTILES = (0.5, 99.5)
NORMALIZATIONS = ("auto", "ct", "percentile")  # CT window if the values look like HU / always / percentiles

SAMPLE_SIZE = 2_000_000  # voxels used to estimate percentiles


def intensity_sample(volume: np.ndarray) -> np.ndarray:
    """An evenly strided sample of at most ~``SAMPLE_SIZE`` voxels (percentiles of large volumes)."""
    flat = volume.reshape(-1)
    return flat[:: max(1, flat.size // SAMPLE_SIZE)]


def looks_like_ct(sample: np.ndarray) -> bool:
    """Heuristic on an intensity sample: Hounsfield units have air near -1000 and positive tissue."""
    return float(np.percentile(sample, 1)) < -500.0 and float(sample.max()) > 0.0


def intensity_window(volume: np.ndarray, mode: str = "auto") -> tuple[float, float]:
    """(low, high) window: the CT window [-300, 400] HU for CT, robust percentiles otherwise.

    ``mode``: ``"auto"`` (CT if the values look like HU), ``"ct"`` or ``"percentile"``.
    """
    require_choice("normalization", mode, NORMALIZATIONS)
    sample = intensity_sample(volume)
    if mode == "ct" or (mode == "auto" and looks_like_ct(sample)):
        return CT_WINDOW_HU
    low, high = np.percentile(sample, PERCENTILES)
    if high <= low:
        high = low + 1.0
    return float(low), float(high)


def centred_window(values: np.ndarray, width: float) -> tuple[float, float]:
    """(low, high) window ``width`` wide (same units as ``values``, e.g. HU) centred on the median of
    ``values`` (the intensities under an annotation), so that the annotated structure and its
    surroundings get the full contrast whatever the tissue (fat, soft tissue, contrast-filled
    vessels, bone)."""
    require("window width", width, above=0.0)
    if values.size == 0:
        raise InputError("cannot centre an intensity window on an empty annotation")
    centre = float(np.median(values))
    return centre - width / 2.0, centre + width / 2.0


def normalize_intensity(volume: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """Map ``window`` linearly to [0, 1] and clip; returns a new float32 array."""
    require_window("intensity window", window)
    low, high = window
    out = (volume.astype(np.float32) - np.float32(low)) / np.float32(high - low)
    return np.clip(out, 0.0, 1.0, out=out)

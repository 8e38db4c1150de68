"""Writing RGB images as PNG files through SimpleITK (a base dependency: no imaging library needed)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sli2vol.io.atomic import atomic_path


def write_png(rgb: np.ndarray, path: str | Path) -> None:
    """Write an (H, W, 3) uint8 image to ``path`` atomically."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"expected an (H, W, 3) uint8 image, got {rgb.shape} {rgb.dtype}")
    with atomic_path(path, suffix=".png") as tmp:
        sitk.WriteImage(sitk.GetImageFromArray(rgb, isVector=True), str(tmp))

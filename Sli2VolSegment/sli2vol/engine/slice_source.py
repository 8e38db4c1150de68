"""Normalised, in-plane-isotropic slices of a volume along its first axis, produced on demand."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

from sli2vol.engine.normalization import normalize_intensity


def isotropic_shape(shape_hw: tuple[int, int], spacing_hw: tuple[float, float]) -> tuple[int, int]:
    """In-plane shape after resampling to square pixels of the finer in-plane spacing."""
    target = min(spacing_hw)
    return tuple(max(1, round(n * s / target)) for n, s in zip(shape_hw, spacing_hw))


def resample_labels(labels: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resampling of (N, H, W) integer labels to (N, *shape_hw)."""
    if labels.shape[1:] == tuple(shape_hw):
        return labels.copy()
    t = torch.from_numpy(labels.astype(np.float32))[:, None]
    out = F.interpolate(t, size=tuple(shape_hw), mode="nearest-exact")[:, 0]
    return out.numpy().astype(labels.dtype)


def resize_plane(plane: np.ndarray, shape_hw: tuple[int, int]) -> np.ndarray:
    """Bilinear resampling of one (H, W) float plane to ``shape_hw`` (pixel-area aligned)."""
    if plane.shape == tuple(shape_hw):
        return plane
    t = torch.from_numpy(np.ascontiguousarray(plane, dtype=np.float32))[None, None]
    return F.interpolate(t, size=tuple(shape_hw), mode="bilinear", align_corners=False)[0, 0].numpy()


class SliceSource:
    """Slices of ``stack`` (Z, H, W) normalised with ``window`` and resampled to ``shape_hw``.

    Only a few slices are kept in memory at a time, so cost follows the slices actually visited.
    """

    def __init__(self, stack: np.ndarray, window: tuple[float, float], shape_hw: tuple[int, int], cache: int = 4):
        self.stack = stack
        self.window = window
        self.shape_hw = tuple(shape_hw)
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._cache_size = cache

    def __len__(self) -> int:
        return self.stack.shape[0]

    def __getitem__(self, index: int) -> np.ndarray:
        """(H', W') float32 slice in [0, 1]."""
        if index in self._cache:
            self._cache.move_to_end(index)
            return self._cache[index]
        image = resize_plane(normalize_intensity(self.stack[index], self.window), self.shape_hw)
        self._cache[index] = image
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return image

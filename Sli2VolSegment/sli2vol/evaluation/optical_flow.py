"""Classical baseline: propagate a one-slice mask through a volume with dense optical flow (OpenCV DIS)."""
from __future__ import annotations

import cv2
import numpy as np

from sli2vol.engine.normalization import intensity_window, normalize_intensity

PRESETS = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_uint8(slice_hw: np.ndarray, window: tuple[float, float]) -> np.ndarray:
    """(H, W) intensities -> (H, W) uint8: ``window`` mapped to 0..255 (the engine's normalisation)."""
    return np.round(normalize_intensity(slice_hw, window) * 255.0).astype(np.uint8)


def warp_mask(mask: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Pull ``mask`` (H, W) bool along ``flow`` (H, W, 2; x then y, pixels): out(p) = mask(p + flow(p)) >= 0.5.

    Bilinear interpolation; pixels pulled from outside the slice are background.
    """
    h, w = mask.shape
    grid_y, grid_x = np.mgrid[0:h, 0:w].astype(np.float32)
    warped = cv2.remap(
        mask.astype(np.float32), grid_x + flow[..., 0], grid_y + flow[..., 1],
        interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0.0,
    )
    return warped >= 0.5


def propagate_optical_flow(
    image: np.ndarray,
    slice_mask: np.ndarray,
    index: int,
    axis: int = 0,
    normalization: str = "auto",
    preset: str = "medium",
) -> np.ndarray:
    """Propagate ``slice_mask`` from slice ``index`` along ``axis`` both ways, one slice at a time.

    For each step i -> j = i +- 1 the dense flow from slice j to slice i is computed on 8-bit slices
    (same intensity window as the Sli2Vol engine) and the mask of slice i is pulled onto slice j;
    each direction stops at the first empty mask.

    Args:
        image: (N0, N1, N2) intensities.
        slice_mask: (H, W) bool, the annotation on slice ``index`` (the plane orthogonal to ``axis``).
        index: annotated slice index along ``axis``.
        axis: array axis the slices are taken along (0, 1 or 2).
        normalization: "auto", "ct" or "percentile" (see :func:`intensity_window`).
        preset: DIS preset, "ultrafast", "fast" or "medium".

    Returns:
        (N0, N1, N2) bool prediction, equal to ``slice_mask`` on the annotated slice.
    """
    stack = np.moveaxis(image, axis, 0)
    window = intensity_window(image, normalization)
    flow_engine = cv2.DISOpticalFlow_create(PRESETS[preset])
    out = np.zeros(stack.shape, dtype=bool)
    out[index] = slice_mask
    for sign in (-1, 1):
        current, i = slice_mask.astype(bool), index
        while 0 <= i + sign < stack.shape[0] and current.any():
            j = i + sign
            flow = flow_engine.calc(to_uint8(stack[j], window), to_uint8(stack[i], window), None)
            current = warp_mask(current, flow)
            out[j] = current
            i = j
    return np.moveaxis(out, 0, axis)

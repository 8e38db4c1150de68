"""The demo's montage: a few slices of a volume with the annotation, the result and the truth
drawn over them, as one RGB image (numpy only, so the base install can make it)."""
from __future__ import annotations

import numpy as np

from sli2vol.engine.normalization import normalize_intensity

COLOURS = np.array([[230, 60, 60], [60, 200, 80], [70, 130, 240], [240, 200, 40], [200, 90, 220],
                    [60, 210, 210]], dtype=np.float32)  # label 1, 2, ... (cycled)
GAP = 4  # pixels between panels


def montage_slices(annotated: int, n_slices: int, rows: int = 4) -> list[int]:
    """``rows`` slice indices spread over the volume, the annotated slice first."""
    spread = np.linspace(0, n_slices - 1, rows + 2)[1:-1].round().astype(int)
    others = [int(k) for k in spread if k != annotated]
    return [annotated, *others[: rows - 1]]


def overlay(gray: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """(H, W) gray in [0, 1] with each label filled at 40 % opacity and outlined in full colour
    -> (H, W, 3) uint8."""
    rgb = np.repeat(gray[..., None] * 255.0, 3, axis=2)
    for value in (int(v) for v in np.unique(labels) if v):
        inside = labels == value
        interior = inside.copy()
        for shift, axis in ((1, 0), (-1, 0), (1, 1), (-1, 1)):
            interior &= np.roll(inside, shift, axis)
        edge = inside & ~interior
        colour = COLOURS[(value - 1) % len(COLOURS)]
        rgb[inside] = 0.6 * rgb[inside] + 0.4 * colour
        rgb[edge] = colour
    return rgb.round().astype(np.uint8)


def montage(image: np.ndarray, window: tuple, columns: list[np.ndarray], slices: list[int]) -> np.ndarray:
    """One row per slice index (axis 0), one column per label volume in ``columns`` (each (K, H, W),
    like ``image``), drawn over the image windowed to ``window``; panels are separated by white gaps."""
    h, w = image.shape[1:]
    out = np.full((len(slices) * (h + GAP) - GAP, len(columns) * (w + GAP) - GAP, 3), 255, np.uint8)
    for r, k in enumerate(slices):
        gray = normalize_intensity(image[k], window)
        for c, labels in enumerate(columns):
            out[r * (h + GAP): r * (h + GAP) + h, c * (w + GAP): c * (w + GAP) + w] = overlay(gray, labels[k])
    return out

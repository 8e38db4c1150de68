"""Synthetic 3-D phantoms: textured background with moving, deforming blobs (for tests and demos)."""
from __future__ import annotations

import numpy as np
from scipy import ndimage


def make_phantom(
    shape: tuple[int, int, int] = (48, 96, 96),
    n_structures: int = 2,
    seed: int = 0,
    noise: float = 8.0,
) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """A CT-like phantom in HU with ``n_structures`` labelled blobs.

    Each blob is an ellipse whose centre drifts and whose radii swell and shrink along axis 0; the
    background is smooth random texture (so slices can be matched) plus noise.

    Returns:
        image: (Z, Y, X) float32 HU-like values.
        labels: (Z, Y, X) uint8, 0 = background, 1..n_structures.
        spacing: (sz, sy, sx) mm.
    """
    rng = np.random.default_rng(seed)
    z, y, x = shape
    texture = ndimage.gaussian_filter(rng.normal(size=shape), sigma=(2.0, 3.0, 3.0))
    texture /= np.abs(texture).max() + 1e-6
    image = 40.0 + 60.0 * texture
    labels = np.zeros(shape, dtype=np.uint8)
    yy, xx = np.mgrid[0:y, 0:x].astype(np.float32)
    t = np.linspace(0.0, 1.0, z)
    for k in range(n_structures):
        cy0, cx0 = rng.uniform(0.3, 0.7) * y, (k + 1) / (n_structures + 1) * x
        drift = rng.uniform(-0.12, 0.12, size=2) * np.array([y, x])
        ry0, rx0 = rng.uniform(0.08, 0.14) * y, rng.uniform(0.06, 0.1) * x
        z_lo, z_hi = int(0.15 * z), int(0.85 * z)
        for i in range(z_lo, z_hi):
            phase = (i - z_lo) / max(z_hi - z_lo - 1, 1)
            swell = np.sin(np.pi * phase) ** 0.5
            cy = cy0 + drift[0] * (t[i] - 0.5)
            cx = cx0 + drift[1] * (t[i] - 0.5)
            ry = max(2.0, ry0 * swell * (1 + 0.2 * np.sin(3 * t[i])))
            rx = max(2.0, rx0 * swell * (1 + 0.2 * np.cos(2 * t[i])))
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
            labels[i][inside & (labels[i] == 0)] = k + 1
    for k in range(n_structures):
        image[labels == k + 1] = 150.0 + 60.0 * k + 25.0 * texture[labels == k + 1]
    image += rng.normal(scale=noise, size=shape)
    return image.astype(np.float32), labels, (2.0, 1.0, 1.0)

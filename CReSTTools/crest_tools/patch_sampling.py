"""Cutting 2-D patches in anatomical planes out of oriented 3-D volumes (numpy / scipy only).

Volumes are numpy arrays indexed (k, j, i) -- the order of ``slicer.util.arrayFromVolume`` -- with a
4x4 ``ijk_to_ras`` matrix mapping (i, j, k, 1) voxel indices to RAS millimetres. Patches are cut in
RAS planes whatever the volume's orientation (oblique volumes included), by trilinear interpolation.
"""

from __future__ import annotations

import numpy as np

from .export_settings import ExportSettings

# In-plane directions (columns u, rows v) in RAS, as Slicer shows the planes: image right = patient
# left, image down = posterior (axial) or inferior (coronal, sagittal); sagittal image right = posterior.
SLAB_VOXELS = 1_000_000  # target voxels looked up at once when resampling a mask

PLANE_AXES = {
    "axial": ((-1.0, 0.0, 0.0), (0.0, -1.0, 0.0)),
    "coronal": ((-1.0, 0.0, 0.0), (0.0, 0.0, -1.0)),
    "sagittal": ((0.0, -1.0, 0.0), (0.0, 0.0, -1.0)),
}


def kji_to_ras(points_kji: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """(n, 3) RAS points of (n, 3) voxel positions given in (k, j, i) order."""
    ijk = np.asarray(points_kji, dtype=np.float64)[:, ::-1]
    return ijk @ ijk_to_ras[:3, :3].T + ijk_to_ras[:3, 3]


def ras_to_kji(points_ras: np.ndarray, ijk_to_ras: np.ndarray) -> np.ndarray:
    """(n, 3) continuous (k, j, i) voxel positions of (n, 3) RAS points."""
    ras_to_ijk = np.linalg.inv(ijk_to_ras)
    ijk = np.asarray(points_ras, dtype=np.float64) @ ras_to_ijk[:3, :3].T + ras_to_ijk[:3, 3]
    return ijk[:, ::-1]


def resample_mask(mask: np.ndarray, mask_ijk_to_ras: np.ndarray, shape: tuple, ijk_to_ras: np.ndarray) -> np.ndarray:
    """A binary mask given on its own grid, resampled (nearest voxel) onto another grid of ``shape``.

    A mask on the same grid up to a whole-voxel shift (a cropped segment labelmap) is copied;
    otherwise only target voxels inside the bounding box of the mask's voxels are looked up, a few
    slices at a time.
    """
    out = np.zeros(shape, dtype=bool)
    inside = np.argwhere(mask)
    if inside.size == 0:
        return out
    to_target = np.linalg.inv(ijk_to_ras) @ mask_ijk_to_ras  # mask (i, j, k) -> target (i, j, k)
    shift = to_target[:3, 3][::-1]  # in (k, j, i)
    if np.allclose(to_target[:3, :3], np.eye(3), atol=1e-6) and np.allclose(shift, np.rint(shift), atol=1e-6):
        target = inside + np.rint(shift).astype(int)
        keep = np.all((target >= 0) & (target < shape), axis=1)
        out[tuple(target[keep].T)] = True
        return out
    lo, hi = inside.min(axis=0), inside.max(axis=0)
    corners = np.array([[c[0], c[1], c[2]] for c in np.ndindex(2, 2, 2)]) * (hi - lo + 1) + lo - 0.5
    box = ras_to_kji(kji_to_ras(corners, mask_ijk_to_ras), ijk_to_ras)
    start = np.clip(np.floor(box.min(axis=0)).astype(int), 0, shape)
    stop = np.clip(np.ceil(box.max(axis=0)).astype(int) + 1, 0, shape)
    if np.any(stop <= start):
        return out
    rows = np.stack(np.meshgrid(*[np.arange(a, b) for a, b in zip(start[1:], stop[1:])], indexing="ij"), -1)
    rows = rows.reshape(-1, 2)
    step = max(1, SLAB_VOXELS // len(rows))
    for k0 in range(start[0], stop[0], step):
        ks = np.arange(k0, min(k0 + step, stop[0]))
        target = np.concatenate([np.repeat(ks, len(rows))[:, None], np.tile(rows, (len(ks), 1))], axis=1)
        source = np.rint(ras_to_kji(kji_to_ras(target, ijk_to_ras), mask_ijk_to_ras)).astype(int)
        valid = np.all((source >= 0) & (source < mask.shape), axis=1)
        hits = np.zeros(len(target), dtype=bool)
        hits[valid] = mask[tuple(source[valid].T)] > 0
        out[tuple(target[hits].T)] = True
    return out


def volume_window(volume: np.ndarray, settings: ExportSettings) -> tuple[float, float]:
    """The intensity window of a volume: the settings' one, or the 1st..99th percentile (1M-voxel sample)."""
    if settings.window is not None:
        return settings.window
    values = volume.ravel()
    if values.size > 1_000_000:
        values = values[:: values.size // 1_000_000]
    lo, hi = np.percentile(values, [1.0, 99.0])
    return (float(lo), float(hi) if hi > lo else float(lo) + 1.0)


def sample_patches(
    volume: np.ndarray,
    ijk_to_ras: np.ndarray,
    centres_kji: np.ndarray,
    plane: str,
    settings: ExportSettings,
    window: tuple[float, float],
) -> np.ndarray:
    """Patches (n, C, P, P) uint8 centred on voxels ``centres_kji`` (n, 3) in one anatomical plane.

    Pixel (r, c) of channel ch lies at centre + (c - P//2) * s * u + (r - P//2) * s * v +
    (ch - C//2) * d * normal, with s = settings.pixel_mm and d = channel spacing; intensities are
    interpolated trilinearly (outside the volume: the window's low end) and mapped lo..hi -> 0..255.
    """
    from scipy.ndimage import map_coordinates

    size, channels = settings.patch_px, settings.channels
    spacing = settings.pixel_mm
    depth = settings.channel_spacing_mm or spacing
    u, v = (np.asarray(a) for a in PLANE_AXES[plane])
    normal = np.cross(u, v)
    offsets = np.arange(size) - size // 2
    layers = np.arange(channels) - channels // 2
    grid = (
        layers[:, None, None, None] * depth * normal
        + offsets[None, :, None, None] * spacing * v
        + offsets[None, None, :, None] * spacing * u
    )  # (C, P, P, 3) RAS offsets
    centres = kji_to_ras(np.asarray(centres_kji).reshape(-1, 3), ijk_to_ras)
    points = (centres[:, None, None, None, :] + grid[None]).reshape(-1, 3)
    lo, hi = window
    values = map_coordinates(
        volume.astype(np.float32, copy=False), ras_to_kji(points, ijk_to_ras).T, order=1, cval=lo
    )
    scaled = np.clip((values - lo) / (hi - lo), 0.0, 1.0) * 255.0
    return np.rint(scaled).astype(np.uint8).reshape(len(centres), channels, size, size)


def choose_centres(mask: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    """(min(count, voxels), 3) distinct (k, j, i) voxels of ``mask`` drawn uniformly."""
    voxels = np.argwhere(mask)
    if len(voxels) <= count:
        return voxels
    return voxels[np.sort(rng.choice(len(voxels), count, replace=False))]


def patches_for_segment(voxels: int, settings: ExportSettings) -> int:
    """Patch centres of a segment of ``voxels`` voxels: one per voxels_per_patch, 1 .. max (0 if empty)."""
    if voxels == 0:
        return 0
    return int(min(settings.max_patches_per_segment, max(1, voxels // settings.voxels_per_patch)))

"""Patch geometry on numpy volumes: planes, channels, window, and masks resampled between grids."""

from __future__ import annotations

import numpy as np
import pytest
from crest_tools import patch_sampling
from crest_tools.export_settings import ExportSettings
from crest_tools.patch_sampling import resample_mask, sample_patches


def test_axial_patch_at_voxel_spacing_is_the_slice_in_display_orientation():
    rng = np.random.default_rng(0)
    volume = rng.integers(0, 256, (9, 20, 20)).astype(np.float32)
    settings = ExportSettings(patch_px=5, patch_mm=5.0, channels=3, window=(0, 255))
    k, j, i = 4, 10, 11
    patch = sample_patches(volume, np.eye(4), np.array([[k, j, i]]), "axial", settings, (0, 255))[0]
    offsets = np.arange(5) - 2
    # image right = patient left (-R, i decreasing), image down = posterior (j decreasing); channel = +S
    expected = volume[k - 1 : k + 2][:, j - offsets][:, :, i - offsets]
    assert np.array_equal(patch, expected.astype(np.uint8))


def test_window_maps_to_0_255_and_outside_is_the_low_end():
    volume = np.full((3, 6, 6), 50.0, dtype=np.float32)
    settings = ExportSettings(patch_px=8, patch_mm=8.0, window=(0, 100))
    patch = sample_patches(volume, np.eye(4), np.array([[1, 0, 0]]), "coronal", settings, (0, 100))[0, 0]
    assert set(np.unique(patch)) == {0, 128}  # 50 -> 127.5 -> 128; outside the volume -> 0


def random_mask(shape, seed):
    rng = np.random.default_rng(seed)
    mask = np.zeros(shape, dtype=bool)
    mask[2:-2, 3:-1, 1:-3] = rng.random((shape[0] - 4, shape[1] - 4, shape[2] - 4)) > 0.5
    return mask


def test_shifted_copy_matches_the_lookup_and_slabs_match_one_pass(monkeypatch):
    grid = np.diag([0.8, 0.8, 2.0, 1.0])
    grid[:3, 3] = (-5.0, 3.0, 1.0)
    mask = random_mask((6, 9, 8), 1)
    cropped = grid.copy()
    cropped[:3, 3] += grid[:3, :3] @ np.array([4.0, 2.0, 3.0])  # mask starts at voxel (i, j, k) = (4, 2, 3)
    copied = resample_mask(mask, cropped, (12, 16, 16), grid)
    assert copied.sum() == mask.sum() and np.array_equal(copied[3:9, 2:11, 4:12], mask)
    nudged = cropped.copy()
    nudged[:3, 3] += 1e-3  # no longer a whole-voxel shift: the lookup path, same nearest voxels
    assert np.array_equal(resample_mask(mask, nudged, (12, 16, 16), grid), copied)
    monkeypatch.setattr(patch_sampling, "SLAB_VOXELS", 10)
    assert np.array_equal(resample_mask(mask, nudged, (12, 16, 16), grid), copied)


@pytest.mark.parametrize("factor", [2, 3])
def test_coarser_mask_covers_exactly_the_fine_voxels_inside_its_voxels(factor):
    mask = random_mask((5, 7, 6), factor)
    coarse = np.diag([factor, factor, factor, 1.0])
    coarse[:3, 3] = (factor - 1) / 2  # coarse voxel c spans fine voxels c * factor ... c * factor + factor - 1
    fine = resample_mask(mask, coarse, tuple(factor * s for s in mask.shape), np.eye(4))
    expected = mask
    for axis in range(3):
        expected = np.repeat(expected, factor, axis=axis)
    assert np.array_equal(fine, expected)

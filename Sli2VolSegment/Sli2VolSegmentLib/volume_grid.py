"""Segments <-> numpy label arrays on the source volume's voxel grid (no shifted voxel either way)."""
from __future__ import annotations

import numpy as np


def volume_array(volume_node) -> np.ndarray:
    """(K, J, I) view of a scalar volume node's voxels (not a copy; never modify it)."""
    raise NotImplementedError


def ijk_to_ras(volume_node) -> np.ndarray:
    """(4, 4) voxel -> world RAS matrix of ``volume_node``, its linear parent transforms included."""
    raise NotImplementedError


def spacing_kji(volume_node) -> tuple:
    """Voxel size in mm along the (K, J, I) array axes."""
    raise NotImplementedError


def segment_on_volume_grid(segmentation_node, segment_id: str, volume_node) -> np.ndarray:
    """(K, J, I) bool: the segment resampled (nearest neighbour) onto the volume's voxel grid."""
    raise NotImplementedError


def oriented_image_on_volume_grid(mask: np.ndarray, volume_node):
    """vtkOrientedImageData holding ``mask`` (K, J, I) on the volume's grid."""
    raise NotImplementedError


def resample_to_geometry(image, reference):
    """``image`` (vtkOrientedImageData) resampled by nearest neighbour onto ``reference``'s geometry
    and extent; an exact copy when the grids coincide."""
    raise NotImplementedError

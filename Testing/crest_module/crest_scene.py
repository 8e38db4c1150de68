"""A slicer-core scene of synthetic volumes whose segments each have their own intensity.

Volumes (i, j, k) = (24, 24, 12) voxels, background intensity 10; segment intensities are class
constants (INTENSITY), so a patch centre's value tells which segment it was cut from:

- "axial": axis-aligned, spacing 1 x 1 x 2 mm; segments "liver", "spleen", "kidney".
- "oblique": rotated 30 degrees about S and 20 about R; segments "Liver" (class names compare
  case-insensitively, so it joins "liver"), "spleen", "kidney".
- "finer": axis-aligned; its segmentation has a 2x finer grid shifted by -0.2 voxel (a geometry
  different from the volume); segments "liver", "left kidney" (mapped to "kidney"), "skip me".
- "plain": no segmentation (unlabelled).
"""

from __future__ import annotations

import numpy as np
import slicer
from Sli2VolSegmentLib.volume_grid import vtk_matrix_from_numpy

SHAPE_KJI = (12, 24, 24)
BACKGROUND = 10
INTENSITY = {"liver": 100, "spleen": 200, "kidney": 150, "skip me": 50}
# segment blocks in (k, j, i) voxel ranges of the volume grid
BLOCKS = {
    "liver": (slice(2, 10), slice(2, 14), slice(2, 14)),  # 8 * 12 * 12 = 1152 voxels
    "spleen": (slice(3, 9), slice(15, 21), slice(15, 21)),  # 6 * 6 * 6 = 216
    "kidney": (slice(4, 7), slice(16, 20), slice(3, 7)),  # 3 * 4 * 4 = 48
    "skip me": (slice(4, 8), slice(4, 8), slice(17, 21)),
}


def rotation(degrees_s: float, degrees_r: float) -> np.ndarray:
    a, b = np.radians(degrees_s), np.radians(degrees_r)
    about_s = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
    about_r = np.array([[1, 0, 0], [0, np.cos(b), -np.sin(b)], [0, np.sin(b), np.cos(b)]])
    return about_r @ about_s


def ijk_to_ras(spacing=(1.0, 1.0, 2.0), origin=(-12.0, -12.0, -12.0), rotate=None) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = (np.eye(3) if rotate is None else rotate) @ np.diag(spacing)
    matrix[:3, 3] = origin
    return matrix


def add_volume(scene, name: str, array: np.ndarray, matrix: np.ndarray, node_class: str = "vtkMRMLScalarVolumeNode"):
    """A volume node of ``array`` (k, j, i) or (k, j, i, components) with ijk_to_ras ``matrix``."""
    import vtk
    from vtk.util.numpy_support import numpy_to_vtk

    node = scene.AddNewNodeByClass(node_class, name)
    image = vtk.vtkImageData()
    image.SetDimensions(array.shape[2], array.shape[1], array.shape[0])
    components = array.shape[3] if array.ndim == 4 else 1
    voxels = np.ascontiguousarray(array).reshape(-1, components) if components > 1 else np.ravel(array)
    image.GetPointData().SetScalars(numpy_to_vtk(np.ascontiguousarray(voxels), deep=True))
    node.SetAndObserveImageData(image)
    node.SetIJKToRASMatrix(vtk_matrix_from_numpy(matrix))
    return node


def add_segment(segmentation_node, name: str, mask: np.ndarray, matrix: np.ndarray) -> str:
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    image = slicer.vtkOrientedImageData()
    image.SetDimensions(mask.shape[2], mask.shape[1], mask.shape[0])
    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    vtk_to_numpy(image.GetPointData().GetScalars())[:] = mask.astype(np.uint8).ravel()
    image.SetImageToWorldMatrix(vtk_matrix_from_numpy(matrix))
    segment_id = segmentation_node.GetSegmentation().AddEmptySegment("", name)
    assert slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(image, segmentation_node, segment_id)
    return segment_id


def synthetic_volume(names) -> np.ndarray:
    array = np.full(SHAPE_KJI, BACKGROUND, dtype=np.int16)
    for name in names:
        array[BLOCKS[name]] = INTENSITY[name]
    return array


def block_mask(name: str, upsample: int = 1) -> np.ndarray:
    mask = np.zeros(SHAPE_KJI, dtype=bool)
    mask[BLOCKS[name]] = True
    for axis in range(3):
        mask = np.repeat(mask, upsample, axis=axis)
    return mask


def add_segmented_volume(scene, name, segments, matrix, segmentation_matrix=None, upsample=1):
    """Volume ``name`` with one segment per (segment name, block name); returns (volume, segmentation)."""
    volume = add_volume(scene, name, synthetic_volume([block for _, block in segments]), matrix)
    segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", name + " segmentation")
    segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
    for segment_name, block in segments:
        add_segment(segmentation, segment_name, block_mask(block, upsample),
                    matrix if segmentation_matrix is None else segmentation_matrix)
    return volume, segmentation

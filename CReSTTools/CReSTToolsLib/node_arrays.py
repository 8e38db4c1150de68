"""MRML nodes -> numpy arrays and RAS matrices, without adding or changing any node of the scene."""

from __future__ import annotations

import numpy as np
from Sli2VolSegmentLib.volume_grid import vtk_matrix_to_numpy


def _to_world(node) -> np.ndarray:
    """4x4 matrix of the node's parent transforms, chained to world RAS (identity without one).

    Raises:
        ValueError: a transform of the chain is not linear.
    """
    import slicer
    import vtk

    parent = node.GetParentTransformNode()
    if parent is None:
        return np.eye(4)
    if not parent.IsTransformToWorldLinear():
        raise ValueError(
            f"{node.GetName()!r} is under the non-linear transform {parent.GetName()!r} (or one above it), "
            "which is not supported; harden the transform first"
        )
    matrix = vtk.vtkMatrix4x4()
    slicer.vtkMRMLTransformNode.GetMatrixTransformBetweenNodes(parent, None, matrix)
    return vtk_matrix_to_numpy(matrix)


def volume_array(volume_node) -> tuple[np.ndarray, np.ndarray]:
    """(array (k, j, i) -- a read-only view of the voxels, ijk_to_ras 4x4 in world RAS) of a scalar volume.

    Raises:
        ValueError: no image data, or more than one component per voxel.
    """
    import slicer
    import vtk

    image = volume_node.GetImageData()
    if image is None:
        raise ValueError(f"volume {volume_node.GetName()!r} has no image data")
    if image.GetNumberOfScalarComponents() != 1:
        raise ValueError(
            f"volume {volume_node.GetName()!r} has {image.GetNumberOfScalarComponents()} components per voxel; "
            "a scalar volume is needed"
        )
    array = slicer.util.arrayFromVolume(volume_node).view()
    array.flags.writeable = False
    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return array, _to_world(volume_node) @ vtk_matrix_to_numpy(matrix)


def segment_array(segmentation_node, segment_id: str) -> tuple[np.ndarray, np.ndarray]:
    """(bool mask (k, j, i), ijk_to_ras 4x4 in world RAS) of one segment, in the segmentation's own geometry.

    Segments sharing a labelmap layer are told apart by their label value. The parent transforms are
    chained here as for volumes: Slicer's own ``applyParentTransform`` composes a chain of two linear
    transforms in the reverse order (slicer-core 5.12).

    Raises:
        ValueError: no binary labelmap, or a parent transform is not linear.
    """
    import slicer
    import vtk
    from vtk.util.numpy_support import vtk_to_numpy

    image = slicer.vtkOrientedImageData()
    logic = slicer.vtkSlicerSegmentationsModuleLogic
    if not logic.GetSegmentBinaryLabelmapRepresentation(segmentation_node, segment_id, image, False):
        raise ValueError(f"segment {segment_id!r} of {segmentation_node.GetName()!r} has no binary labelmap")
    extent = image.GetExtent()
    to_world = _to_world(segmentation_node)
    if extent[1] < extent[0] or image.GetPointData().GetScalars() is None:
        return np.zeros((1, 1, 1), dtype=bool), np.eye(4)
    shape = (extent[5] - extent[4] + 1, extent[3] - extent[2] + 1, extent[1] - extent[0] + 1)
    values = vtk_to_numpy(image.GetPointData().GetScalars()).reshape(shape)
    label = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
    matrix = vtk.vtkMatrix4x4()
    image.GetImageToWorldMatrix(matrix)
    start = np.eye(4)
    start[:3, 3] = (extent[0], extent[2], extent[4])  # array index 0 is the extent's first voxel
    return values == label, to_world @ vtk_matrix_to_numpy(matrix) @ start

"""Segments <-> numpy label arrays on the source volume's voxel grid (no shifted voxel either way).

Arrays are (K, J, I) like ``slicer.util.arrayFromVolume``. Segments are resampled by nearest
neighbour, so where the segmentation's grid coincides with the volume's (the usual case: the
segmentation's reference geometry is the source volume) every voxel maps to itself; a segmentation
with another spacing, a cropped extent or other directions is resampled onto the volume grid for
propagation and the result back onto the segmentation's grid.
"""
from __future__ import annotations

import numpy as np
from sli2vol.errors import InputError


def _slicer():
    import slicer  # slicer-core or the Slicer application; imported lazily

    return slicer


def vtk_matrix_to_numpy(matrix) -> np.ndarray:
    """The (4, 4) array of a vtkMatrix4x4."""
    return np.array([[matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def vtk_matrix_from_numpy(array: np.ndarray):
    """A vtkMatrix4x4 holding the (4, 4) ``array``."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def check_untransformed(*nodes) -> None:
    """Raise :class:`InputError` when a node is under a transform (harden it first)."""
    for node in nodes:
        if node.GetParentTransformNode() is not None:
            raise InputError(
                f"'{node.GetName()}' is under the transform '{node.GetParentTransformNode().GetName()}': "
                "harden the transform first (Data module: right-click > Harden transform)"
            )


def volume_array(volume_node) -> np.ndarray:
    """(K, J, I) view of a scalar volume node's voxels (not a copy; never modify it)."""
    from vtk.util import numpy_support

    image = volume_node.GetImageData() if volume_node is not None else None
    if image is None or image.GetPointData().GetScalars() is None:
        raise InputError("the source volume has no voxels: choose a loaded scalar volume")
    if image.GetNumberOfScalarComponents() != 1:
        raise InputError(f"the source volume '{volume_node.GetName()}' has "
                         f"{image.GetNumberOfScalarComponents()} components per voxel; Sli2Vol needs a scalar volume")
    dims = image.GetDimensions()
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1])


def ijk_to_ras(volume_node) -> np.ndarray:
    """(4, 4) voxel (i, j, k) -> RAS mm matrix of ``volume_node``."""
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume_node.GetIJKToRASMatrix(matrix)
    return vtk_matrix_to_numpy(matrix)


def spacing_kji(volume_node) -> tuple:
    """Voxel size in mm along the (K, J, I) array axes."""
    return tuple(float(s) for s in volume_node.GetSpacing()[::-1])


def volume_geometry(volume_node):
    """An empty vtkOrientedImageData with the volume's voxel grid (extent and IJK -> RAS)."""
    geometry = _slicer().vtkOrientedImageData()
    geometry.SetExtent(volume_node.GetImageData().GetExtent())
    geometry.SetGeometryFromImageToWorldMatrix(vtk_matrix_from_numpy(ijk_to_ras(volume_node)))
    return geometry


def oriented_image_array(image) -> np.ndarray:
    """(K, J, I) view of a vtkOrientedImageData's scalars (zeros of its extent's shape when it has none)."""
    from vtk.util import numpy_support

    dims = image.GetDimensions()
    if image.GetPointData().GetScalars() is None or min(dims) <= 0:
        return np.zeros(tuple(max(d, 0) for d in dims[::-1]), np.uint8)
    return numpy_support.vtk_to_numpy(image.GetPointData().GetScalars()).reshape(dims[::-1])


def oriented_image_from_array(mask: np.ndarray, geometry):
    """A new vtkOrientedImageData with ``geometry``'s grid holding ``mask`` (K, J, I) as uint8."""
    from vtk.util import numpy_support

    image = _slicer().vtkOrientedImageData()
    image.SetExtent(geometry.GetExtent())
    image.CopyDirections(geometry)
    image.SetSpacing(geometry.GetSpacing())
    image.SetOrigin(geometry.GetOrigin())
    dims = image.GetDimensions()
    if mask.shape != tuple(dims[::-1]):
        raise ValueError(f"mask shape {mask.shape} does not match the grid {tuple(dims[::-1])}")
    import vtk

    image.AllocateScalars(vtk.VTK_UNSIGNED_CHAR, 1)
    numpy_support.vtk_to_numpy(image.GetPointData().GetScalars())[:] = np.ascontiguousarray(mask, np.uint8).ravel()
    return image


def resample_to_geometry(image, geometry) -> np.ndarray:
    """(K, J, I) uint8: ``image`` (vtkOrientedImageData) resampled by nearest neighbour onto
    ``geometry``'s grid and extent (zero where ``image`` does not reach); exact where the grids coincide."""
    out = _slicer().vtkOrientedImageData()
    reference = _slicer().vtkOrientedImageData()
    reference.ShallowCopy(geometry)
    dims = reference.GetDimensions()
    if image.GetPointData().GetScalars() is None or min(image.GetDimensions()) <= 0:
        return np.zeros(dims[::-1], np.uint8)
    _slicer().vtkOrientedImageDataResample.ResampleOrientedImageToReferenceOrientedImage(image, reference, out, False, False)
    array = oriented_image_array(out)
    if array.shape != tuple(dims[::-1]):  # the resampler keeps the reference extent; guard anyway
        raise RuntimeError(f"resampling gave shape {array.shape}, expected {tuple(dims[::-1])}")
    return array


def segment_image(segmentation_node, segment_id: str):
    """vtkOrientedImageData of one segment, 1 inside, 0 outside (in the segmentation's frame)."""
    slicer = _slicer()
    image = slicer.vtkOrientedImageData()
    slicer.vtkSlicerSegmentationsModuleLogic.GetSegmentBinaryLabelmapRepresentation(segmentation_node, segment_id, image, False)
    if image.GetPointData().GetScalars() is not None and min(image.GetDimensions()) > 0:
        value = segmentation_node.GetSegmentation().GetSegment(segment_id).GetLabelValue()
        array = oriented_image_array(image)
        array[:] = array == value
    return image


def segment_on_geometry(segmentation_node, segment_id: str, geometry) -> np.ndarray:
    """(K, J, I) bool: the segment resampled (nearest neighbour) onto ``geometry``'s grid."""
    return resample_to_geometry(segment_image(segmentation_node, segment_id), geometry) > 0

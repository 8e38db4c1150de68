"""Scene nodes -> arrays on real slicer-core nodes: linear and non-linear parent transforms, refused volumes."""

from __future__ import annotations

import numpy as np
import pytest
import slicer
from crest_scene import (
    INTENSITY,
    add_segment,
    add_segmented_volume,
    add_volume,
    block_mask,
    ijk_to_ras,
    rotation,
)
from crest_tools.export_settings import ClassMapping, ExportSettings
from crest_tools.patch_export import volume_centres
from crest_tools.patch_sampling import sample_patches
from CReSTToolsLib.export_logic import plan_scene_export, segment_masks_on_volume, volume_source
from CReSTToolsLib.node_arrays import volume_array
from Sli2VolSegmentLib.volume_grid import vtk_matrix_from_numpy

SETTINGS = ExportSettings(planes=("axial", "sagittal"), patch_px=9, patch_mm=9.0, channels=1, window=(0, 255),
                          voxels_per_patch=24, max_patches_per_segment=20, unlabelled_per_volume=5,
                          test_fraction=0.0)
ORGANS = [("liver", "liver"), ("spleen", "spleen"), ("kidney", "kidney")]


def linear_transform(scene, name: str, rotate_s: float, rotate_r: float, shift) -> tuple[object, np.ndarray]:
    """(vtkMRMLLinearTransformNode, its 4x4 matrix to parent): a rotation, then a translation by ``shift`` mm."""
    matrix = np.eye(4)
    matrix[:3, :3] = rotation(rotate_s, rotate_r)
    matrix[:3, 3] = shift
    node = scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", name)
    node.SetMatrixTransformToParent(vtk_matrix_from_numpy(matrix))
    return node, matrix


def thin_plate_spline(scene, name: str) -> object:
    """A vtkMRMLTransformNode holding a (non-linear) thin-plate spline that bends one landmark."""
    import vtk

    source, target = vtk.vtkPoints(), vtk.vtkPoints()
    for point in [(-20, -20, -20), (20, -20, -20), (-20, 20, -20), (-20, -20, 20), (20, 20, 20)]:
        source.InsertNextPoint(point)
        target.InsertNextPoint(point)
    source.InsertNextPoint(0, 0, 0)
    target.InsertNextPoint(3, -2, 1)
    spline = vtk.vtkThinPlateSplineTransform()
    spline.SetSourceLandmarks(source)
    spline.SetTargetLandmarks(target)
    spline.SetBasisToR()
    node = scene.AddNewNodeByClass("vtkMRMLTransformNode", name)
    node.SetAndObserveTransformToParent(spline)
    return node


def grid_transform(scene, name: str) -> object:
    """A vtkMRMLGridTransformNode: a 4 x 4 x 4 displacement grid shifting every point by (1, 0, 0) mm."""
    import vtk

    grid = vtk.vtkImageData()
    grid.SetDimensions(4, 4, 4)
    grid.SetSpacing(20, 20, 20)
    grid.SetOrigin(-30, -30, -30)
    grid.AllocateScalars(vtk.VTK_DOUBLE, 3)
    grid.GetPointData().GetScalars().Fill(0)
    grid.GetPointData().GetScalars().FillComponent(0, 1.0)
    transform = slicer.vtkOrientedGridTransform()
    transform.SetDisplacementGridData(grid)
    node = scene.AddNewNodeByClass("vtkMRMLGridTransformNode", name)
    node.SetAndObserveTransformToParent(transform)
    return node


def centre_values(source, settings=SETTINGS) -> dict[str, set[int]]:
    """class -> the uint8 values at the centre pixel of its patches, cut in every plane (window 0..255: the intensity)."""
    centres = volume_centres(source, settings, 0)
    values = {}
    for name, points in centres.class_centres.items():
        for plane in settings.planes:
            patches = sample_patches(source.array, source.ijk_to_ras, points, plane, settings, centres.window)
            half = settings.patch_px // 2
            values.setdefault(name, set()).update(patches[:, 0, half, half].astype(int).tolist())
    return values


@pytest.mark.parametrize("segmentation_too", [True, False], ids=["both transformed", "segments drawn in world"])
def test_linear_parent_transform_keeps_patch_centres_on_their_segment(scene, segmentation_too):
    volume, segmentation = add_segmented_volume(scene, "moved", ORGANS, ijk_to_ras())
    outer, outer_matrix = linear_transform(scene, "outer", 0, 15, (3.0, -2.0, 7.5))
    inner, inner_matrix = linear_transform(scene, "inner", 25, 10, (-4.0, 5.0, 1.0))
    inner.SetAndObserveTransformNodeID(outer.GetID())  # a chain of two linear transforms
    volume.SetAndObserveTransformNodeID(inner.GetID())
    to_world = outer_matrix @ inner_matrix
    if segmentation_too:
        segmentation.SetAndObserveTransformNodeID(inner.GetID())
    else:  # the segments were drawn where the volume now lies in the world, the segmentation untransformed
        scene.RemoveNode(segmentation)
        segmentation = scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "drawn in world")
        for name, block in ORGANS:
            add_segment(segmentation, name, block_mask(block), to_world @ ijk_to_ras())
    before = slicer.util.arrayFromVolume(volume).copy()

    _, matrix = volume_array(volume)
    assert np.allclose(matrix, to_world @ ijk_to_ras())
    masks = segment_masks_on_volume(volume, segmentation, segmentation.GetSegmentation().GetSegmentIDs())
    assert [int(m.sum()) for m in masks.values()] == [1152, 216, 48]  # every voxel found again
    source = volume_source(volume, segmentation, ClassMapping(), "moved")
    assert centre_values(source) == {name: {INTENSITY[name]} for name, _ in ORGANS}
    assert np.array_equal(slicer.util.arrayFromVolume(volume), before)



@pytest.mark.parametrize("make_transform", [thin_plate_spline, grid_transform], ids=["thin-plate spline", "grid"])
def test_non_linear_parent_transform_is_refused_naming_the_node(scene, make_transform):
    volume, segmentation = add_segmented_volume(scene, "warped", ORGANS[:1], ijk_to_ras())
    bend = make_transform(scene, "bend")
    shift, _ = linear_transform(scene, "shift", 0, 0, (1.0, 0.0, 0.0))
    shift.SetAndObserveTransformNodeID(bend.GetID())  # non-linear above a linear parent counts too
    volume.SetAndObserveTransformNodeID(shift.GetID())
    with pytest.raises(ValueError, match=r"^'warped' is under the non-linear transform 'shift' .*harden") as error:
        plan_scene_export([(volume, segmentation)], SETTINGS)
    assert "\n" not in str(error.value)
    volume.SetAndObserveTransformNodeID(None)
    segmentation.SetAndObserveTransformNodeID(bend.GetID())
    with pytest.raises(ValueError, match=r"^'warped segmentation' is under the non-linear transform 'bend'"):
        segment_masks_on_volume(volume, segmentation, list(segmentation.GetSegmentation().GetSegmentIDs()))


def test_volume_without_image_data_or_with_vectors_is_refused(scene):
    empty = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", "no voxels yet")
    with pytest.raises(ValueError, match=r"^volume 'no voxels yet' has no image data$"):
        volume_array(empty)
    vectors = add_volume(scene, "rgb", np.zeros((4, 5, 6, 3), dtype=np.uint8), ijk_to_ras(), "vtkMRMLVectorVolumeNode")
    assert slicer.util.arrayFromVolume(vectors).shape == (4, 5, 6, 3)
    with pytest.raises(ValueError, match=r"^volume 'rgb' has 3 components per voxel; a scalar volume is needed$"):
        volume_array(vectors)
    with pytest.raises(ValueError, match="volume 'rgb' has 3 components"):
        plan_scene_export([(vectors, None)], SETTINGS)

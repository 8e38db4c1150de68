"""Real MRML scenes from the slicer-core wheel for the tests: volume, segmentation, segment editor node
and logic, and helpers to paint and read segments as (K, J, I) arrays on the source volume's grid."""
from __future__ import annotations

import numpy as np
import slicer
import vtk
from Sli2VolSegmentLib import volume_grid
from Sli2VolSegmentLib.segment_writer import EditorLogicWriter
from vtk.util import numpy_support

PHANTOM_SHAPE = (24, 48, 48)  # (K, J, I)


def ijk_to_ras_matrix(spacing_ijk, directions=None, origin=(0.0, 0.0, 0.0)) -> np.ndarray:
    """(4, 4) IJK -> RAS from spacing along I, J, K, unit direction columns (default identity) and origin."""
    m = np.eye(4)
    m[:3, :3] = (np.eye(3) if directions is None else np.asarray(directions, float)) * np.asarray(spacing_ijk, float)
    m[:3, 3] = origin
    return m


class Scene:
    """A scene with the segmentations logic, one source volume, one segmentation, an editor node and logic."""

    def __init__(self, image: np.ndarray, ijk_to_ras: np.ndarray):
        self.scene = slicer.vtkMRMLScene()
        self.segmentations_logic = slicer.vtkSlicerSegmentationsModuleLogic()
        self.segmentations_logic.SetMRMLScene(self.scene)
        self.volume = self.add_volume(image, ijk_to_ras, "source")
        self.segmentation = self.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "segmentation")
        self.segmentation.CreateDefaultDisplayNodes()
        self.segmentation.SetReferenceImageGeometryParameterFromVolumeNode(self.volume)
        self.editor_logic = EditorLogicWriter.for_nodes(self.scene, self.volume, self.segmentation).editor_logic
        self.editor_node = self.editor_logic.GetSegmentEditorNode()

    def add_volume(self, image: np.ndarray, ijk_to_ras: np.ndarray, name: str):
        node = self.scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
        data = vtk.vtkImageData()
        data.SetDimensions(*image.shape[::-1])
        data.AllocateScalars(vtk.VTK_FLOAT, 1)
        numpy_support.vtk_to_numpy(data.GetPointData().GetScalars())[:] = image.astype(np.float32).ravel()
        node.SetAndObserveImageData(data)
        node.SetIJKToRASMatrix(volume_grid.vtk_matrix_from_numpy(ijk_to_ras))
        return node

    def add_segment(self, mask: np.ndarray, name: str, node=None) -> str:
        """A segment holding ``mask`` (K, J, I bool on the source volume's grid)."""
        node = node or self.segmentation
        segment_id = node.GetSegmentation().AddEmptySegment(name, name)
        self.set_segment(segment_id, mask, node)
        return segment_id

    def set_segment(self, segment_id: str, mask: np.ndarray, node=None) -> None:
        node = node or self.segmentation
        image = volume_grid.oriented_image_from_array(mask.astype(np.uint8), volume_grid.volume_geometry(self.volume))
        slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
            image, node, segment_id, slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)

    def segment(self, segment_id: str, node=None) -> np.ndarray:
        """(K, J, I) bool: the segment on the source volume's grid."""
        return volume_grid.segment_on_geometry(node or self.segmentation, segment_id,
                                               volume_grid.volume_geometry(self.volume))

    def state(self, node=None) -> dict:
        """{segment ID: (voxels on the volume grid, re-propagation tag or None)} of every segment: for before/after comparisons."""
        node = node or self.segmentation
        from Sli2VolSegmentLib.repropagation import segment_tag

        segmentation = node.GetSegmentation()
        return {sid: (self.segment(sid, node), segment_tag(segmentation.GetSegment(sid)))
                for sid in segmentation.GetSegmentIDs()}


def assert_same_state(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for sid in before:
        np.testing.assert_array_equal(before[sid][0], after[sid][0], err_msg=f"segment {sid} voxels changed")
        assert before[sid][1] == after[sid][1], f"segment {sid} re-propagation tag changed"


def one_slice(labels: np.ndarray, label: int, index: int, axis: int = 0) -> np.ndarray:
    """(K, J, I) bool: ``label`` of ``labels`` on slice ``index`` along ``axis`` only."""
    out = np.zeros(labels.shape, bool)
    sl = [slice(None)] * 3
    sl[axis] = index
    out[tuple(sl)] = labels[tuple(sl)] == label
    return out


def core_result(image, annotation, spacing, **config) -> np.ndarray:
    """The core's labels for ``annotation`` with the default model and ``PropagationConfig(**config)``."""
    from sli2vol import PropagationConfig, propagate_volume

    return propagate_volume(image, annotation.astype(np.uint8), spacing, None, PropagationConfig(**config))

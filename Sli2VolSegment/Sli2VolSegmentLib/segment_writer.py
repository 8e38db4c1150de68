"""Writing a segment through the Segment Editor's machinery, so masking, overwrite mode and undo apply.

Why two writers: a scripted Segment Editor effect cannot reach the editor's
``vtkSlicerSegmentEditorLogic`` from Python: ``qSlicerSegmentEditorAbstractEffect::setSegmentEditorLogic``
is not Q_INVOKABLE and there is no getter. Its Q_INVOKABLE ``modifySegmentByLabelmap(segmentationNode,
segmentID, labelmap, mode, bypassMasking)`` forwards to that logic's ``ModifySegmentByLabelmap`` and
its ``saveStateForUndo()`` signals the editor widget, whose slot calls the logic's
``SaveStateForUndo()`` (Slicer v5.10.0 and v5.12.3: ``qSlicerSegmentEditorAbstractEffect.cxx``,
``qMRMLSegmentEditorWidget.cxx``). So the effect hands its ``scriptedEffect`` to
:class:`ScriptedEffectWriter` and the editor's own Undo/Redo buttons revert the propagation; the
module panel and the tests drive a ``vtkSlicerSegmentEditorLogic`` directly through
:class:`EditorLogicWriter` (its ``Undo()`` reverts). Both build the modifier labelmap on the editor's
default modifier geometry (the segmentation's reference geometry), which the editable intensity range
requires (the logic refuses a modifier whose geometry differs from the aligned source volume).
"""
from __future__ import annotations

from typing import Protocol


class SegmentWriter(Protocol):
    """What :meth:`Sli2VolLogic.apply` needs from the editor."""

    def reference_geometry(self):
        """vtkOrientedImageData (no scalars needed) of the segmentation's editing grid: the modifier
        labelmap is built on it, as the editor's intensity masking requires."""

    def save_state_for_undo(self) -> None:
        """Record the segmentation's state once, before the first modification."""

    def set_segment(self, segmentation_node, segment_id: str, labelmap) -> None:
        """Replace segment ``segment_id`` by ``labelmap`` (vtkOrientedImageData on the reference
        geometry): ModificationModeSet, masking not bypassed."""


class EditorLogicWriter:
    """:class:`SegmentWriter` around a ``slicer.vtkSlicerSegmentEditorLogic`` whose segment editor node
    names the segmentation and source volume (``SetSegmentEditorNode``, ``SetSegmentationNode``,
    ``SetSourceVolumeNode``); its ``Undo()`` reverts an apply."""

    def __init__(self, editor_logic):
        self.editor_logic = editor_logic

    @classmethod
    def for_nodes(cls, scene, volume_node, segmentation_node) -> EditorLogicWriter:
        """A writer into ``segmentation_node`` with the scene's Segment Editor settings (masking,
        overwrite; the scene's first ``vtkMRMLSegmentEditorNode``, created with the defaults if absent)."""
        import slicer

        editor_node = scene.GetFirstNodeByClass("vtkMRMLSegmentEditorNode")
        editor_node = editor_node or scene.AddNewNodeByClass("vtkMRMLSegmentEditorNode")
        editor_logic = slicer.vtkSlicerSegmentEditorLogic()
        editor_logic.SetMRMLScene(scene)
        editor_logic.SetSegmentEditorNode(editor_node)
        editor_logic.SetSegmentationNode(segmentation_node)
        editor_logic.SetSourceVolumeNode(volume_node)
        return cls(editor_logic)

    def reference_geometry(self):
        self.editor_logic.ResetModifierLabelmapToDefault()
        return self.editor_logic.GetModifierLabelmap()

    def save_state_for_undo(self) -> None:
        self.editor_logic.SaveStateForUndo()

    def set_segment(self, segmentation_node, segment_id: str, labelmap) -> None:
        import slicer

        self.editor_logic.ModifySegmentByLabelmap(segmentation_node, segment_id, labelmap,
                                                  slicer.vtkSlicerSegmentEditorLogic.ModificationModeSet, True, False)


class ScriptedEffectWriter:
    """:class:`SegmentWriter` around a Segment Editor effect's ``scriptedEffect``
    (``qSlicerSegmentEditorScriptedEffect``); the editor's Undo reverts an apply."""

    def __init__(self, scripted_effect):
        self.scripted_effect = scripted_effect

    def reference_geometry(self):
        return self.scripted_effect.defaultModifierLabelmap()

    def save_state_for_undo(self) -> None:
        self.scripted_effect.saveStateForUndo()

    def set_segment(self, segmentation_node, segment_id: str, labelmap) -> None:
        import slicer

        self.scripted_effect.modifySegmentByLabelmap(segmentation_node, segment_id, labelmap,
                                                     slicer.qSlicerSegmentEditorAbstractEffect.ModificationModeSet, False)

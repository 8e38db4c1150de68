# ruff: noqa: N999 -- Slicer loads the effect class from a file named after it (SegmentEditorEffect.py)
"""The "Sli2Vol" Segment Editor effect: Propagate into a preview, then Apply (one undo step) or Cancel.

Like "Fill between slices", but the propagation covers the source volume's whole extent along the
axis, shows its progress and can be stopped. All computing is done by :class:`Sli2VolLogic`.
"""
import os

import ctk
import qt
import slicer
from SegmentEditorEffects import AbstractScriptedSegmentEditorEffect

from Sli2VolSegmentLib.propagation_panel import PropagationPanel
from Sli2VolSegmentLib.segment_selection import visible_segment_ids

PREVIEW_REFERENCE_ROLE = "SegmentationResultPreview"  # the role the editor's auto-complete effects use
PREVIEW_OWNER_PARAMETER = "SegmentationResultPreviewOwnerEffect"
DEFAULT_PREVIEW_OPACITY = 0.6


class SegmentEditorEffect(AbstractScriptedSegmentEditorEffect):
    """Sli2Vol: propagate the segment painted on one slice through the whole volume."""

    def __init__(self, scriptedEffect):
        scriptedEffect.name = "Sli2Vol"  # modules find effects by this name: not translated
        scriptedEffect.perSegment = False  # propagates the selected or all visible segments
        scriptedEffect.requireSegments = True
        AbstractScriptedSegmentEditorEffect.__init__(self, scriptedEffect)
        self.logic = None  # Sli2VolLogic, created at the first run (imports torch)
        self.outcome = None  # the PropagationOutcome shown in the preview
        self.panel = None

    def clone(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as effects

        clonedEffect = effects.qSlicerSegmentEditorScriptedEffect(None)
        clonedEffect.setPythonSource(__file__.replace("\\", "/"))
        return clonedEffect

    def icon(self):
        iconPath = os.path.join(os.path.dirname(__file__), "..", "Resources", "Icons", "Sli2VolSegment.png")
        return qt.QIcon(iconPath) if os.path.exists(iconPath) else qt.QIcon()

    def helpText(self):
        return """<html>Propagate a segment painted on <b>one slice</b> through the whole volume (Sli2Vol).<p>
<ol><li>Paint the structure on one slice (or a few) with any effect.
<li>Press <b>Propagate</b>: the result is previewed (move the opacity slider between inputs and results);
the list shows the least confident slices, click one to look at it.
<li><b>Apply</b> writes the result as one undo step, honouring the editable area, intensity range and
overwrite settings (Masking section); painted slices are never changed. <b>Cancel</b> drops the preview.
</ol>After correcting a few slices, propagate again: corrected slices become anchors.
Details and options: the Sli2Vol module's help.</html>"""

    def setupOptionsFrame(self):
        self.panel = PropagationPanel(on_propagate=self.onPropagate)
        self.scriptedEffect.addOptionsWidget(self.panel.widget)

        self.previewOpacitySlider = ctk.ctkSliderWidget()
        self.previewOpacitySlider.setToolTip("Show the inputs (left) or the propagated result (right).")
        self.previewOpacitySlider.minimum = 0.0
        self.previewOpacitySlider.maximum = 1.0
        self.previewOpacitySlider.singleStep = 0.05
        self.previewOpacitySlider.value = DEFAULT_PREVIEW_OPACITY
        self.previewOpacitySlider.spinBoxVisible = False
        displayFrame = qt.QHBoxLayout()
        displayFrame.addWidget(qt.QLabel("inputs"))
        displayFrame.addWidget(self.previewOpacitySlider)
        displayFrame.addWidget(qt.QLabel("results"))
        self.scriptedEffect.addLabeledOptionsWidget("Display:", displayFrame)

        self.cancelButton = qt.QPushButton("Cancel")
        self.cancelButton.objectName = self.__class__.__name__ + "Cancel"
        self.cancelButton.setToolTip("Drop the preview; the segmentation stays as it is.")
        self.applyButton = qt.QPushButton("Apply")
        self.applyButton.objectName = self.__class__.__name__ + "Apply"
        self.applyButton.setToolTip("Write the previewed result into the segments (one undo step).")
        finishFrame = qt.QHBoxLayout()
        finishFrame.addWidget(self.cancelButton)
        finishFrame.addWidget(self.applyButton)
        self.scriptedEffect.addOptionsWidget(finishFrame)

        self.previewOpacitySlider.connect("valueChanged(double)", self.setPreviewOpacity)
        self.cancelButton.connect("clicked()", self.onCancel)
        self.applyButton.connect("clicked()", self.onApply)

    def createCursor(self, widget):
        return slicer.util.mainWindow().cursor  # no effect-specific cursor

    def activate(self):
        self.panel.update_torch_status()

    def deactivate(self):
        self.onCancel()

    def updateGUIFromMRML(self):
        hasPreview = self.getPreviewNode() is not None and self.outcome is not None
        self.applyButton.enabled = hasPreview
        self.cancelButton.enabled = hasPreview
        self.previewOpacitySlider.enabled = hasPreview

    # -- preview node ------------------------------------------------------------------------------
    def getPreviewNode(self):
        node = self.scriptedEffect.nodeReference(PREVIEW_REFERENCE_ROLE)
        if (node and self.scriptedEffect.parameterDefined(PREVIEW_OWNER_PARAMETER)
                and self.scriptedEffect.parameter(PREVIEW_OWNER_PARAMETER) != self.scriptedEffect.name):
            return None  # another effect's preview
        return node

    def _createPreviewNode(self, segmentationNode):
        previewNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode",
                                                         segmentationNode.GetName() + " preview")
        previewNode.CreateDefaultDisplayNodes()
        previewNode.GetDisplayNode().SetVisibility2DOutline(False)
        self.scriptedEffect.setCommonNodeReference(PREVIEW_REFERENCE_ROLE, previewNode)
        self.scriptedEffect.setCommonParameter(PREVIEW_OWNER_PARAMETER, self.scriptedEffect.name)
        return previewNode

    def setPreviewOpacity(self, opacity):
        parameterSetNode = self.scriptedEffect.parameterSetNode()
        segmentationNode = parameterSetNode.GetSegmentationNode() if parameterSetNode else None
        previewNode = self.getPreviewNode()
        if segmentationNode and segmentationNode.GetDisplayNode():
            segmentationNode.GetDisplayNode().SetOpacity(1.0 - opacity if previewNode else 1.0)
        if previewNode:
            previewNode.GetDisplayNode().SetOpacity(opacity)
            previewNode.GetDisplayNode().SetOpacity3D(opacity)

    def _removePreview(self):
        previewNode = self.scriptedEffect.nodeReference(PREVIEW_REFERENCE_ROLE)
        if previewNode and self.getPreviewNode() is previewNode:
            self.scriptedEffect.setCommonNodeReference(PREVIEW_REFERENCE_ROLE, None)
            slicer.mrmlScene.RemoveNode(previewNode)
        self.outcome = None
        self.setPreviewOpacity(0.0)
        if self.panel:
            self.panel.clear_slices_to_check()

    # -- actions -------------------------------------------------------------------------------------
    def _segmentIds(self, segmentationNode):
        if self.panel.all_visible_segments():
            return visible_segment_ids(segmentationNode)
        selected = self.scriptedEffect.parameterSetNode().GetSelectedSegmentID()
        return [selected] if selected else []

    def onPropagate(self):
        parameterSetNode = self.scriptedEffect.parameterSetNode()
        segmentationNode = parameterSetNode.GetSegmentationNode()
        volumeNode = parameterSetNode.GetSourceVolumeNode()
        if not segmentationNode or not volumeNode:
            slicer.util.errorDisplay("Select a segmentation and a source volume first.", windowTitle="Sli2Vol")
            return
        self.applyButton.enabled = False  # until this run's preview is shown
        if self.logic is None:
            from Sli2VolSegmentLib import Sli2VolLogic

            self.logic = Sli2VolLogic()
        outcome = self.panel.run(self.logic, volumeNode, segmentationNode, self._segmentIds(segmentationNode))
        if outcome is None:
            return
        with slicer.util.tryWithErrorDisplay("Showing the Sli2Vol preview failed:", waitCursor=True):
            previewNode = self.getPreviewNode() or self._createPreviewNode(segmentationNode)
            self.logic.write_preview(outcome, previewNode)
            self.outcome = outcome
            self.previewOpacitySlider.value = DEFAULT_PREVIEW_OPACITY
            self.setPreviewOpacity(DEFAULT_PREVIEW_OPACITY)
            self.panel.show_slices_to_check(outcome, segmentationNode)
        self.updateGUIFromMRML()

    def onApply(self):
        if self.outcome is None:
            return
        from Sli2VolSegmentLib import ScriptedEffectWriter

        with slicer.util.tryWithErrorDisplay("Applying the Sli2Vol result failed:", waitCursor=True):
            self.logic.apply(self.outcome, ScriptedEffectWriter(self.scriptedEffect))
        self._removePreview()
        self.updateGUIFromMRML()

    def onCancel(self):
        if self.panel and self.panel.running:
            self.panel.request_stop()
        self._removePreview()
        self.updateGUIFromMRML()

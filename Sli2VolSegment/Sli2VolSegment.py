"""Sli2Vol module: propagate a segment painted on one slice through the whole volume.

Registers the "Sli2Vol" Segment Editor effect, offers the same propagation in its own panel, and holds
the in-app test (``Slicer --testing``). The computing is in ``Sli2VolSegmentLib`` (Qt-free) and the
``sli2vol`` core; both need PyTorch and are imported only when used.
"""
import os

import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)

HELP_TEXT = """
<p><b>Sli2Vol</b> (Yeung et al., MICCAI 2021) turns a segment painted on <b>one slice</b> into a 3-D
segmentation: a network trained self-supervised on unlabelled scans matches every pixel of a slice with
the pixels of the next slice, and the mask is carried slice by slice through the volume in both
directions. A verification step drops propagated pixels whose intensity looks like the background.
Use it from the Segment Editor (effect <b>Sli2Vol</b>: preview, then Apply or Cancel) or from this panel
(writes directly; <b>Undo last propagation</b> restores the segmentation).</p>
<p><b>Options.</b> <i>Segments</i>: the selected segment(s) or all visible ones (they compete for voxels).
<i>Painted in</i>: the view you painted in; the propagation runs along the volume axis normal to it
(automatic: the axis across which the painted slices are thin). <i>Slice limits</i>: how far to go
towards lower and higher slice indices (no limit: to the edge of the volume).
<i>Verification</i>: on (recommended) or off. <i>Keep my corrections</i>: when you propagate again
after editing a few propagated slices, the edited slices become anchors and the other propagated
slices are recomputed. <i>Device</i>: Auto uses a CUDA GPU when PyTorch can, else the CPU; the line
beside it shows the PyTorch version and the device in use. <i>Model</i>: the bundled model (card in the
Model section) or a model file made with <code>sli2vol train</code> and <code>sli2vol export</code>.</p>
<p><b>Masking and overwrite.</b> The result is written like a Segment Editor effect writes: the editable
area, the editable intensity range and the overwrite mode of the Segment Editor's Masking section apply
(the effect uses the editor's settings; this panel uses those of the scene's Segment Editor settings,
or the defaults if the Segment Editor was never opened). With <i>Overwrite all</i> the result removes the
overlapping voxels from other segments; with <i>Overwrite none</i> other segments are left as they are.
Painted slices are never changed; only the propagated slices of each segment are replaced.</p>
<p>After a run, the slices the method is least sure about are listed: click one to look at it.
PyTorch is needed; if it is missing, Sli2Vol offers to install it through the PyTorch extension.</p>
"""


class Sli2VolSegment(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "Sli2Vol"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = ["Segmentations"]
        self.parent.contributors = ["Sli2Vol for 3D Slicer developers"]
        self.parent.helpText = HELP_TEXT + self.getDefaultModuleDocumentationLink()
        self.parent.acknowledgementText = (
            "Method: P.-H. Yeung, A. I. L. Namburete, W. Xie, 'Sli2Vol: Annotate a 3D Volume from a Single "
            "Slice with Self-Supervised Learning', MICCAI 2021.")
        slicer.app.connect("startupCompleted()", self.registerEditorEffect)

    def registerEditorEffect(self):
        import qSlicerSegmentationsEditorEffectsPythonQt as qSlicerSegmentationsEditorEffects

        instance = qSlicerSegmentationsEditorEffects.qSlicerSegmentEditorScriptedEffect(None)
        effectFilename = os.path.join(os.path.dirname(__file__), self.__class__.__name__ + "Lib/SegmentEditorEffect.py")
        instance.setPythonSource(effectFilename.replace("\\", "/"))
        instance.self().register()


class Sli2VolSegmentWidget(ScriptedLoadableModuleWidget):
    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        from Sli2VolSegmentLib.propagation_panel import PropagationPanel  # Qt: not needed by the test below

        uiWidget = slicer.util.loadUI(self.resourcePath("UI/Sli2VolSegment.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)

        self.logic = None  # Sli2VolLogic, created at the first run (imports torch)
        self.editorLogic = None  # keeps the undo state of the last propagation
        self.panel = PropagationPanel(on_propagate=self.onPropagate)
        self.panel.ui.propagateButton.text = "Propagate and apply"
        self.ui.optionsFrame.layout().addWidget(self.panel.widget)
        self.panel.ui.customModelCheckBox.connect("toggled(bool)", self.updateModelInUse)
        self.panel.ui.modelPathLineEdit.connect("currentPathChanged(QString)", self.updateModelInUse)
        self.ui.undoButton.connect("clicked()", self.onUndo)
        self.ui.modelCardBrowser.markdown = self._modelCard()  # QTextEdit property (Qt >= 5.14)
        self.updateModelInUse()

    def enter(self):
        self.panel.update_torch_status()

    def cleanup(self):
        self.editorLogic = None

    @staticmethod
    def _modelCard():
        card = os.path.join(os.path.dirname(__file__), "sli2vol", "models", "MODEL_CARD.md")
        with open(card, encoding="utf-8") as file:
            return file.read()

    def updateModelInUse(self, *_):
        path = self.panel.ui.modelPathLineEdit.currentPath
        custom = self.panel.ui.customModelCheckBox.checked and path
        self.ui.modelInUseLabel.text = f"Model in use: {path}" if custom else "Model in use: bundled (card below)"

    def _segmentIds(self, segmentationNode):
        if self.panel.all_visible_segments():
            from Sli2VolSegmentLib.segment_selection import visible_segment_ids

            return visible_segment_ids(segmentationNode)
        return list(self.ui.segmentSelector.selectedSegmentIDs())

    def onPropagate(self):
        volumeNode = self.ui.volumeSelector.currentNode()
        segmentationNode = self.ui.segmentSelector.currentNode()
        if not volumeNode or not segmentationNode:
            slicer.util.errorDisplay("Select a source volume and a segmentation first.", windowTitle="Sli2Vol")
            return
        if self.logic is None:
            from Sli2VolSegmentLib import Sli2VolLogic

            self.logic = Sli2VolLogic()
        self.ui.undoButton.enabled = False  # the undo state is replaced by this run's
        outcome = self.panel.run(self.logic, volumeNode, segmentationNode, self._segmentIds(segmentationNode))
        if outcome is None:
            return
        from Sli2VolSegmentLib import EditorLogicWriter

        with slicer.util.tryWithErrorDisplay("Writing the Sli2Vol result failed:", waitCursor=True):
            writer = EditorLogicWriter.for_nodes(slicer.mrmlScene, volumeNode, segmentationNode)
            self.editorLogic = writer.editor_logic
            self.logic.apply(outcome, writer)
            self.panel.show_slices_to_check(outcome, segmentationNode)
        self.ui.undoButton.enabled = self.editorLogic is not None and self.editorLogic.CanUndo()

    def onUndo(self):
        if self.editorLogic is not None and self.editorLogic.CanUndo():
            self.editorLogic.Undo()
        self.ui.undoButton.enabled = False
        self.panel.clear_slices_to_check()


class Sli2VolSegmentTest(ScriptedLoadableModuleTest):
    """In-app test (``Slicer --testing``, or the Self Tests module): a volume with a bright block, a segment
    painted on one slice, propagation through the module's logic, the result, then undo."""

    def setUp(self):
        slicer.mrmlScene.Clear(0)

    def runTest(self):
        self.setUp()
        self.test_propagate_apply_and_undo()

    def _volumeWithBlock(self):
        """A 24 x 48 x 48 (K, J, I) volume, 2 x 1 x 1 mm, with a bright 12 x 20 x 16 block in noise."""
        import numpy as np

        rng = np.random.default_rng(0)
        image = rng.normal(0.0, 20.0, (24, 48, 48)).astype(np.int16)
        image[6:18, 14:34, 16:32] += 200
        volumeNode = slicer.util.addVolumeFromArray(image, name="Sli2Vol test volume")
        volumeNode.SetSpacing(1.0, 1.0, 2.0)
        return volumeNode, image

    def test_propagate_apply_and_undo(self):
        import numpy as np
        from Sli2VolSegmentLib.torch_environment import probe_torch

        torch = probe_torch()
        if not torch.usable:
            self.skipTest(f"{torch.describe()}: install it with the PyTorch extension to run this test")
        from Sli2VolSegmentLib import EditorLogicWriter, PropagationOptions, Sli2VolLogic

        self.delayDisplay("Volume and a segment painted on slice 12")
        volumeNode, image = self._volumeWithBlock()
        segmentationNode = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode")
        segmentationNode.CreateDefaultDisplayNodes()
        segmentationNode.SetReferenceImageGeometryParameterFromVolumeNode(volumeNode)
        segmentId = segmentationNode.GetSegmentation().AddEmptySegment("block")
        painted = np.zeros(image.shape, np.uint8)
        painted[12, 14:34, 16:32] = 1
        slicer.util.updateSegmentBinaryLabelmapFromArray(painted, segmentationNode, segmentId, volumeNode)
        before = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode).copy()

        self.delayDisplay("Propagate")
        logic = Sli2VolLogic()
        steps = []
        outcome = logic.propagate(volumeNode, segmentationNode, PropagationOptions(segment_ids=[segmentId], view="Red"),
                                  progress=lambda done, total: steps.append((done, total)))
        self.assertTrue(steps and steps[-1][0] == steps[-1][1])
        self.assertTrue(np.array_equal(
            slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode), before),
            "propagate() must not modify the scene")

        self.delayDisplay("Apply (one undo step)")
        writer = EditorLogicWriter.for_nodes(slicer.mrmlScene, volumeNode, segmentationNode)
        logic.apply(outcome, writer)
        result = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
        block = np.zeros(image.shape, bool)
        block[6:18, 14:34, 16:32] = True
        dice = 2.0 * np.logical_and(result > 0, block).sum() / ((result > 0).sum() + block.sum())
        self.assertGreater(dice, 0.9, f"propagated block Dice {dice:.3f}")
        self.assertTrue(np.array_equal(result[12] > 0, painted[12] > 0), "the painted slice must not change")
        self.assertGreater(len(outcome.least_confident_slices(3)), 0)

        self.delayDisplay("Undo restores the painted slice only")
        self.assertTrue(writer.editor_logic.CanUndo())
        writer.editor_logic.Undo()
        restored = slicer.util.arrayFromSegmentBinaryLabelmap(segmentationNode, segmentId, volumeNode)
        self.assertTrue(np.array_equal(restored, before))
        self.delayDisplay("Test passed")

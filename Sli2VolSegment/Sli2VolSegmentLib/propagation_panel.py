"""The propagation widgets shared by the Sli2Vol module panel and the "Sli2Vol" Segment Editor effect
(``Resources/UI/Sli2VolOptions.ui``): options, Propagate / Stop, progress, slices to check.

Thin Qt layer: it turns widget states into :class:`PropagationOptions`, runs :class:`Sli2VolLogic`
with a progress callback that keeps the GUI responsive and a cancel callback that the Stop button
sets, and lists the least confident slices. ``sli2vol`` and torch are imported only once PyTorch is
known to be usable (:func:`ensure_torch`).
"""
from __future__ import annotations

import importlib
import os

import qt
import slicer

OPTIONS_UI = os.path.join(os.path.dirname(__file__), "..", "Resources", "UI", "Sli2VolOptions.ui")
DEVICE_BY_TEXT = {"Auto": "auto", "CPU": "cpu", "CUDA": "cuda"}
SLICES_TO_CHECK = 8


def ensure_torch():
    """A usable :class:`TorchEnvironment`, installing PyTorch through the PyTorch extension after the
    user's confirmation when it is missing; None (after telling the user why) when it stays unusable."""
    from Sli2VolSegmentLib.torch_environment import TORCH_REQUIREMENT, probe_torch

    environment = probe_torch()
    if environment.usable:
        return environment
    if environment.version is not None:
        slicer.util.errorDisplay(f"{environment.describe()}. Update it in the PyTorch Utils module "
                                 "(PyTorch extension), restart Slicer, then propagate again.")
        return None
    try:
        import PyTorchUtils
    except ImportError:
        slicer.util.errorDisplay("Sli2Vol needs PyTorch, which is not installed, and the PyTorch extension that "
                                 "installs it is missing: install 'PyTorch' from the Extensions Manager, "
                                 "restart Slicer, then propagate again.")
        return None
    slicer.util.showStatusMessage("Sli2Vol needs PyTorch, which is not installed: asking to install it "
                                  "(this takes minutes, Slicer does not respond meanwhile).")
    try:
        torch = PyTorchUtils.PyTorchUtilsLogic().installTorch(askConfirmation=True,
                                                              torchVersionRequirement=TORCH_REQUIREMENT)
    except Exception as error:  # noqa: BLE001 -- pip/light-the-torch failures of any kind
        slicer.util.errorDisplay(f"Installing PyTorch failed: {error}\nInstall it from the PyTorch Utils "
                                 "module, restart Slicer, then propagate again.")
        return None
    if torch is None:
        slicer.util.infoDisplay("PyTorch was not installed, so Sli2Vol cannot propagate. Install it from the "
                                "PyTorch Utils module when you are ready.")
        return None
    importlib.invalidate_caches()
    environment = probe_torch()
    if not environment.usable:
        slicer.util.errorDisplay(f"{environment.describe()} after the installation: restart Slicer and try again.")
        return None
    return environment


class PropagationPanel:
    """The shared widgets and one propagation run at a time. ``on_propagate`` is called (no arguments)
    when the user presses Propagate; the owner then calls :meth:`run`."""

    def __init__(self, on_propagate):
        self.widget = slicer.util.loadUI(OPTIONS_UI)
        self.widget.setMRMLScene(slicer.mrmlScene)
        self.ui = slicer.util.childWidgetVariables(self.widget)
        self._stop_requested = False
        self.running = False
        for hidden in (self.ui.progressBar, self.ui.slicesToCheckLabel, self.ui.slicesToCheckList):
            hidden.hide()
        self.ui.propagateButton.connect("clicked()", on_propagate)
        self.ui.stopButton.connect("clicked()", self.request_stop)
        self.ui.deviceComboBox.connect("currentIndexChanged(int)", self.update_torch_status)
        self.ui.slicesToCheckList.connect("itemClicked(QListWidgetItem*)", self.jump_to_slice)
        # update_torch_status() imports torch: the owner calls it when shown, not at Slicer's start-up

    # -- options ---------------------------------------------------------------------------------
    def all_visible_segments(self) -> bool:
        return self.ui.segmentsComboBox.currentIndex == 1

    def device_choice(self) -> str:
        return DEVICE_BY_TEXT[self.ui.deviceComboBox.currentText]

    def update_torch_status(self, *_):
        """Show the torch version and the device a run would use (torch is imported here if installed)."""
        from Sli2VolSegmentLib.torch_environment import probe_torch

        self.ui.torchStatusLabel.text = probe_torch().describe(self.device_choice())

    def options(self, segment_ids):
        """:class:`PropagationOptions` for ``segment_ids`` from the widgets (raises sli2vol.InputError)."""
        from sli2vol.training.adaptation import DEFAULT_ADAPT_STEPS

        from Sli2VolSegmentLib import PropagationOptions

        def limit(spin_box):
            return None if spin_box.value < 0 else int(spin_box.value)

        device = self.device_choice()
        return PropagationOptions(
            segment_ids=list(segment_ids),
            view=None if self.ui.viewComboBox.currentIndex == 0 else self.ui.viewComboBox.currentText,
            max_slices_backward=limit(self.ui.backwardLimitSpinBox),
            max_slices_forward=limit(self.ui.forwardLimitSpinBox),
            verification=self.ui.verificationCheckBox.checked,
            model_path=self.ui.modelPathLineEdit.currentPath if self.ui.customModelCheckBox.checked else None,
            device=None if device == "auto" else device,
            use_corrections=self.ui.correctionsCheckBox.checked,
            adapt_steps=DEFAULT_ADAPT_STEPS if self.ui.adaptCheckBox.checked else 0,
        )

    # -- running -----------------------------------------------------------------------------------
    def request_stop(self):
        self._stop_requested = True
        self.ui.stopButton.enabled = False
        slicer.util.showStatusMessage("Stopping the propagation...")

    def _progress(self, done: int, total: int):
        self.ui.progressBar.maximum = total
        self.ui.progressBar.value = done
        slicer.app.processEvents()  # repaint, and let the Stop button be clicked

    def run(self, logic, volume_node, segmentation_node, segment_ids):
        """Propagate with the current options; the :class:`PropagationOutcome`, or None when the user
        stopped the run, PyTorch is unusable or the input was refused (the user has been told)."""
        if self.running:
            return None
        if not segment_ids:
            slicer.util.errorDisplay("Select the segment to propagate, or choose 'all visible'.", windowTitle="Sli2Vol")
            return None
        if ensure_torch() is None:
            return None
        from sli2vol import InputError, ModelError, PropagationCancelled

        self.running, self._stop_requested = True, False
        self._set_running_widgets(True)
        try:
            options = self.options(segment_ids)
            return logic.propagate(volume_node, segmentation_node, options, progress=self._progress,
                                   cancel=lambda: self._stop_requested)
        except PropagationCancelled:
            slicer.util.showStatusMessage("Propagation stopped; the segmentation is unchanged.", 5000)
        except (InputError, ModelError) as error:
            slicer.util.errorDisplay(str(error), windowTitle="Sli2Vol")
        finally:
            self.running = False
            self._set_running_widgets(False)
        return None

    def _set_running_widgets(self, running: bool):
        self.ui.propagateButton.enabled = not running
        self.ui.stopButton.enabled = running
        self.ui.progressBar.setVisible(running)
        self.ui.progressBar.value = 0
        self.update_torch_status()

    # -- slices to check ---------------------------------------------------------------------------
    def show_slices_to_check(self, outcome, segmentation_node):
        """List the least confident propagated slices; clicking one centres the slice views on it."""
        self.ui.slicesToCheckList.clear()
        segmentation = segmentation_node.GetSegmentation()
        for item in outcome.least_confident_slices(SLICES_TO_CHECK):
            segment = segmentation.GetSegment(item.segment_id)
            name = segment.GetName() if segment else item.segment_id
            entry = qt.QListWidgetItem(f"{name}: slice {item.slice_index} (confidence {item.confidence:.2f})")
            entry.setData(qt.Qt.UserRole, list(item.ras))
            self.ui.slicesToCheckList.addItem(entry)
        has_items = self.ui.slicesToCheckList.count > 0
        self.ui.slicesToCheckLabel.setVisible(has_items)
        self.ui.slicesToCheckList.setVisible(has_items)

    def clear_slices_to_check(self):
        self.ui.slicesToCheckList.clear()
        self.ui.slicesToCheckLabel.hide()
        self.ui.slicesToCheckList.hide()

    def jump_to_slice(self, entry):
        r, a, s = entry.data(qt.Qt.UserRole)
        slicer.vtkMRMLSliceNode.JumpAllSlices(slicer.mrmlScene, r, a, s, slicer.vtkMRMLSliceNode.CenteredJumpSlice)

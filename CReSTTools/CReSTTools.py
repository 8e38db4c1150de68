"""CReSTTools: train long-tailed classifiers (FixMatch / CReST / CReST+) on patches of Slicer segmentations.

Thin Qt layer. The work is done by Qt-free code: ``CReSTToolsLib`` (scene -> arrays, export plan,
apply) and ``crest_tools`` (patch sampling, jobs, results; also the ``crest`` command line).
Training runs in a background process (``qt.QProcess``); a 1 s timer reads its progress log.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import ctk
import numpy as np
import qt
import slicer
from slicer.ScriptedLoadableModule import (
    ScriptedLoadableModule,
    ScriptedLoadableModuleTest,
    ScriptedLoadableModuleWidget,
)
from slicer.util import VTKObservationMixin

sys.path.insert(0, os.path.dirname(__file__))  # crest_tools and CReSTToolsLib sit beside this file

from crest_tools.export_settings import ClassMapping, ExportSettings, parse_class_table
from crest_tools.jobs import Job, JobWorkspace, TrainingOptions
from crest_tools.patch_export import write_export
from crest_tools.results import load_results
from CReSTToolsLib.apply_logic import classify_scene_segments, write_predictions
from CReSTToolsLib.export_logic import plan_scene_export, segmentation_choices

SPLIT_CHOICES = ("auto", "labelled", "unlabelled", "test")
POLL_MS = 1000


def pythonExecutable() -> str:
    """Slicer's own Python launcher for background jobs (this interpreter outside Slicer)."""
    return shutil.which("PythonSlicer") or sys.executable


class CReSTTools(ScriptedLoadableModule):
    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = "CReSTTools"
        self.parent.categories = ["Segmentation"]
        self.parent.dependencies = []
        self.parent.contributors = ["Sli2Vol for 3D Slicer developers"]
        self.parent.helpText = (
            "Export patches of named segments (and unlabelled volumes) into a dataset, train a long-tailed "
            "semi-supervised classifier (FixMatch, CReST, CReST+) as a background job, read its results, "
            "and classify segments with it. See the CReSTTools README."
        )
        self.parent.acknowledgementText = (
            "CReST: Wei et al., CVPR 2021. FixMatch: Sohn et al., NeurIPS 2020."
        )


class CReSTToolsWidget(ScriptedLoadableModuleWidget, VTKObservationMixin):
    def __init__(self, parent=None):
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.plan = None
        self.jobs: dict[str, Job] = {}
        self.processes: dict[str, qt.QProcess] = {}
        self.timer = qt.QTimer()
        self.timer.setInterval(POLL_MS)

    def setup(self):
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/CReSTTools.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        for pathEdit in (self.ui.datasetPathLineEdit, self.ui.workspacePathLineEdit, self.ui.trainDatasetPathLineEdit):
            pathEdit.filters = ctk.ctkPathLineEdit.Dirs
        workspace = Path(slicer.app.temporaryPath) / "CReSTTools"
        self.ui.workspacePathLineEdit.currentPath = str(workspace / "jobs")
        self.ui.datasetPathLineEdit.currentPath = str(workspace / "dataset")

        self.ui.refreshVolumesButton.connect("clicked()", self.refreshVolumes)
        self.ui.previewButton.connect("clicked()", self.onPreview)
        self.ui.exportButton.connect("clicked()", self.onExport)
        self.ui.startButton.connect("clicked()", self.onStart)
        self.ui.stopButton.connect("clicked()", self.onStop)
        self.ui.resumeButton.connect("clicked()", self.onResume)
        self.ui.workspacePathLineEdit.connect("currentPathChanged(QString)", lambda _: self.loadJobs())
        self.ui.jobsTableWidget.connect("itemSelectionChanged()", self.onJobSelected)
        self.ui.logitAdjustedCheckBox.connect("toggled(bool)", lambda _: self.showResults())
        self.ui.applySegmentationSelector.connect("currentNodeChanged(vtkMRMLNode*)", self.listSegments)
        self.ui.applyButton.connect("clicked()", self.onApply)
        self.timer.connect("timeout()", self.poll)

        self.refreshVolumes()
        self.loadJobs()
        self.timer.start()

    def cleanup(self):
        self.timer.stop()
        self.removeObservers()

    # --- export -----------------------------------------------------------------------------------

    def refreshVolumes(self):
        """One row per scalar volume: use, name, segmentation choice (those referencing it first), split."""
        table = self.ui.exportVolumesTableWidget
        volumes = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
        segmentations = slicer.util.getNodesByClass("vtkMRMLSegmentationNode")
        table.setRowCount(len(volumes))
        for row, volume in enumerate(volumes):
            use = qt.QTableWidgetItem()
            use.setCheckState(qt.Qt.Checked)
            table.setItem(row, 0, use)
            name = qt.QTableWidgetItem(volume.GetName())
            name.setData(qt.Qt.UserRole, volume.GetID())
            table.setItem(row, 1, name)
            combo = qt.QComboBox()
            combo.addItem("(none: unlabelled)", "")
            choices, preselect = segmentation_choices(volume, segmentations)
            for segmentation in choices:
                combo.addItem(segmentation.GetName(), segmentation.GetID())
            combo.setCurrentIndex(1 if preselect else 0)
            table.setCellWidget(row, 2, combo)
            split = qt.QComboBox()
            split.addItems(list(SPLIT_CHOICES))
            table.setCellWidget(row, 3, split)

    def exportChoices(self):
        """(pairs of (volume, segmentation or None), fixed split by volume name) of the checked rows."""
        table = self.ui.exportVolumesTableWidget
        pairs, fixed = [], {}
        for row in range(table.rowCount):
            if table.item(row, 0).checkState() != qt.Qt.Checked:
                continue
            volume = slicer.mrmlScene.GetNodeByID(table.item(row, 1).data(qt.Qt.UserRole))
            combo = table.cellWidget(row, 2)
            segmentationId = combo.itemData(combo.currentIndex)
            pairs.append((volume, slicer.mrmlScene.GetNodeByID(segmentationId) if segmentationId else None))
            split = table.cellWidget(row, 3).currentText
            if split != "auto":
                fixed[volume.GetName()] = split
        return pairs, fixed

    def exportSettings(self) -> ExportSettings:
        ui = self.ui
        planes = [name for name, box in (("axial", ui.axialCheckBox), ("coronal", ui.coronalCheckBox),
                                         ("sagittal", ui.sagittalCheckBox)) if box.checked]
        return ExportSettings(
            planes=planes,
            patch_px=ui.patchPixelsSpinBox.value,
            patch_mm=ui.patchMillimetresSpinBox.value,
            channels=ui.channelsSpinBox.value,
            window=(ui.windowLowSpinBox.value, ui.windowHighSpinBox.value) if ui.fixedWindowCheckBox.checked else None,
            max_patches_per_segment=ui.maxPatchesSpinBox.value,
            voxels_per_patch=ui.voxelsPerPatchSpinBox.value,
            unlabelled_per_volume=ui.unlabelledPerVolumeSpinBox.value,
            test_fraction=ui.testFractionSpinBox.value,
            unlabelled_fraction=ui.unlabelledFractionSpinBox.value,
            seed=ui.seedSpinBox.value,
        )

    def classMapping(self) -> ClassMapping:
        return ClassMapping(parse_class_table(self.ui.classTableTextEdit.plainText),
                            self.ui.useTerminologyCheckBox.checked, self.ui.skipUnmappedCheckBox.checked)

    def onPreview(self):
        with slicer.util.tryWithErrorDisplay("Export settings or volumes are not valid.", waitCursor=True):
            pairs, fixed = self.exportChoices()
            self.plan = plan_scene_export(pairs, self.exportSettings(), self.classMapping(), fixed)
            self.ui.summaryTextEdit.setPlainText(self.plan.summary.text())

    def onExport(self):
        self.plan = None
        self.onPreview()
        if self.plan is None or not slicer.util.confirmOkCancelDisplay(
                self.plan.summary.text(), "Export these patches?"):
            return
        with slicer.util.tryWithErrorDisplay("Export failed; nothing was written.", waitCursor=True):
            manifest = write_export(self.plan, self.ui.datasetPathLineEdit.currentPath, self.ui.overwriteCheckBox.checked)
            self.ui.trainDatasetPathLineEdit.currentPath = str(manifest.parent)
            self.ui.summaryTextEdit.appendPlainText(f"\nwritten: {manifest.parent}")

    # --- jobs -------------------------------------------------------------------------------------

    def trainingOptions(self) -> TrainingOptions:
        ui = self.ui
        return TrainingOptions(
            method=ui.methodComboBox.currentText, generations=ui.generationsSpinBox.value,
            steps=ui.stepsSpinBox.value, alpha=ui.alphaSpinBox.value, t_min=ui.tMinSpinBox.value,
            pick_from=ui.pickFromComboBox.currentText, warm_start=ui.warmStartCheckBox.checked,
            batch_size=ui.batchSizeSpinBox.value, architecture=ui.architectureComboBox.currentText,
            no_flip=not ui.flipCheckBox.checked, device=ui.deviceComboBox.currentText, threads=ui.threadsSpinBox.value,
        )

    def loadJobs(self):
        self.jobs = {job.name: job for job in JobWorkspace(self.ui.workspacePathLineEdit.currentPath).jobs()}
        table = self.ui.jobsTableWidget
        table.setRowCount(len(self.jobs))
        for row, name in enumerate(self.jobs):
            for column in range(3):
                table.setItem(row, column, qt.QTableWidgetItem(name if column == 0 else ""))
        self.poll()

    def selectedJob(self) -> Job | None:
        rows = self.ui.jobsTableWidget.selectionModel().selectedRows()
        return self.jobs.get(self.ui.jobsTableWidget.item(rows[0].row(), 0).text()) if rows else None

    def launch(self, job: Job):
        """Start the job's command in a QProcess, output appended to its output.log."""
        process = qt.QProcess()
        process.setProcessChannelMode(qt.QProcess.MergedChannels)
        process.setStandardOutputFile(str(job.output_log), qt.QIODevice.Append)
        environment = qt.QProcessEnvironment.systemEnvironment()
        environment.insert("PYTHONPATH", job.environment()["PYTHONPATH"])
        process.setProcessEnvironment(environment)
        command = job.command(pythonExecutable())
        process.start(command[0], command[1:])
        self.processes[job.name] = process

    def onStart(self):
        with slicer.util.tryWithErrorDisplay("Could not create the job.", waitCursor=True):
            workspace = JobWorkspace(self.ui.workspacePathLineEdit.currentPath)
            job = workspace.create(self.ui.jobNameLineEdit.text, self.ui.trainDatasetPathLineEdit.currentPath,
                                   self.trainingOptions())
            self.launch(job)
            self.loadJobs()

    def onStop(self):
        job = self.selectedJob()
        if job is not None:
            job.stop()

    def onResume(self):
        job = self.selectedJob()
        if job is not None and job.can_start():
            self.launch(job)

    def poll(self):
        """Timer tick: state and progress of every job; results when the selected job has finished."""
        table = self.ui.jobsTableWidget
        selected = self.selectedJob()
        for row in range(table.rowCount):
            job = self.jobs[table.item(row, 0).text()]
            status = job.status()
            table.item(row, 1).setText(status.state)
            table.item(row, 2).setText(f"{100 * status.progress.fraction:.0f}%")
            if job is selected:
                self.ui.jobProgressBar.value = int(100 * status.progress.fraction)
                detail = status.progress.text() + (f"\nerror: {status.error}" if status.error else "")
                self.ui.jobStatusLabel.text = f"{job.name}: {status.state} -- {detail}"

    def onJobSelected(self):
        self.poll()
        self.showResults()

    # --- results ----------------------------------------------------------------------------------

    def showResults(self):
        job = self.selectedJob()
        evaluation = job.run_dir / "evaluation" if job is not None else None
        if evaluation is None or not (evaluation / "metrics.json").exists():
            self.ui.resultsSummaryLabel.text = "Select a finished job."
            self.ui.resultsTableWidget.setRowCount(0)
            return
        results = load_results(evaluation, job.record()["dataset"])
        self.ui.resultsSummaryLabel.text = results.text().splitlines()[0]
        table = self.ui.resultsTableWidget
        table.setRowCount(len(results.classes))
        for row, result in enumerate(results.classes):
            values = [result.name, str(result.labelled), str(result.test)] + [
                "-" if np.isnan(v) else f"{100 * v:.1f}"
                for v in (result.precision, result.recall, result.precision_la, result.recall_la)]
            for column, value in enumerate(values):
                table.setItem(row, column, qt.QTableWidgetItem(value))
        confusion = "confusion_matrix_la.png" if self.ui.logitAdjustedCheckBox.checked else "confusion_matrix_plain.png"
        for label, name in ((self.ui.generationPlotLabel, "accuracy_per_generation.png"),
                            (self.ui.confusionMatrixLabel, confusion)):
            path = results.figures.get(name)
            label.setPixmap(qt.QPixmap(str(path)).scaledToWidth(320, qt.Qt.SmoothTransformation) if path else qt.QPixmap())

    # --- apply ------------------------------------------------------------------------------------

    def listSegments(self, segmentationNode):
        widget = self.ui.applySegmentsListWidget
        widget.clear()
        if segmentationNode is None:
            return
        segmentation = segmentationNode.GetSegmentation()
        for index in range(segmentation.GetNumberOfSegments()):
            item = qt.QListWidgetItem(segmentation.GetNthSegment(index).GetName())
            item.setData(qt.Qt.UserRole, segmentation.GetNthSegmentID(index))
            item.setCheckState(qt.Qt.Checked)
            widget.addItem(item)

    def onApply(self):
        job = self.selectedJob()
        if job is None or job.status().state != "finished":
            slicer.util.errorDisplay("Select a finished job in the jobs table first.")
            return
        widget = self.ui.applySegmentsListWidget
        segmentIds = [widget.item(i).data(qt.Qt.UserRole) for i in range(widget.count)
                      if widget.item(i).checkState() == qt.Qt.Checked]
        segmentationNode = self.ui.applySegmentationSelector.currentNode()
        with slicer.util.tryWithErrorDisplay("Classification failed; the segments were not changed.", waitCursor=True):
            predictions = classify_scene_segments(
                job.run_dir, self.ui.applyVolumeSelector.currentNode(), segmentationNode, segmentIds,
                device=self.ui.deviceComboBox.currentText,
                logit_adjustment=self.ui.applyLogitAdjustmentCheckBox.checked)
            write_predictions(predictions, segmentationNode, self.ui.applyTableSelector.currentNode(), job.run_dir,
                              rename=self.ui.renameSegmentsCheckBox.checked)
            self.ui.applyStatusLabel.text = ", ".join(
                f"{segmentationNode.GetSegmentation().GetSegment(p.segment_id).GetName()}: {p.class_name} "
                f"({100 * p.confidence:.0f}%)" for p in predictions)
            self.listSegments(segmentationNode)  # names change when renaming


class CReSTToolsTest(ScriptedLoadableModuleTest):
    """In-application test: a tiny export -> training job -> results -> apply cycle on synthetic volumes."""

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        self.setUp()
        self.test_cycle()

    def test_cycle(self):
        self.delayDisplay("Building volumes with three classes of segments")
        pairs = []
        for index in range(3):
            array = np.full((12, 24, 24), 10, dtype=np.int16)
            volume = slicer.util.addVolumeFromArray(array, name=f"case{index}")
            segmentation = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLSegmentationNode", f"case{index} segments")
            segmentation.SetReferenceImageGeometryParameterFromVolumeNode(volume)
            for name, value, block in (("liver", 100, np.s_[2:10, 2:14, 2:14]), ("spleen", 200, np.s_[3:9, 15:21, 15:21]),
                                       ("kidney", 150, np.s_[4:7, 16:20, 3:7])):
                array[block] = value
                mask = np.zeros(array.shape, dtype=np.uint8)
                mask[block] = 1
                segmentId = segmentation.GetSegmentation().AddEmptySegment("", name)
                slicer.util.updateSegmentBinaryLabelmapFromArray(mask, segmentation, segmentId, volume)
            slicer.util.updateVolumeFromArray(volume, array)
            pairs.append((volume, segmentation))

        folder = Path(tempfile.mkdtemp(prefix="CReSTToolsTest"))
        settings = ExportSettings(patch_px=12, patch_mm=12.0, window=(0, 255), voxels_per_patch=8,
                                  max_patches_per_segment=40, unlabelled_per_volume=20, test_fraction=0.34)
        plan = plan_scene_export(pairs, settings)
        self.assertEqual(plan.summary.class_names, ["liver", "spleen", "kidney"])
        manifest = write_export(plan, folder / "dataset")

        self.delayDisplay("Training a tiny job in the background")
        job = JobWorkspace(folder / "jobs").create("tiny", manifest, TrainingOptions(
            generations=2, steps=20, batch_size=16, unlabelled_ratio=1, device="cpu"))
        process = job.start_subprocess(pythonExecutable())
        while process.poll() is None:
            slicer.app.processEvents()
            qt.QThread.msleep(200)
        self.assertEqual(job.status().state, "finished")
        results = load_results(job.run_dir / "evaluation", manifest)
        self.assertEqual([c.name for c in results.classes], plan.summary.class_names)

        self.delayDisplay("Classifying the segments of the first volume")
        volume, segmentation = pairs[0]
        ids = [segmentation.GetSegmentation().GetNthSegmentID(i) for i in range(3)]
        predictions = classify_scene_segments(job.run_dir, volume, segmentation, ids, device="cpu")
        table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode")
        write_predictions(predictions, segmentation, table, job.run_dir)
        self.assertEqual(table.GetNumberOfRows(), 3)
        shutil.rmtree(folder, ignore_errors=True)
        self.delayDisplay("Test passed")

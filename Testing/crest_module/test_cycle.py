"""The whole module cycle on slicer-core nodes: export -> background training job -> results -> apply."""

from __future__ import annotations

import json

import numpy as np
import pytest
import slicer
from crest_tools.export_settings import ClassMapping, ExportSettings
from crest_tools.jobs import JobWorkspace, TrainingOptions, last_error_line
from crest_tools.patch_export import write_export
from crest_tools.results import FIGURES, load_results
from CReSTToolsLib.apply_logic import TAG_PREFIX, classify_scene_segments, write_predictions
from CReSTToolsLib.export_logic import plan_scene_export
from Sli2VolSegmentLib.repropagation import segment_tag

SETTINGS = ExportSettings(patch_px=12, patch_mm=12.0, window=(0, 255), voxels_per_patch=8,
                          max_patches_per_segment=40, unlabelled_per_volume=20, test_fraction=0.34, seed=1)
OPTIONS = TrainingOptions(method="crest+", generations=2, steps=60, batch_size=16, unlabelled_ratio=2,
                          threshold=0.9, device="cpu", log_interval=10, checkpoint_interval=30,
                          pick_from="logit-adjusted", warm_start=True)


@pytest.fixture
def finished_job(synthetic_scene, tmp_path):
    """(scene pairs, job) after exporting the synthetic scene and training on it in a background process."""
    _, pairs = synthetic_scene
    plan = plan_scene_export(pairs, SETTINGS, ClassMapping({"left kidney": "kidney", "skip me": ""}))
    manifest = write_export(plan, tmp_path / "dataset")
    job = JobWorkspace(tmp_path / "jobs").create("organs", manifest, OPTIONS)
    assert job.start_subprocess().wait(timeout=400) == 0, last_error_line(job.output_log)
    return pairs, job, plan.summary


def test_export_train_evaluate_apply(finished_job):
    pairs, job, summary = finished_job
    status = job.status()
    assert status.state == "finished" and len(status.progress.history) == 2
    crest_config = json.loads((job.run_dir / "config.json").read_text())["crest"]
    assert crest_config["warm_start"] and crest_config["pick_from"] == "logit-adjusted"  # the module's deviations reach the run

    results = load_results(job.run_dir / "evaluation", job.record()["dataset"])
    assert [c.name for c in results.classes] == summary.class_names
    assert [c.labelled for c in results.classes] == summary.counts["labelled"]
    assert [c.test for c in results.classes] == summary.counts["test"]
    assert sorted(results.figures) == sorted(FIGURES)
    assert results.balanced_accuracy_la > 0.6  # each class has its own intensity: easy to learn
    assert "balanced accuracy" in results.text()

    volume, segmentation = pairs[0]
    seg = segmentation.GetSegmentation()
    ids = [seg.GetNthSegmentID(i) for i in range(seg.GetNumberOfSegments())]
    names = [seg.GetSegment(i).GetName() for i in ids]
    predictions = classify_scene_segments(job.run_dir, volume, segmentation, ids, device="cpu")
    assert [p.segment_id for p in predictions] == ids
    for prediction in predictions:
        assert prediction.probabilities.sum() == pytest.approx(1.0, abs=1e-5) and prediction.patches > 0
    assert sum(p.class_name == n for p, n in zip(predictions, names)) >= 2

    table = slicer.mrmlScene.AddNewNodeByClass("vtkMRMLTableNode", "CReST predictions")
    write_predictions(predictions, segmentation, table, job.run_dir)
    assert [seg.GetSegment(i).GetName() for i in ids] == names  # not renamed unless asked
    assert table.GetNumberOfRows() == len(ids)
    assert table.GetColumnName(2) == "class" and table.GetCellText(0, 1) == names[0]
    columns = [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())]
    assert columns[5:] == [f"p_{n}" for n in predictions[0].class_names]
    for row, prediction in enumerate(predictions):
        assert table.GetCellText(row, 2) == prediction.class_name
        assert float(table.GetCellText(row, 3)) == pytest.approx(prediction.confidence, abs=1e-6)
        segment = seg.GetSegment(prediction.segment_id)
        assert segment_tag(segment, TAG_PREFIX + "class") == prediction.class_name
        stored = json.loads(segment_tag(segment, TAG_PREFIX + "probabilities"))
        assert np.allclose(list(stored.values()), prediction.probabilities, atol=1e-4)

    write_predictions(predictions, segmentation, rename=True)
    assert [seg.GetSegment(i).GetName() for i in ids] == [p.class_name for p in predictions]

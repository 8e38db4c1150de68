"""Applying predictions to segments on slicer-core nodes: an empty segment gets no class, no tag, no new name."""

from __future__ import annotations

import numpy as np
from crest_scene import INTENSITY, add_segmented_volume, ijk_to_ras
from crest_tools.export_settings import ExportSettings
from crest_tools.segment_classification import SegmentPrediction, segment_patches
from CReSTToolsLib.apply_logic import TAG_PREFIX, write_predictions
from CReSTToolsLib.export_logic import segment_masks_on_volume
from CReSTToolsLib.node_arrays import volume_array

SETTINGS = ExportSettings(patch_px=9, patch_mm=9.0, channels=1, window=(0, 255), voxels_per_patch=24)
CLASSES = ["liver", "spleen"]


def test_empty_segment_keeps_its_name_and_gets_an_empty_table_row(scene):
    volume, segmentation = add_segmented_volume(scene, "axial", [("liver", "liver")], ijk_to_ras())
    seg = segmentation.GetSegmentation()
    empty_id = seg.AddEmptySegment("", "not drawn yet")
    liver_id = seg.GetSegmentIdBySegmentName("liver")
    array, matrix = volume_array(volume)
    masks = segment_masks_on_volume(volume, segmentation, [liver_id, empty_id])
    patches = {sid: segment_patches(array, matrix, mask, SETTINGS) for sid, mask in masks.items()}
    assert len(patches[empty_id]) == 0 and len(patches[liver_id]) > 0
    assert set(patches[liver_id][:, 0, 4, 4].tolist()) == {INTENSITY["liver"]}
    # what classify_segments returns for them (probabilities of a trained model for the liver)
    predictions = [SegmentPrediction(liver_id, CLASSES, np.array([0.9, 0.1]), len(patches[liver_id])),
                   SegmentPrediction(empty_id, CLASSES, np.zeros(2), 0)]

    table = scene.AddNewNodeByClass("vtkMRMLTableNode", "predictions")
    write_predictions(predictions, segmentation, table, "run", rename=True)
    assert [seg.GetSegment(i).GetName() for i in (liver_id, empty_id)] == ["liver", "not drawn yet"]
    assert seg.GetSegment(liver_id).HasTag(TAG_PREFIX + "class")
    assert not any(seg.GetSegment(empty_id).HasTag(TAG_PREFIX + t) for t in ("class", "confidence", "run"))
    assert table.GetNumberOfRows() == 2
    assert [table.GetCellText(1, c) for c in range(5)] == [empty_id, "not drawn yet", "", "0", "0"]
    assert table.GetCellText(0, 2) == "liver" and float(table.GetCellText(0, 3)) == 0.9

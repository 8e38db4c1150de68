"""Apply a finished run to segments of the scene: predicted class and probabilities per segment (Qt-free).

Results go into a table node (one row per segment) and into each segment's tags (``CReST.class``,
``CReST.confidence``, ``CReST.probabilities`` as JSON, ``CReST.run``). Segment names, colours and
labelmaps are left alone unless ``rename`` is set, which renames each segment to its class.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from crest_tools.patch_sampling import volume_window
from crest_tools.segment_classification import (
    SegmentPrediction,
    classify_segments,
    run_export_settings,
    segment_patches,
)

from .export_logic import segment_masks_on_volume
from .node_arrays import volume_array

TAG_PREFIX = "CReST."


def classify_scene_segments(
    run_dir: str | Path,
    volume_node,
    segmentation_node,
    segment_ids: Sequence[str],
    device: str = "auto",
    logit_adjustment: bool = True,
    generation: int | None = None,
) -> list[SegmentPrediction]:
    """Predictions for segments of ``segmentation_node`` drawn on ``volume_node`` (nothing is written)."""
    from crest_tools.inference import load_trained_model
    from crest_tools.run_directory import RunDirectory
    from sli2vol.engine.device import select_device

    settings = run_export_settings(run_dir)
    volume, ijk_to_ras = volume_array(volume_node)
    masks = segment_masks_on_volume(volume_node, segmentation_node, segment_ids)
    window = volume_window(volume, settings)  # one percentile pass per volume, not per segment
    patches = {sid: segment_patches(volume, ijk_to_ras, mask, settings, window)
               for sid, mask in masks.items()}
    torch_device = select_device(device)
    trained = load_trained_model(RunDirectory(run_dir), torch_device, generation)
    return classify_segments(trained, patches, torch_device, logit_adjustment)


def write_predictions(
    predictions: Sequence[SegmentPrediction],
    segmentation_node,
    table_node=None,
    run_dir: str | Path | None = None,
    rename: bool = False,
) -> None:
    """Fill ``table_node`` (replacing its columns) and the segments' tags; rename segments if asked."""
    segmentation = segmentation_node.GetSegmentation()
    for prediction in predictions:
        if not prediction.patches:
            continue
        segment = segmentation.GetSegment(prediction.segment_id)
        probabilities = dict(zip(prediction.class_names, (round(float(p), 4) for p in prediction.probabilities)))
        segment.SetTag(TAG_PREFIX + "class", prediction.class_name)
        segment.SetTag(TAG_PREFIX + "confidence", f"{prediction.confidence:.4f}")
        segment.SetTag(TAG_PREFIX + "probabilities", json.dumps(probabilities))
        if run_dir is not None:
            segment.SetTag(TAG_PREFIX + "run", str(run_dir))
        if rename:
            segment.SetName(prediction.class_name)
    if table_node is not None:
        fill_table(table_node, predictions, segmentation)


def fill_table(table_node, predictions: Sequence[SegmentPrediction], segmentation) -> None:
    """Columns segment id, segment, class, confidence, patches, p_<class>...; one row per prediction."""
    import vtk

    names = predictions[0].class_names if predictions else []
    text_columns = ("segment id", "segment", "class")
    number_columns = ("confidence", "patches", *(f"p_{n}" for n in names))
    columns = [vtk.vtkStringArray() for _ in text_columns] + [vtk.vtkDoubleArray() for _ in number_columns]
    for column, title in zip(columns, text_columns + number_columns):
        column.SetName(title)
    for prediction in predictions:
        segment = segmentation.GetSegment(prediction.segment_id)
        texts = (prediction.segment_id, segment.GetName(), prediction.class_name or "")
        numbers = (prediction.confidence, prediction.patches, *prediction.probabilities)
        for column, value in zip(columns, texts):
            column.InsertNextValue(value)
        for column, value in zip(columns[len(texts):], numbers):
            column.InsertNextValue(float(value))
    table = vtk.vtkTable()
    for column in columns:
        table.AddColumn(column)
    table_node.SetAndObserveTable(table)

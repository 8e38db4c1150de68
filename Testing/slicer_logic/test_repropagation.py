"""Re-propagation after corrections: edited slices become anchors, the record survives .seg.nrrd."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from Sli2VolSegmentLib import EditorLogicWriter, PropagationOptions, Sli2VolLogic
from Sli2VolSegmentLib.repropagation import PropagationRecord, anchor_slices, segment_tag
from slicer_scene import Scene, core_result, ijk_to_ras_matrix, one_slice

ANCHOR, EDITED = 12, 16


def propagate_and_apply(scene, segment_ids, **options):
    logic = Sli2VolLogic()
    outcome = logic.propagate(scene.volume, scene.segmentation, PropagationOptions(segment_ids, view="Red", **options))
    logic.apply(outcome, EditorLogicWriter(scene.editor_logic))
    return outcome


def save_and_reload(scene, tmp_path):
    """The segmentation written to a .seg.nrrd file and read back into a new node (the editor uses it)."""
    path = str(tmp_path / "segmentation.seg.nrrd")
    writer = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    writer.SetFileName(path)
    assert writer.WriteData(scene.segmentation)
    reloaded = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "reloaded")
    reader = scene.scene.AddNewNodeByClass("vtkMRMLSegmentationStorageNode")
    reader.SetFileName(path)
    assert reader.ReadData(reloaded)
    scene.segmentation = reloaded
    scene.editor_logic.SetSegmentationNode(reloaded)
    return reloaded


@pytest.fixture
def corrected(phantom, tmp_path):
    """Segment propagated from slice ANCHOR, slice EDITED then corrected (enlarged), saved and reloaded."""
    image, labels, spacing = phantom
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1]))
    sid = s.add_segment(one_slice(labels, 1, ANCHOR), "one")
    first = propagate_and_apply(s, [sid])
    assert EDITED in first.propagated[sid]
    segment = s.segment(sid)
    correction = ndimage.binary_dilation(labels[EDITED] == 1, iterations=3)  # the user enlarges the slice
    assert not np.array_equal(segment[EDITED], correction)
    segment[EDITED] = correction
    s.set_segment(sid, segment)
    tag = segment_tag(s.segmentation.GetSegmentation().GetSegment(sid))
    save_and_reload(s, tmp_path)
    return s, sid, tag, segment


def test_the_record_survives_seg_nrrd_save_and_reload(corrected):
    s, sid, tag, segment = corrected
    reloaded_tag = segment_tag(s.segmentation.GetSegmentation().GetSegment(sid))
    assert reloaded_tag == tag
    record = PropagationRecord.from_tag(reloaded_tag)
    assert record.anchors == [ANCHOR] and EDITED in record.written
    np.testing.assert_array_equal(s.segment(sid), segment)
    assert anchor_slices(segment, 0, record) == [ANCHOR, EDITED]


def test_edited_slices_are_kept_and_used_as_anchors(phantom, corrected):
    image, _, spacing = phantom
    s, sid, _, segment = corrected
    outcome = propagate_and_apply(s, [sid])
    assert outcome.anchors[sid] == [ANCHOR, EDITED]
    anchors = np.zeros(image.shape, np.uint8)
    anchors[[ANCHOR, EDITED]] = segment[[ANCHOR, EDITED]]
    expected = core_result(image, anchors, spacing, axis=0) == 1
    result = s.segment(sid)
    np.testing.assert_array_equal(result[EDITED], segment[EDITED])
    np.testing.assert_array_equal(result[ANCHOR], segment[ANCHOR])
    np.testing.assert_array_equal(result, expected)  # the untouched propagated slices were recomputed
    neighbours = [EDITED - 1, EDITED + 1]
    assert not np.array_equal(result[neighbours], segment[neighbours])  # and the correction moved them


def test_without_corrections_every_painted_slice_is_an_anchor(corrected):
    s, sid, _, segment = corrected
    outcome = Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([sid], view="Red",
                                                                                    use_corrections=False))
    assert outcome.anchors[sid] == [int(k) for k in np.flatnonzero(segment.any(axis=(1, 2)))]


def test_an_erased_slice_ends_the_propagation_there(phantom):
    image, labels, spacing = phantom
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1]))
    sid = s.add_segment(one_slice(labels, 1, ANCHOR), "one")
    propagate_and_apply(s, [sid])
    segment = s.segment(sid)
    assert segment[EDITED + 1:].any()
    segment[EDITED] = False
    s.set_segment(sid, segment)
    outcome = propagate_and_apply(s, [sid])
    assert max(outcome.propagated[sid]) == EDITED - 1
    result = s.segment(sid)
    assert not result[EDITED].any()
    np.testing.assert_array_equal(result[EDITED + 1:], segment[EDITED + 1:])  # beyond it: left as it was


def test_a_corrected_segment_uses_its_runs_axis_without_a_view(corrected):
    s, sid, _, _ = corrected
    outcome = Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([sid]))
    assert outcome.axis == 0 and outcome.anchors[sid] == [ANCHOR, EDITED]


def test_a_foreign_tag_is_ignored():
    assert PropagationRecord.from_tag("not a record") is None


def test_an_erased_slice_between_anchors_stays_empty(corrected):
    s, sid, _, _ = corrected
    between = ANCHOR + 2
    propagate_and_apply(s, [sid])  # anchors ANCHOR and EDITED: the slices between are written
    segment = s.segment(sid)
    assert segment[between].any()
    segment[between] = False
    s.set_segment(sid, segment)
    outcome = propagate_and_apply(s, [sid])
    assert between not in outcome.propagated[sid] and outcome.anchors[sid] == [ANCHOR, EDITED]
    assert not s.segment(sid)[between].any()

"""Writing the result: one undo step, the editor's masking and overwrite mode, cancel and failures."""
from __future__ import annotations

import numpy as np
import pytest
import slicer
from sli2vol import InputError, PropagationCancelled
from Sli2VolSegmentLib import EditorLogicWriter, PropagationOptions, Sli2VolLogic
from slicer_scene import Scene, assert_same_state, ijk_to_ras_matrix, one_slice

LIMITS = {"max_slices_backward": 4, "max_slices_forward": 4}


@pytest.fixture
def scene_with_other(phantom):
    """Segment "one" painted on slice 12; segment "other", a box across structure 1 on slices 13-15."""
    image, labels, spacing = phantom
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1]))
    s.one = s.add_segment(one_slice(labels, 1, 12), "one")
    box = np.zeros(image.shape, bool)
    rows, cols = np.nonzero(labels[14] == 1)
    box[13:16, rows.min():rows.max() + 1, cols.min():(cols.min() + cols.max()) // 2] = True
    s.other = s.add_segment(box, "other")
    return s


def apply(scene, **options):
    logic = Sli2VolLogic()
    outcome = logic.propagate(scene.volume, scene.segmentation, PropagationOptions([scene.one], view="Red", **LIMITS,
                                                                                   **options))
    logic.apply(outcome, EditorLogicWriter(scene.editor_logic))
    return outcome


def test_undo_restores_the_exact_previous_state(scene_with_other):
    s = scene_with_other
    before = s.state()
    apply(s)
    after = s.state()
    assert after[s.one][0].sum() > before[s.one][0].sum() and after[s.one][1] is not None
    assert s.editor_logic.CanUndo()
    s.editor_logic.Undo()
    assert_same_state(before, s.state())
    s.editor_logic.Redo()
    assert_same_state(after, s.state())


def apply_in_modes(scene, mask_mode: str, overwrite_mode: str) -> tuple:
    """(other segment before, "one" after, "other" after) of an apply with the editor node's modes."""
    scene.editor_node.SetMaskMode(getattr(scene.segmentation, mask_mode))
    scene.editor_node.SetOverwriteMode(getattr(scene.editor_node, overwrite_mode))
    other = scene.segment(scene.other)
    apply(scene)
    return other, scene.segment(scene.one), scene.segment(scene.other)


def test_overwrite_none_leaves_other_segments_untouched(scene_with_other):
    other, one, other_after = apply_in_modes(scene_with_other, "EditAllowedEverywhere", "OverwriteNone")
    np.testing.assert_array_equal(other_after, other)
    assert (one & other).any()  # the propagated segment overlaps it


def test_overwrite_all_takes_the_overlap_from_other_segments(scene_with_other):
    other, one, other_after = apply_in_modes(scene_with_other, "EditAllowedEverywhere", "OverwriteAllSegments")
    assert (one & other).any()
    np.testing.assert_array_equal(other_after, other & ~one)


def test_editable_area_outside_all_segments_is_honoured(scene_with_other):
    other, one, other_after = apply_in_modes(scene_with_other, "EditAllowedOutsideAllSegments", "OverwriteNone")
    assert one[13:17].any() and not (one & other).any()
    np.testing.assert_array_equal(other_after, other)


def test_editable_intensity_range_is_honoured(phantom, scene_with_other):
    image = phantom[0]
    s = scene_with_other
    low, high = 150.0, float(np.percentile(image[phantom[1] == 1], 60))
    s.editor_node.SetSourceVolumeIntensityMask(True)
    s.editor_node.SetSourceVolumeIntensityMaskRange(low, high)
    outcome = apply(s)
    written = np.zeros(image.shape, bool)
    written[outcome.propagated[s.one]] = True
    one = s.segment(s.one)
    assert (one & written).any()
    assert ((image[one & written] >= low) & (image[one & written] <= high)).all()
    assert (outcome.segment_mask(s.one) & written & (image > high)).any()  # the range did remove voxels


def test_a_cancelled_run_leaves_the_scene_unchanged(scene_with_other):
    s = scene_with_other
    before, nodes = s.state(), s.scene.GetNumberOfNodes()
    polls = []

    def cancel():
        polls.append(1)
        return len(polls) >= 3

    with pytest.raises(PropagationCancelled):
        Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([s.one], view="Red"), cancel=cancel)
    assert len(polls) == 3
    assert_same_state(before, s.state())
    assert s.scene.GetNumberOfNodes() == nodes and not s.editor_logic.CanUndo()


def test_progress_reaches_the_planned_total(scene_with_other):
    s = scene_with_other
    calls = []
    Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([s.one], view="Red", **LIMITS),
                             progress=lambda done, total: calls.append((done, total)))
    assert calls[-1][0] == calls[-1][1] == 8 and [d for d, _ in calls] == sorted(d for d, _ in calls)


def test_apply_after_the_segment_was_removed_is_refused(scene_with_other):
    s = scene_with_other
    logic = Sli2VolLogic()
    outcome = logic.propagate(s.volume, s.segmentation, PropagationOptions([s.one], view="Red", **LIMITS))
    s.segmentation.GetSegmentation().RemoveSegment(s.one)
    before = s.state()
    with pytest.raises(InputError, match="is not in"):
        logic.apply(outcome, EditorLogicWriter(s.editor_logic))
    assert_same_state(before, s.state())


def test_apply_without_a_reference_geometry_is_refused(scene_with_other):
    s = scene_with_other
    logic = Sli2VolLogic()
    outcome = logic.propagate(s.volume, s.segmentation, PropagationOptions([s.one], view="Red", **LIMITS))

    class NoGeometry(EditorLogicWriter):
        def reference_geometry(self):
            return slicer.vtkOrientedImageData()

    before = s.state()
    with pytest.raises(InputError, match="no reference geometry"):
        logic.apply(outcome, NoGeometry(s.editor_logic))
    assert_same_state(before, s.state())
    assert not s.editor_logic.CanUndo()

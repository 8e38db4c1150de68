"""Sli2VolLogic on real MRML nodes: the written segments equal the core's result, voxel for voxel,
whatever the geometry of the volume and of the segmentation."""
from __future__ import annotations

import numpy as np
import pytest
from sli2vol import default_model_path
from sli2vol.errors import InputError
from Sli2VolSegmentLib import (
    EditorLogicWriter,
    PropagationOptions,
    Sli2VolLogic,
    visible_segment_ids,
    volume_grid,
)
from slicer_scene import PHANTOM_SHAPE, Scene, core_result, ijk_to_ras_matrix, one_slice


def propagate_and_apply(scene: Scene, segment_ids, **options):
    logic = Sli2VolLogic()
    outcome = logic.propagate(scene.volume, scene.segmentation, PropagationOptions(segment_ids, **options))
    logic.apply(outcome, EditorLogicWriter(scene.editor_logic))
    return outcome


def test_two_segments_match_the_core(phantom, axial_scene):
    image, _, spacing = phantom
    s = axial_scene
    annotation = s.segment(s.ids[0]).astype(np.uint8) + 2 * s.segment(s.ids[1])
    outcome = propagate_and_apply(s, s.ids, view="Red")
    assert outcome.axis == 0
    expected = core_result(image, annotation, spacing, axis=0)
    for label, sid in enumerate(s.ids, start=1):
        np.testing.assert_array_equal(s.segment(sid), expected == label)
    assert (expected == 1).sum() > 5 * (annotation == 1).sum()  # it did propagate


def test_oblique_volume_with_flipped_axes_matches_the_core(phantom):
    """IJK rotated 30 degrees about S, I and K flipped: the Red view is still normal to K."""
    image, labels, spacing = phantom
    t = np.radians(30)
    directions = np.array([[-np.cos(t), np.sin(t), 0], [-np.sin(t), -np.cos(t), 0], [0, 0, -1]])
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1], directions, origin=(3.0, -7.0, 40.0)))
    annotation = one_slice(labels, 1, 12)
    sid = s.add_segment(annotation, "one")
    propagate_and_apply(s, [sid], view="Red")
    np.testing.assert_array_equal(s.segment(sid), core_result(image, annotation, spacing, axis=0) == 1)


@pytest.mark.parametrize(("view", "axis"), [("Yellow", 0), ("Red", 2)])
def test_permuted_volume_propagates_along_the_views_normal(phantom, view, axis):
    """IJK axes are (S, A, R): the Yellow (sagittal) view is normal to K, the Red (axial) view to I."""
    image, labels, spacing = phantom
    directions = np.array([[0, 0, 1], [0, 1, 0], [1, 0, 0]])  # columns: I -> S, J -> A, K -> R
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1], directions))
    annotation = one_slice(labels, 1, int(np.argmax((labels == 1).sum(axis=tuple(a for a in range(3) if a != axis)))),
                           axis)
    sid = s.add_segment(annotation, "one")
    outcome = propagate_and_apply(s, [sid], view=view, max_slices_backward=4, max_slices_forward=4)
    assert outcome.axis == axis
    expected = core_result(image, annotation, spacing, axis=axis, max_slices_backward=4, max_slices_forward=4)
    np.testing.assert_array_equal(s.segment(sid), expected == 1)


def test_cropped_segmentation_geometry_gets_the_core_result_inside_its_extent(phantom):
    image, labels, spacing = phantom
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1]))
    crop = (slice(4, 20), slice(6, 44), slice(2, 40))  # (K, J, I) voxels of the segmentation's grid
    origin = ijk_to_ras_matrix(spacing[::-1]) @ np.array([crop[2].start, crop[1].start, crop[0].start, 1.0])
    reference = s.add_volume(image[crop], ijk_to_ras_matrix(spacing[::-1], origin=origin[:3]), "crop")
    s.segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    annotation = one_slice(labels, 1, 12)
    sid = s.add_segment(annotation, "one")
    propagate_and_apply(s, [sid], view="Red")
    expected = core_result(image, annotation, spacing, axis=0) == 1
    inside = np.zeros(image.shape, bool)
    inside[crop] = True
    result = s.segment(sid)
    np.testing.assert_array_equal(result[inside], expected[inside])
    assert not result[~inside].any()


def test_coarser_segmentation_grid_gets_the_core_result_at_its_voxel_centres(phantom):
    """Segmentation voxels twice as large in-plane, centred on every other volume voxel."""
    image, labels, spacing = phantom
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1]))
    coarse = ijk_to_ras_matrix((2 * spacing[2], 2 * spacing[1], spacing[0]))
    reference = s.add_volume(image[:, ::2, ::2], coarse, "coarse")
    s.segmentation.SetReferenceImageGeometryParameterFromVolumeNode(reference)
    annotation = one_slice(labels, 1, 12)
    annotation[:, 1::2, :] = False  # representable on the coarse grid
    annotation[:, :, 1::2] = False
    sid = s.add_segment(annotation, "one")
    painted = s.segment(sid)  # what the logic reads: the segment on the volume grid
    assert painted[12].sum() > 0 and not np.delete(painted, 12, axis=0).any()
    outcome = propagate_and_apply(s, [sid], view="Red")
    expected = core_result(image, painted, spacing, axis=0) == 1
    on_coarse = volume_grid.segment_on_geometry(s.segmentation, sid, volume_grid.volume_geometry(reference))
    written = outcome.propagated[sid]
    np.testing.assert_array_equal(on_coarse[written], expected[written][:, ::2, ::2])


def test_limits_verification_off_and_the_other_slices_untouched(phantom):
    image, labels, spacing = phantom
    s = Scene(image, ijk_to_ras_matrix(spacing[::-1]))
    annotation = one_slice(labels, 1, 12)
    far = one_slice(labels, 1, 4)  # painted outside the limits: an anchor of its own, kept
    sid = s.add_segment(annotation | far, "one")
    outcome = propagate_and_apply(s, [sid], view="Red", max_slices_backward=2, max_slices_forward=3,
                                  verification=False, device="cpu", model_path=str(default_model_path()))
    assert outcome.anchors[sid] == [4, 12] and outcome.device == "cpu"
    expected = core_result(image, (annotation | far).astype(np.uint8), spacing, axis=0, max_slices_backward=2,
                           max_slices_forward=3, verification=_no_verification()) == 1
    np.testing.assert_array_equal(s.segment(sid), expected)
    assert not s.segment(sid)[16:].any() and not s.segment(sid)[:2].any()


def _no_verification():
    from sli2vol import VerificationConfig

    return VerificationConfig(enabled=False)


def test_least_confident_slices_point_into_propagated_slices(phantom, axial_scene):
    s = axial_scene
    outcome = Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions(s.ids, view="Red"))
    picks = outcome.least_confident_slices(4)
    assert len(picks) == 4
    assert [p.confidence for p in picks] == sorted(p.confidence for p in picks)
    ras_to_ijk = np.linalg.inv(outcome.ijk_to_ras)
    for pick in picks:
        assert pick.slice_index in outcome.propagated[pick.segment_id]
        assert 0.0 <= pick.confidence <= 1.0
        k = (ras_to_ijk @ np.array([*pick.ras, 1.0]))[2]
        assert k == pytest.approx(pick.slice_index)
    total = sum(len(c) for c in outcome.confidence.values())
    assert len(outcome.least_confident_slices(10_000)) == total > 4


def test_preview_shows_the_result_and_leaves_the_segmentation_alone(axial_scene):
    s = axial_scene
    before = s.state()
    logic = Sli2VolLogic()
    outcome = logic.propagate(s.volume, s.segmentation, PropagationOptions(s.ids, view="Red"))
    preview = s.scene.AddNewNodeByClass("vtkMRMLSegmentationNode", "preview")
    logic.write_preview(outcome, preview)
    assert list(preview.GetSegmentation().GetSegmentIDs()) == list(s.ids)
    for sid in s.ids:
        np.testing.assert_array_equal(s.segment(sid, preview), outcome.segment_mask(sid))
        assert preview.GetSegmentation().GetSegment(sid).GetName() == s.segmentation.GetSegmentation().GetSegment(sid).GetName()
    from slicer_scene import assert_same_state

    assert_same_state(before, s.state())
    assert PHANTOM_SHAPE == outcome.labels.shape


def test_the_automatic_axis_is_the_painted_slices_normal(phantom, axial_scene):
    """No view given and no earlier run: the axis comes from the painted slices (the panel's default)."""
    image, _, spacing = phantom
    s = axial_scene
    annotation = s.segment(s.ids[0]).astype(np.uint8) + 2 * s.segment(s.ids[1])
    outcome = propagate_and_apply(s, s.ids)
    assert outcome.axis == 0
    expected = core_result(image, annotation, spacing, axis=0)
    for label, sid in enumerate(s.ids, start=1):
        np.testing.assert_array_equal(s.segment(sid), expected == label)


def test_all_visible_segments_leaves_out_hidden_ones(axial_scene):
    s = axial_scene
    assert visible_segment_ids(s.segmentation) == s.ids
    s.segmentation.GetDisplayNode().SetSegmentVisibility(s.ids[0], False)
    assert visible_segment_ids(s.segmentation) == s.ids[1:]


def test_adaptation_runs_the_cores_per_scan_fine_tuning(phantom, axial_scene):
    """adapt_steps reaches the core: the result equals the core's with that adaptation, and the
    progress counts the fine-tuning steps before the propagation's."""
    from sli2vol import PropagationConfig
    from sli2vol.training.adaptation import AdaptationConfig

    image, _, spacing = phantom
    s = axial_scene
    totals = []
    outcome = Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([s.ids[0]], view="Red", adapt_steps=3),
                                       progress=lambda done, total: totals.append(total))
    plain = []
    Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([s.ids[0]], view="Red"),
                             progress=lambda done, total: plain.append(total))
    assert totals[-1] == plain[-1] + 3
    expected = core_result(image, s.segment(s.ids[0]).astype(np.uint8), spacing, axis=0,
                           adaptation=AdaptationConfig(steps=3)) == 1
    np.testing.assert_array_equal(outcome.labels == 1, expected)
    assert PropagationConfig().adaptation.steps == 0
    with pytest.raises(InputError, match="adapt_steps"):
        PropagationOptions([s.ids[0]], adapt_steps=-1)

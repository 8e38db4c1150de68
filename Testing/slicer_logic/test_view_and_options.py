"""The propagation axis from the painted view, and clear messages for bad input."""
from __future__ import annotations

import numpy as np
import pytest
from sli2vol import InputError
from Sli2VolSegmentLib import PropagationOptions, Sli2VolLogic, propagation_axis
from slicer_scene import Scene, ijk_to_ras_matrix, one_slice

PERMUTED = np.array([[0, 0, -1], [0, 1, 0], [1, 0, 0]])  # columns: I -> S, J -> A, K -> L


@pytest.mark.parametrize(("directions", "expected"), [
    (np.eye(3), {"Red": 0, "Yellow": 2, "Green": 1}),
    (-np.eye(3), {"Red": 0, "Yellow": 2, "Green": 1}),  # LPS-like flips
    (PERMUTED, {"Red": 2, "Yellow": 0, "Green": 1}),
])
def test_view_names_pick_the_volume_axis(directions, expected):
    matrix = ijk_to_ras_matrix((0.7, 0.8, 3.0), directions)
    assert {view: propagation_axis(matrix, view) for view in expected} == expected


def test_a_view_matrix_is_accepted_and_an_oblique_one_refused():
    matrix = ijk_to_ras_matrix((1.0, 1.0, 2.0))
    slice_to_ras = np.eye(4)
    t = np.radians(5)  # within the tolerance
    slice_to_ras[:3, :3] = [[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]]
    assert propagation_axis(matrix, slice_to_ras) == 0
    t = np.radians(40)
    slice_to_ras[:3, :3] = [[1, 0, 0], [0, np.cos(t), -np.sin(t)], [0, np.sin(t), np.cos(t)]]
    with pytest.raises(InputError, match="oblique to the volume"):
        propagation_axis(matrix, slice_to_ras)


@pytest.mark.parametrize(("options", "message"), [
    ({"segment_ids": []}, "segment_ids"),
    ({"segment_ids": ["a", "a"]}, "twice"),
    ({"segment_ids": ["a"], "view": "Blue"}, "'Blue'"),
    ({"segment_ids": ["a"], "view": np.eye(3)}, "4x4"),
    ({"segment_ids": ["a"], "max_slices_forward": -1}, "-1"),
    ({"segment_ids": ["a"], "max_slices_backward": 2.5}, "2.5"),
    ({"segment_ids": ["a"], "device": "tpu"}, "'tpu'"),
    ({"segment_ids": ["a"], "model_path": "/no/such/model.pt"}, "/no/such/model.pt"),
])
def test_bad_options_are_refused_when_built(options, message):
    with pytest.raises(InputError, match=message):
        PropagationOptions(**options)


@pytest.fixture
def small_scene(phantom):
    image, _, spacing = phantom
    return Scene(image, ijk_to_ras_matrix(spacing[::-1]))


def test_painting_in_another_view_is_reported(phantom, small_scene):
    s = small_scene
    sid = s.add_segment(one_slice(phantom[1], 1, 20, axis=2), "sagittal stroke")
    with pytest.raises(InputError, match="does not look painted in Red"):
        Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([sid], view="Red"))


def test_strokes_in_two_orientations_without_a_view_are_ambiguous(phantom, small_scene):
    s = small_scene
    strokes = one_slice(phantom[1], 1, 12) | one_slice(phantom[1], 1, 20, axis=2)
    sid = s.add_segment(strokes, "two orientations")
    with pytest.raises(InputError, match="cannot tell which axis"):
        Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([sid]))


def test_missing_and_empty_segments_are_reported(phantom, small_scene):
    s = small_scene
    empty = s.segmentation.GetSegmentation().AddEmptySegment("empty", "empty")
    with pytest.raises(InputError, match="'nope' is not in"):
        Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions(["nope"], view="Red"))
    with pytest.raises(InputError, match="'empty' has nothing painted"):
        Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([empty], view="Red"))


def test_a_transformed_node_is_refused(phantom, small_scene):
    s = small_scene
    sid = s.add_segment(one_slice(phantom[1], 1, 12), "one")
    transform = s.scene.AddNewNodeByClass("vtkMRMLLinearTransformNode", "shift")
    s.segmentation.SetAndObserveTransformNodeID(transform.GetID())
    with pytest.raises(InputError, match="harden the transform"):
        Sli2VolLogic().propagate(s.volume, s.segmentation, PropagationOptions([sid], view="Red"))

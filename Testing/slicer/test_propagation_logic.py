"""Sli2VolLogic on real MRML nodes: the result equals the core's, voxel for voxel."""
from __future__ import annotations

import numpy as np
from conftest import PHANTOM_SHAPE
from Sli2VolSegmentLib import EditorLogicWriter, PropagationOptions, Sli2VolLogic
from sli2vol import PropagationConfig, propagate_volume


def core_result(image, annotation, spacing, **config):
    return propagate_volume(image, annotation.astype(np.uint8), spacing, None, PropagationConfig(**config))


def test_two_segments_match_the_core(phantom, axial_scene):
    image, labels, spacing = phantom
    s = axial_scene
    annotation = s.segment(s.ids[0]).astype(np.uint8) + 2 * s.segment(s.ids[1])
    logic = Sli2VolLogic()
    outcome = logic.propagate(s.volume, s.segmentation, PropagationOptions(s.ids, view="Red"))
    assert outcome.axis == 0
    logic.apply(outcome, EditorLogicWriter(s.editor_logic))
    expected = core_result(image, annotation, spacing, axis=0)
    for label, sid in enumerate(s.ids, start=1):
        np.testing.assert_array_equal(s.segment(sid), expected == label)
    assert (expected == 1).sum() > 10 * (annotation == 1).sum()  # it did propagate

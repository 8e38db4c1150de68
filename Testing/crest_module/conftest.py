"""Fixtures: a slicer-core MRML scene, and the synthetic scene of :mod:`crest_scene`."""

from __future__ import annotations

import pytest

slicer = pytest.importorskip("slicer")

from crest_scene import add_segmented_volume, add_volume, ijk_to_ras, rotation, synthetic_volume


@pytest.fixture
def scene():
    """A fresh MRML scene set as ``slicer.mrmlScene``, with the segmentations logic registered on it."""
    scene = slicer.vtkMRMLScene()
    slicer.mrmlScene = scene
    logic = slicer.vtkSlicerSegmentationsModuleLogic()
    logic.SetMRMLScene(scene)  # registers the labelmap converters empty segments need
    yield scene
    logic.SetMRMLScene(None)
    scene.Clear(1)


@pytest.fixture
def synthetic_scene(scene):
    """(scene, [(volume, segmentation or None), ...]) for the four volumes of :mod:`crest_scene`."""
    oblique = ijk_to_ras(rotate=rotation(30, 20))
    finer = ijk_to_ras(spacing=(0.5, 0.5, 1.0), origin=(-12.1, -12.1, -12.2))
    pairs = [
        add_segmented_volume(scene, "axial", [("liver", "liver"), ("spleen", "spleen"), ("kidney", "kidney")],
                             ijk_to_ras()),
        add_segmented_volume(scene, "oblique", [("Liver", "liver"), ("spleen", "spleen"), ("kidney", "kidney")],
                             oblique),
        add_segmented_volume(scene, "finer", [("liver", "liver"), ("left kidney", "kidney"), ("skip me", "skip me")],
                             ijk_to_ras(), finer, upsample=2),
        (add_volume(scene, "plain", synthetic_volume([]), ijk_to_ras()), None),
    ]
    return scene, pairs

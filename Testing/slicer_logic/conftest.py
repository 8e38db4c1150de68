"""Fixtures of the MRML logic tests, on real nodes of the slicer-core wheel.

The tests are skipped when ``slicer`` cannot be imported (slicer-core needs Python >= 3.10).
"""
from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("slicer") is None:  # slicer-core not installed: skip this folder
    collect_ignore_glob = ["test_*.py"]
else:
    from sli2vol.phantom import make_phantom
    from slicer_scene import PHANTOM_SHAPE, Scene, ijk_to_ras_matrix, one_slice


@pytest.fixture(scope="session")
def phantom():
    """(image, labels, spacing (K, J, I) mm) of a small two-structure phantom."""
    return make_phantom(PHANTOM_SHAPE, n_structures=2, seed=3)


@pytest.fixture
def axial_scene(phantom):
    """The phantom as an axial volume (K along S), two segments painted on one slice each."""
    image, labels, spacing = phantom
    scene = Scene(image, ijk_to_ras_matrix(spacing[::-1], origin=(-20.0, 10.0, 5.0)))
    k = PHANTOM_SHAPE[0] // 2
    scene.ids = [scene.add_segment(one_slice(labels, 1, k), "one"), scene.add_segment(one_slice(labels, 2, k + 1), "two")]
    return scene

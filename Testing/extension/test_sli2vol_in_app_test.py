"""The module's in-app test (``Slicer --testing``) run here on real slicer-core nodes.

Only what needs the Slicer application is provided by the test: ``slicer.mrmlScene``, the two module
logics ``slicer.util`` reaches through ``slicer.modules``, and the ScriptedLoadableModule base classes
(``delayDisplay`` shows nothing). The propagation, the writing and the undo are the real ones.
"""
from __future__ import annotations

import sys
import types
import unittest

import pytest
from cmake_lists import REPO

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")


class _ModuleTest(unittest.TestCase):
    def delayDisplay(self, message, *args, **kwargs):
        pass


@pytest.fixture
def slicer_application(monkeypatch):
    scene = slicer.vtkMRMLScene()
    segmentations = slicer.vtkSlicerSegmentationsModuleLogic()
    segmentations.SetMRMLScene(scene)
    volumes = slicer.vtkSlicerVolumesLogic()
    volumes.SetMRMLScene(scene)
    monkeypatch.setattr(slicer, "mrmlScene", scene, raising=False)
    monkeypatch.setattr(slicer, "modules", types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations),
        volumes=types.SimpleNamespace(logic=lambda: volumes)), raising=False)
    base = types.ModuleType("slicer.ScriptedLoadableModule")
    base.ScriptedLoadableModule = base.ScriptedLoadableModuleWidget = object
    base.ScriptedLoadableModuleTest = _ModuleTest
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", base)
    monkeypatch.syspath_prepend(str(REPO / "Sli2VolSegment"))
    monkeypatch.delitem(sys.modules, "Sli2VolSegment", raising=False)
    return scene


def test_the_in_app_test_passes(slicer_application):
    import Sli2VolSegment

    result = unittest.TestResult()
    Sli2VolSegment.Sli2VolSegmentTest("runTest").run(result)
    assert result.testsRun == 1 and not result.skipped, result.skipped
    assert not result.errors and not result.failures, (result.errors + result.failures)[0][1]

"""The module's in-app test (``Slicer --testing``) run here on real slicer-core nodes.

Only what needs the Slicer application is stood in for: ``slicer.app.processEvents``, the two module
logics ``slicer.util`` reaches through ``slicer.modules``, the ScriptedLoadableModule base classes
(``delayDisplay`` shows nothing), and the ``qt`` / ``ctk`` names the module file touches while the
test runs. Export, training job, evaluation and apply are the real ones.
"""

from __future__ import annotations

import sys
import time
import types
import unittest
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer")
MODULE_FOLDER = Path(__file__).resolve().parents[2] / "CReSTTools"


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
    monkeypatch.setattr(slicer, "app", types.SimpleNamespace(processEvents=lambda: None), raising=False)
    monkeypatch.setattr(slicer, "modules", types.SimpleNamespace(
        segmentations=types.SimpleNamespace(logic=lambda: segmentations),
        volumes=types.SimpleNamespace(logic=lambda: volumes)), raising=False)
    base = types.ModuleType("slicer.ScriptedLoadableModule")
    base.ScriptedLoadableModule = type("ScriptedLoadableModule", (), {})
    base.ScriptedLoadableModuleWidget = type("ScriptedLoadableModuleWidget", (), {})
    base.ScriptedLoadableModuleTest = _ModuleTest
    monkeypatch.setitem(sys.modules, "slicer.ScriptedLoadableModule", base)
    qt = types.SimpleNamespace(QThread=types.SimpleNamespace(msleep=lambda ms: time.sleep(ms / 1000)))
    monkeypatch.setitem(sys.modules, "qt", qt)
    monkeypatch.setitem(sys.modules, "ctk", types.ModuleType("ctk"))
    monkeypatch.syspath_prepend(str(MODULE_FOLDER))
    monkeypatch.delitem(sys.modules, "CReSTTools", raising=False)
    return scene


def test_the_in_app_test_passes(slicer_application):
    import CReSTTools

    result = unittest.TestResult()
    CReSTTools.CReSTToolsTest("runTest").run(result)
    assert result.testsRun == 1 and not result.skipped, result.skipped
    assert not result.errors and not result.failures, (result.errors + result.failures)[0][1]

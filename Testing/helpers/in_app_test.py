"""Run a module's in-app test (``Slicer --testing``) in pytest on real slicer-core nodes.

Only what needs the Slicer application is stood in for: ``slicer.mrmlScene``, the two module logics
``slicer.util`` reaches through ``slicer.modules``, ``slicer.app.processEvents``, the
ScriptedLoadableModule base classes (``delayDisplay`` shows nothing), and the ``qt`` / ``ctk`` names
a module file touches while its test runs. What the test exercises (propagation, export, training
jobs, writing, undo) is the real code.
"""
from __future__ import annotations

import importlib
import sys
import time
import types
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


class _ModuleTest(unittest.TestCase):
    def delayDisplay(self, message, *args, **kwargs):
        pass


def run_in_app_test(monkeypatch, slicer, module_name: str) -> None:
    """Import ``<module_name>/<module_name>.py`` as Slicer would and run its ``<module_name>Test``;
    fails with the first error or failure of that test."""
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
    monkeypatch.syspath_prepend(str(REPO / module_name))
    monkeypatch.delitem(sys.modules, module_name, raising=False)

    module = importlib.import_module(module_name)
    result = unittest.TestResult()
    getattr(module, f"{module_name}Test")("runTest").run(result)
    try:
        assert result.testsRun == 1 and not result.skipped, result.skipped
        assert not result.errors and not result.failures, (result.errors + result.failures)[0][1]
    finally:
        scene.Clear(1)

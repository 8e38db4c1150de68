"""Without torch, Slicer must still load the module and the effect and say what is missing: the Qt layer
imports ``sli2vol`` (which needs torch) only inside functions, and the torch check works without it."""
from __future__ import annotations

import ast
import subprocess
import sys
import textwrap

from cmake_lists import REPO

MODULE = REPO / "Sli2VolSegment"
QT_LAYER = [MODULE / "Sli2VolSegment.py", MODULE / "Sli2VolSegmentLib" / "SegmentEditorEffect.py",
            MODULE / "Sli2VolSegmentLib" / "propagation_panel.py"]
NEEDS_TORCH = ("torch", "sli2vol", "Sli2VolSegmentLib")
TORCH_FREE = ("Sli2VolSegmentLib.torch_environment", "Sli2VolSegmentLib.propagation_panel",
              "Sli2VolSegmentLib.segment_selection")


def module_level_imports(path) -> list[str]:
    """Modules imported at the top level of a file (not inside functions or classes)."""
    names = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_the_qt_layer_imports_torch_users_lazily():
    for path in QT_LAYER:
        eager = [n for n in module_level_imports(path)
                 if n.split(".")[0] in NEEDS_TORCH and n not in TORCH_FREE]
        assert not eager, f"{path.name} imports {eager} at load time: Slicer without torch could not load it"


NO_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch."):
                raise ModuleNotFoundError("No module named 'torch'")
            return None

    sys.meta_path.insert(0, NoTorch())
""")
QT_FRAMEWORK = ("__future__", "qt", "ctk", "slicer", "vtk", "SegmentEditorEffects")  # Slicer's own


def run_without_torch(script: str) -> subprocess.CompletedProcess:
    path = f"{MODULE}:{REPO / 'CReSTTools'}"
    run = subprocess.run([sys.executable, "-c", NO_TORCH + textwrap.dedent(script)], check=False,
                         capture_output=True, text=True, env={"PYTHONPATH": path, "PATH": "/usr/bin:/bin"},
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return run


def test_the_torch_check_runs_where_torch_cannot_be_imported():
    run = run_without_torch("""
        from Sli2VolSegmentLib.torch_environment import probe_torch
        env = probe_torch()
        assert env.needs_install and env.version is None, env
        print(env.describe())
    """)
    assert run.stdout.startswith("PyTorch is not installed (ModuleNotFoundError")


def test_both_modules_load_where_torch_cannot_be_imported():
    """Every module-level import of the Qt files of both modules (CReSTTools.py included: its export,
    jobs and results code needs no torch) succeeds without torch, so Slicer lists the modules and the
    effect before PyTorch is installed."""
    files = [*QT_LAYER, REPO / "CReSTTools" / "CReSTTools.py"]
    qt_files = {path.stem for path in files}  # checked through their own imports
    imports = sorted({name for path in files for name in module_level_imports(path)
                      if name.split(".")[0] not in QT_FRAMEWORK and name.split(".")[-1] not in qt_files})
    assert "crest_tools.jobs" in imports and "CReSTToolsLib.apply_logic" in imports
    run_without_torch("\n".join(f"import {name}" for name in imports))

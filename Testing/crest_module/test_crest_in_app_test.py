"""The CReSTTools module's in-app test run here on real slicer-core nodes (see :mod:`in_app_test`):
export, training job, evaluation and apply are the real ones."""
from __future__ import annotations

import pytest
from in_app_test import run_in_app_test

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")


def test_the_in_app_test_passes(monkeypatch):
    run_in_app_test(monkeypatch, slicer, "CReSTTools")

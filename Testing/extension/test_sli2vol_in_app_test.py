"""The Sli2VolSegment module's in-app test run here on real slicer-core nodes (see :mod:`in_app_test`):
the propagation, the writing and the undo are the real ones."""
from __future__ import annotations

import pytest
from in_app_test import run_in_app_test

slicer = pytest.importorskip("slicer", reason="slicer-core is not installed")


def test_the_in_app_test_passes(monkeypatch):
    run_in_app_test(monkeypatch, slicer, "Sli2VolSegment")

"""Every test sees the Slicer module folders on ``sys.path``, as Slicer puts them there:
``Sli2VolSegmentLib`` and ``CReSTToolsLib`` import like in the application."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for module_folder in ("Sli2VolSegment", "CReSTTools"):
    if str(ROOT / module_folder) not in sys.path:
        sys.path.insert(0, str(ROOT / module_folder))

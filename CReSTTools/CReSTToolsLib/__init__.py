# ruff: noqa: N999 -- Slicer names a module's helper package <Module>Lib
"""Qt-free MRML logic of the CReSTTools module: scene nodes -> arrays, export planning, applying a run.

Tested with pytest on real slicer-core nodes; the widget in ``CReSTTools.py`` only calls it.
"""

"""CReST / CReST+ long-tailed semi-supervised training for 2-D image classification.

Qt-free: importable from 3D Slicer, pip installs and pytest. The command line lives in
:mod:`crest_tools.cli`; the training engine in :mod:`crest_tools.fixmatch` (one generation) and
:mod:`crest_tools.crest` (the generation loop around it).
"""

__version__ = "0.1.0"

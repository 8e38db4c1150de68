"""What one propagation run should do: segments, painted view, limits, verification, adaptation, model, device."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sli2vol.errors import InputError
from sli2vol.validation import require

from Sli2VolSegmentLib.slice_axis import VIEW_NAMES

DEVICES = (None, "cpu", "cuda")


@dataclass(frozen=True)
class PropagationOptions:
    """Options of :meth:`Sli2VolLogic.propagate`, validated when built.

    Attributes:
        segment_ids: IDs of the segments to propagate (at least one; each propagated from its own
            painted slices; segments compete for voxels as labels do in the core).
        view: the view the user painted in: ``"Red"``, ``"Yellow"``, ``"Green"`` (Slicer's default
            axial, sagittal, coronal views) or the view's SliceToRAS matrix (4x4 nested sequence,
            numpy array); the propagation axis is the volume axis normal to it. None: detected from
            the painted slices.
        max_slices_backward: at most this many slices towards lower slice indices (None: no limit).
        max_slices_forward: at most this many slices towards higher slice indices (None: no limit).
        verification: the core's verification module on/off.
        model_path: a Sli2Vol TorchScript model file; None: the bundled model.
        device: None (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``.
        use_corrections: re-propagation: slices the user edited after the last propagation become
            anchors next to the original annotation, untouched propagated slices are recomputed
            (False: every painted slice of the segment is an anchor).
        adapt_steps: fine-tune a copy of the model on this scan for this many steps before each
            segment (the core's per-scan adaptation; 0: off). The model file is never changed.
    """

    segment_ids: Sequence[str]
    view: str | Sequence | np.ndarray | None = None
    max_slices_backward: int | None = None
    max_slices_forward: int | None = None
    verification: bool = True
    model_path: str | None = None
    device: str | None = None
    use_corrections: bool = True
    adapt_steps: int = 0

    def __post_init__(self):
        ids = (self.segment_ids,) if isinstance(self.segment_ids, str) else tuple(self.segment_ids)
        if not ids or not all(isinstance(s, str) and s for s in ids):
            raise InputError(f"segment_ids must be one or more non-empty segment IDs, got {self.segment_ids!r}")
        if len(set(ids)) != len(ids):
            raise InputError(f"segment_ids lists a segment twice: {list(ids)}")
        object.__setattr__(self, "segment_ids", ids)
        object.__setattr__(self, "view", _checked_view(self.view))
        require("adapt_steps", self.adapt_steps, integer=True, minimum=0)
        for name in ("max_slices_backward", "max_slices_forward"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0):
                raise InputError(f"{name} must be None or an integer >= 0, got {value!r}")
        if self.device not in DEVICES:
            raise InputError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.model_path is not None and not Path(self.model_path).is_file():
            raise InputError(f"model file not found: {self.model_path}")


def _checked_view(view):
    """A view name from VIEW_NAMES, a (4, 4) float SliceToRAS array, or None."""
    if view is None:
        return None
    if isinstance(view, str):
        if view not in VIEW_NAMES:
            raise InputError(f"view must be one of {list(VIEW_NAMES)} or a 4x4 SliceToRAS matrix, got {view!r}")
        return view
    matrix = np.asarray(view, dtype=float)
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise InputError(f"view matrix must be a finite 4x4 SliceToRAS matrix, got shape {matrix.shape}")
    if np.linalg.norm(matrix[:3, 2]) < 1e-9:
        raise InputError("view matrix has a zero slice normal (third column of SliceToRAS)")
    matrix.setflags(write=False)
    return matrix

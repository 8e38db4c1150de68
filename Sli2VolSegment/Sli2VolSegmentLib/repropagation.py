"""Re-propagation after corrections: what the last run wrote, kept in a segment tag.

The tag ``Sli2Vol.Propagation`` of a segment holds (zlib + base64, so it survives the ``key:value|``
tag syntax of ``.seg.nrrd`` files) the volume grid, the axis, the anchors and a digest per slice
the last run wrote. On the next run a written slice whose digest changed was edited by the user and
becomes an anchor; unchanged written slices are recomputed.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TAG_NAME = "Sli2Vol.Propagation"


@dataclass
class PropagationRecord:
    """What a run wrote into one segment."""

    grid: str  # digest of the volume grid (shape and IJK->RAS) the slices refer to
    axis: int  # propagation axis of the (K, J, I) array
    anchors: list  # slice indices used as anchors
    written: dict  # {slice index: digest of the segment's slice after writing}

    def to_tag(self) -> str:
        raise NotImplementedError

    @classmethod
    def from_tag(cls, value: str) -> PropagationRecord:
        raise NotImplementedError


def slice_digest(plane: np.ndarray) -> str:
    """Short digest of a (H, W) bool slice."""
    raise NotImplementedError


def anchor_slices(mask: np.ndarray, axis: int, record: PropagationRecord | None) -> list[int]:
    """Slices of ``mask`` (K, J, I bool, the segment now) to propagate from: painted slices that the last
    run did not write, and written slices the user has changed since (non-empty ones)."""
    raise NotImplementedError

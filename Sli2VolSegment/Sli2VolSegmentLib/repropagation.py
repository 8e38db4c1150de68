"""Re-propagation after corrections: what the last run wrote, kept in a segment tag.

The tag ``Sli2Vol.Propagation`` of a segment holds (JSON, zlib, base64: it survives the
``key:value|`` tag syntax of ``.seg.nrrd`` files) the volume grid, the axis, the anchors and a digest
of every slice the last run wrote, as read back after writing (so masking and resampling are
accounted for). On the next run a written slice whose digest changed was edited by the user and
becomes an anchor next to the original annotation; unchanged written slices are recomputed.
"""
from __future__ import annotations

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass

import numpy as np

TAG_NAME = "Sli2Vol.Propagation"
RECORD_VERSION = 1


def grid_digest(shape: tuple, ijk_to_ras: np.ndarray) -> str:
    """Digest of a voxel grid: (K, J, I) shape and IJK -> RAS matrix (to 1e-4 mm)."""
    text = json.dumps([list(map(int, shape)), np.round(np.asarray(ijk_to_ras, float), 4).tolist()])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def slice_digest(plane: np.ndarray) -> str:
    """Short digest of a (H, W) bool slice."""
    bits = np.packbits(np.ascontiguousarray(plane, bool))
    return hashlib.blake2b(bits.tobytes() + repr(plane.shape).encode(), digest_size=8).hexdigest()


@dataclass
class PropagationRecord:
    """What a run wrote into one segment."""

    grid: str  # grid_digest of the volume grid the slice indices refer to
    axis: int  # propagation axis of the (K, J, I) array
    anchors: list  # slice indices used as anchors
    written: dict  # {slice index: slice_digest of the segment's slice after writing}

    @classmethod
    def of_segment(cls, mask: np.ndarray, grid: str, axis: int, anchors: list, written_slices: list) -> PropagationRecord:
        """The record of ``mask`` (K, J, I bool, the segment as written) for the slices a run wrote."""
        return cls(grid, int(axis), [int(a) for a in anchors],
                   {int(k): slice_digest(np.take(mask, k, axis=axis)) for k in written_slices})

    def to_tag(self) -> str:
        text = json.dumps({"version": RECORD_VERSION, "grid": self.grid, "axis": self.axis, "anchors": self.anchors,
                           "written": {str(k): v for k, v in self.written.items()}})
        return base64.urlsafe_b64encode(zlib.compress(text.encode(), 9)).decode("ascii")

    @classmethod
    def from_tag(cls, value: str) -> PropagationRecord | None:
        """The record in a tag value; None when it is not one (foreign, damaged or newer format)."""
        try:
            data = json.loads(zlib.decompress(base64.urlsafe_b64decode(value.encode("ascii"))))
            if data.get("version") != RECORD_VERSION:
                return None
            return cls(str(data["grid"]), int(data["axis"]), [int(a) for a in data["anchors"]],
                       {int(k): str(v) for k, v in data["written"].items()})
        except (ValueError, KeyError, TypeError, zlib.error):
            return None


def segment_tag(segment, name: str = TAG_NAME) -> str | None:
    """The value of a vtkSegment's tag ``name``, None when it has none."""
    import vtk

    value = vtk.reference("")
    return str(value) if segment.GetTag(name, value) else None


def read_record(segment, grid: str) -> PropagationRecord | None:
    """The segment's record if it refers to this grid (any axis), else None."""
    tag = segment_tag(segment)
    if tag is None:
        return None
    record = PropagationRecord.from_tag(tag)
    return record if record is not None and record.grid == grid else None


def edited_slices(mask: np.ndarray, axis: int, record: PropagationRecord) -> list[int]:
    """Written slices of ``record`` whose content in ``mask`` (K, J, I bool) changed since."""
    return sorted(k for k, digest in record.written.items()
                  if k < mask.shape[axis] and slice_digest(np.take(mask, k, axis=axis)) != digest)


def anchor_slices(mask: np.ndarray, axis: int, record: PropagationRecord | None) -> list[int]:
    """Slices of ``mask`` (K, J, I bool, the segment now) to propagate from: painted slices the last
    run did not write (the original annotation and any slice painted since), and written slices the
    user has changed since (when not erased)."""
    painted = set(np.flatnonzero(mask.any(axis=tuple(a for a in range(3) if a != axis))).tolist())
    if record is None:
        return sorted(painted)
    unchanged = set(record.written) - set(edited_slices(mask, axis, record))
    return sorted(painted - unchanged)


def erased_slices(mask: np.ndarray, axis: int, record: PropagationRecord | None) -> list[int]:
    """Written slices the user has emptied since: the propagation is not to reach them (it ends before
    an erased slice outside the anchors, and leaves one between anchors empty)."""
    if record is None:
        return []
    return [k for k in edited_slices(mask, axis, record) if not np.take(mask, k, axis=axis).any()]

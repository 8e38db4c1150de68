"""Slicer segmentation files (``.seg.nrrd``) through ``slicerio``: segments with their metadata in, one
label volume out, and back.

A segment's metadata (ID, name, colour, terminology, status, tags) travels as slicerio's segment record
without its voxel fields (``labelValue``, ``layer``, ``extent``). Arrays are (k, j, i); slicerio's voxels
are (i, j, k), with a leading layer axis when segments overlap. Overlapping segments are refused:
propagation needs one label per voxel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sli2vol.errors import InputError
from sli2vol.io.label_types import label_dtype

SEGMENTATION_SUFFIX = ".seg.nrrd"
VOXEL_FIELDS = ("labelValue", "layer", "extent")
MAX_SEGMENT_LABEL = 2**31 - 1  # Slicer keeps a segment's label value in a 32-bit signed int


def is_segmentation_file(path: str | Path) -> bool:
    return Path(path).name.lower().endswith(SEGMENTATION_SUFFIX)


def check_segment_labels(max_label: int, path: str | Path) -> None:
    """Refuse label ids a ``.seg.nrrd`` cannot carry into Slicer (above 2^31 - 1)."""
    if max_label > MAX_SEGMENT_LABEL:
        raise InputError(f"label id {max_label} is too large for {path}: Slicer's segment label values stop at "
                         f"{MAX_SEGMENT_LABEL}; write a .nii.gz or .nrrd label volume instead")


def _slicerio():
    try:
        import slicerio
    except ImportError as exc:
        raise InputError("reading and writing .seg.nrrd files needs slicerio: pip install slicerio") from exc
    return slicerio


def _geometry(ijk_to_lps: np.ndarray, size_ijk: tuple) -> sitk.Image:
    """An empty image with the grid of a 4x4 ijk -> LPS matrix (mm)."""
    axes = np.asarray(ijk_to_lps, dtype=float)[:3, :3]
    spacing = np.linalg.norm(axes, axis=0)
    image = sitk.Image([int(n) for n in size_ijk], sitk.sitkUInt8)
    image.SetSpacing([float(s) for s in spacing])
    image.SetDirection([float(v) for v in (axes / spacing).ravel()])
    image.SetOrigin([float(v) for v in np.asarray(ijk_to_lps, dtype=float)[:3, 3]])
    return image


def _name(segment: dict) -> str:
    return repr(segment.get("name", segment.get("id", "?")))


def read_segmentation(path: Path) -> tuple[sitk.Image, np.ndarray, dict[int, dict]]:
    """(geometry, (k, j, i) labels, {label: segment metadata}) of a ``.seg.nrrd``.

    Labels are the segments' label values when these are unique, else 1..K in segment order; a file
    without segment fields is a plain label volume. Raises :class:`InputError` for an unreadable file,
    layers without segments, or overlapping segments.
    """
    try:
        segmentation = _slicerio().read_segmentation(str(path))
    except InputError:
        raise
    except Exception as exc:  # pynrrd and slicerio raise many types for a bad file
        raise InputError(f"cannot read {path} as a Slicer segmentation: {str(exc).splitlines()[0][:160]}") from exc
    voxels = np.asarray(segmentation["voxels"])
    segments = segmentation.get("segments", [])
    if voxels.ndim not in (3, 4):
        raise InputError(f"{path}: a segmentation needs 3-D voxels (or layers of them), got shape {voxels.shape}")
    if not segments:
        if voxels.ndim == 4:
            raise InputError(f"{path} has {voxels.shape[0]} layers but lists no segments")
        return _geometry(segmentation["ijkToLPS"], voxels.shape), np.ascontiguousarray(voxels.transpose(2, 1, 0)), {}
    layers = voxels if voxels.ndim == 4 else voxels[None]
    values = [int(s.get("labelValue", 1)) for s in segments]
    if len(set(values)) != len(values):
        values = list(range(1, len(segments) + 1))
    owner = np.zeros(layers.shape[1:], dtype=np.min_scalar_type(len(segments)))
    for number, segment in enumerate(segments, start=1):
        layer = int(segment.get("layer", 0))
        if not 0 <= layer < len(layers):
            raise InputError(f"{path}: segment {_name(segment)} is on layer {layer}; the file has {len(layers)}")
        inside = layers[layer] == int(segment.get("labelValue", 1))
        clash = inside & (owner > 0)
        if clash.any():
            other = segments[int(owner[clash][0]) - 1]
            raise InputError(
                f"{path}: segments {_name(other)} and {_name(segment)} overlap in {int(clash.sum())} voxels; "
                "propagation needs one segment per voxel (remove the overlap, or propagate them separately)"
            )
        owner[inside] = number
    lookup = np.array([0] + values, dtype=label_dtype(max(values)))
    labels = np.ascontiguousarray(lookup[owner].transpose(2, 1, 0))
    metadata = {v: {k: x for k, x in s.items() if k not in VOXEL_FIELDS} for v, s in zip(values, segments)}
    return _geometry(segmentation["ijkToLPS"], layers.shape[1:]), labels, metadata


def _extent_ijk(inside_kji: np.ndarray) -> list[int]:
    """[i0, i1, j0, j1, k0, k1] (inclusive) of a (k, j, i) bool array's voxels."""
    extent = []
    for axis in (2, 1, 0):
        hit = np.flatnonzero(inside_kji.any(axis=tuple(a for a in range(3) if a != axis)))
        extent += [int(hit[0]), int(hit[-1])]
    return extent


def write_segmentation(labels: np.ndarray, reference: sitk.Image, path: Path, segments: dict[int, dict]) -> None:
    """Write (k, j, i) labels with ``reference``'s grid as a one-layer ``.seg.nrrd`` at ``path``.

    Each label present becomes a segment with its metadata from ``segments`` (same order), or
    ``Segment_<label>`` for labels without metadata.
    """
    present = {int(v) for v in np.unique(labels) if v != 0}
    check_segment_labels(max(present, default=0), path)
    order = [v for v in segments if v in present] + sorted(present - set(segments))
    records = []
    for value in order:
        record = dict(segments.get(value) or {"id": f"Segment_{value}", "name": f"Segment_{value}"})
        record.update(labelValue=value, layer=0, extent=_extent_ijk(labels == value))
        records.append(record)
    matrix = np.eye(4)
    direction = np.array(reference.GetDirection()).reshape(3, 3)
    matrix[:3, :3] = direction * np.array(reference.GetSpacing())
    matrix[:3, 3] = reference.GetOrigin()
    segmentation = {
        "voxels": labels.astype(label_dtype(max(present, default=0)), copy=False).transpose(2, 1, 0),
        "ijkToLPS": matrix,
        "containedRepresentationNames": ["Binary labelmap"],
        "masterRepresentation": "Binary labelmap",
        "segments": records,
    }
    _slicerio().write_segmentation(str(path), segmentation)

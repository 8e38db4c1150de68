"""Checks on user input and reading the annotation: its axis, labels and anchor slices."""
from __future__ import annotations

import numpy as np

from sli2vol.errors import InputError


def validate_volume(image: np.ndarray, name: str = "image") -> None:
    """A 3-D array with finite values."""
    if not isinstance(image, np.ndarray):
        raise InputError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 3:
        raise InputError(f"{name} must be 3-D (slices, rows, columns), got {image.ndim}-D with shape {image.shape}")
    if min(image.shape) < 2:
        raise InputError(f"{name} must have at least 2 voxels along every axis, got shape {image.shape}")
    if np.issubdtype(image.dtype, np.floating) and not np.isfinite(image).all():
        bad = int((~np.isfinite(image)).sum())
        raise InputError(f"{name} contains {bad} NaN or infinite values")


def validate_mask(mask: np.ndarray, image_shape: tuple[int, ...]) -> np.ndarray:
    """Return the mask as a non-negative integer array (a view or copy; the input is never changed)."""
    validate_volume(mask, "mask")
    if mask.shape != tuple(image_shape):
        raise InputError(f"mask shape {mask.shape} does not match image shape {tuple(image_shape)}")
    if np.issubdtype(mask.dtype, np.floating):
        if not np.array_equal(mask, np.round(mask)):
            raise InputError("mask has non-integer values; expected integer label ids (0 = background)")
        mask = mask.astype(np.int64)
    elif mask.dtype == bool:
        mask = mask.astype(np.uint8)
    elif not np.issubdtype(mask.dtype, np.integer):
        raise InputError(f"mask must hold integer label ids, got dtype {mask.dtype}")
    if mask.min() < 0:
        raise InputError(f"mask has negative label ids (min {mask.min()})")
    if not mask.any():
        raise InputError("mask has no annotation: paint at least one slice with a non-zero label")
    return mask


def annotated_slice_counts(mask: np.ndarray) -> list[int]:
    """Number of slices along each axis that hold any annotation."""
    counts = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        counts.append(int(mask.any(axis=other).sum()))
    return counts


def detect_annotation_axis(mask: np.ndarray) -> int:
    """The axis the user drew on: the one whose annotated slices are clearly the fewest.

    Raises :class:`InputError` when two axes are about as likely (e.g. strokes on an axial and a
    sagittal slice, or a one-voxel annotation): the caller must then name the axis.
    """
    counts = annotated_slice_counts(mask)
    order = np.argsort(counts, kind="stable")
    fewest, second = counts[order[0]], counts[order[1]]
    if 2 * fewest > second:
        raise InputError(
            f"cannot tell which axis the annotation was drawn on (annotated slices per axis: {counts}); "
            "draw on slices of one orientation or give the axis explicitly (--axis)"
        )
    return int(order[0])


def anchors_by_label(stack_mask: np.ndarray, labels: list[int] | None = None) -> dict[int, list[int]]:
    """{label: sorted slice indices (axis 0) where the label is annotated}.

    Raises :class:`InputError` for requested labels absent from the annotation.
    """
    annotated = np.flatnonzero(stack_mask.any(axis=(1, 2)))
    present = [int(v) for v in np.unique(stack_mask[annotated]) if v != 0]
    if labels is None:
        labels = present
    missing = [lab for lab in labels if lab not in present]
    if missing:
        raise InputError(f"labels {missing} are not on any annotated slice (annotated labels: {present})")
    anchors = {}
    for lab in labels:
        anchors[lab] = [int(i) for i in annotated[(stack_mask[annotated] == lab).any(axis=(1, 2))]]
    return anchors

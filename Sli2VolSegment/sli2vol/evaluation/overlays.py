"""Overlay figures of the worst cases of an evaluation: the slice with the largest error, image in
grey, ground truth and prediction contours."""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sli2vol.io.atomic import atomic_path

OVERLAY_PATTERN = "*_worst[0-9]*_*.png"  # names written by overlay_name


@dataclass
class ErrorSlice:
    record: dict  # the evaluation record (dataset, case_id, structure, method, dice, ...)
    index: int  # slice index along the evaluation axis
    image: np.ndarray  # (H, W) intensities
    truth: np.ndarray  # (H, W) bool
    pred: np.ndarray  # (H, W) bool
    aspect: float  # pixel height / width (mm / mm)


def error_slice(record: dict, volume, truth: np.ndarray, pred: np.ndarray, axis: int) -> ErrorSlice:
    """The slice along ``axis`` with the most voxels where ``pred`` and ``truth`` (N0, N1, N2) disagree."""
    errors = np.moveaxis(pred ^ truth, axis, 0).sum(axis=(1, 2))
    k = int(np.argmax(errors))
    plane = [s for a, s in enumerate(volume.spacing) if a != axis]
    box = crop_box(np.take(truth, k, axis=axis) | np.take(pred, k, axis=axis))
    image, truth_k, pred_k = (np.take(a, k, axis=axis)[box] for a in (volume.image, truth, pred))
    return ErrorSlice(record, k, image.astype(np.float32), truth_k, pred_k, plane[0] / plane[1])


def crop_box(region: np.ndarray, margin: int = 24) -> tuple:
    """(rows, columns) slices around the True pixels of ``region`` (H, W) with a margin of at least
    ``margin`` pixels or half the region's extent; the whole slice when ``region`` is empty."""
    if not region.any():
        return (slice(None), slice(None))
    box = []
    for axis in (1, 0):
        hits = np.flatnonzero(region.any(axis=axis))
        pad = max(margin, (hits[-1] - hits[0]) // 2)
        box.append(slice(max(0, hits[0] - pad), min(region.shape[1 - axis], hits[-1] + pad + 1)))
    return tuple(box)


class WorstCases:
    """The ``n`` lowest-Dice records offered, each with its largest-error slice (kept small in memory)."""

    def __init__(self, n: int):
        self.n = n
        self.items: list[ErrorSlice] = []

    def offer(self, record: dict, volume, truth: np.ndarray, pred: np.ndarray, axis: int) -> None:
        if self.n <= 0:
            return
        if len(self.items) == self.n and record["dice"] >= self.items[-1].record["dice"]:
            return
        self.take([error_slice(record, volume, truth, pred, axis)])

    def take(self, items: list) -> None:
        """Keep the ``n`` lowest-Dice of the kept items and ``items`` (ErrorSlices)."""
        self.items.extend(items)
        self.items.sort(key=lambda e: e.record["dice"])
        del self.items[self.n:]


def overlay_name(item: ErrorSlice, rank: int) -> str:
    """File name such as ``full_worst1_btcv_00_pancreas.png`` (only safe characters; ``rank`` counts
    within the method and dataset)."""
    r = item.record
    raw = f"{r['method']}_worst{rank}_{r['case_id']}_{r['structure']}"
    return re.sub(r"[^A-Za-z0-9_.+-]+", "-", raw) + ".png"


def render_overlay(item: ErrorSlice, path: Path) -> None:
    """Write a PNG of the image slice with ground truth (green) and prediction (red) contours."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    r = item.record
    fig = Figure(figsize=(6, 6), dpi=100)
    ax = fig.add_subplot()
    ax.imshow(item.image, cmap="gray", aspect=item.aspect, interpolation="nearest")
    for mask, colour in ((item.truth, "lime"), (item.pred, "red")):
        if mask.any() and not mask.all():
            ax.contour(mask.astype(np.float32), levels=[0.5], colors=colour, linewidths=1.0)
    ax.set_title(f"{r['method']}: {r['case_id']} {r['structure']}\nDice {r['dice']:.3f}, slice {item.index} "
                 f"(annotated {r['annotated_slice']}); green truth, red prediction", fontsize=9)
    ax.set_axis_off()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")


def write_overlays(worst: dict, folder: Path) -> list:
    """Render every kept case of every method and dataset ({(method, dataset): WorstCases}) into ``folder``, replacing the
    overlays of an earlier run there; returns the file names."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob(OVERLAY_PATTERN):
        stale.unlink()
    names = []
    for cases in worst.values():
        for rank, item in enumerate(cases.items, start=1):
            names.append(overlay_name(item, rank))
            render_overlay(item, folder / names[-1])
    return names

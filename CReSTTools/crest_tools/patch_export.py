"""Export of labelled / unlabelled 2-D patches from segmented volumes into a crest dataset.

Three steps, all on numpy arrays (the Slicer module turns its nodes into :class:`VolumeSource`):

1. :func:`volume_centres` -- per volume, the patch centres of each class (voxels of its segments)
   and of the unsegmented region; the masks can be freed afterwards.
2. :func:`plan_export` -- the patient-level split and the class counts (:class:`ExportSummary`),
   shown to the user before anything is written.
3. :func:`write_export` -- cut the patches and write the dataset folder atomically.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .dataset_format import SPLITS, UNKNOWN_LABEL, manifest_path, save_dataset
from .export_settings import ClassMapping, ExportSettings
from .patch_sampling import choose_centres, patches_for_segment, sample_patches, volume_window
from .pick_diagnostics import imbalance_ratio

NO_UNLABELLED_HINT = (
    "set unlabelled patches per volume (volumes without segmentation give only these), an unlabelled "
    "fraction of the segmented volumes, or force a segmented volume to the unlabelled split"
)


@dataclass
class VolumeSource:
    """One volume with its segments resampled onto its grid.

    Attributes:
        id: unique volume (patient) id.
        array: (k, j, i) intensities.
        ijk_to_ras: 4x4 voxel -> RAS matrix.
        segments: class name (None = skipped segment) -> (k, j, i) bool mask on the volume grid.
            Several segments of one class are merged into one mask.
        empty_segments: names of (not skipped) segments without a voxel on the volume grid: they
            give no patch and are listed in the export summary.
    """

    id: str
    array: np.ndarray
    ijk_to_ras: np.ndarray
    segments: dict[str | None, np.ndarray] = field(default_factory=dict)
    empty_segments: list[str] = field(default_factory=list)


@dataclass
class VolumeCentres:
    """Patch centres chosen in one volume (no masks kept).

    Attributes:
        class_centres: class name -> (n, 3) (k, j, i) voxels of that class's segments.
        free_centres: (m, 3) voxels outside every segment with intensity above the window's low end.
        window: intensity window of this volume.
        empty_segments: as in :class:`VolumeSource`.
    """

    id: str
    array: np.ndarray
    ijk_to_ras: np.ndarray
    class_centres: dict[str, np.ndarray]
    free_centres: np.ndarray
    window: tuple[float, float]
    empty_segments: list[str] = field(default_factory=list)

    @property
    def segmented(self) -> bool:
        return bool(self.class_centres)


def volume_centres(source: VolumeSource, settings: ExportSettings, seed_index: int) -> VolumeCentres:
    """Choose the patch centres of one volume (``seed_index`` makes each volume's draw independent)."""
    rng = np.random.default_rng([settings.seed, 1, seed_index])
    window = volume_window(source.array, settings)
    occupied = np.zeros(source.array.shape, dtype=bool)
    class_centres = {}
    for name, mask in source.segments.items():
        if mask.shape != source.array.shape:
            raise ValueError(f"volume {source.id}: segment mask shape {mask.shape} != volume {source.array.shape}")
        occupied |= mask
        count = patches_for_segment(int(mask.sum()), settings)
        if name is not None and count:
            class_centres[name] = choose_centres(mask, count, rng)
    free = np.zeros((0, 3), dtype=np.int64)
    if settings.unlabelled_per_volume:
        free = choose_centres((source.array > window[0]) & ~occupied, settings.unlabelled_per_volume, rng)
    return VolumeCentres(source.id, source.array, source.ijk_to_ras, class_centres, free, window,
                         list(source.empty_segments))


@dataclass
class ExportSummary:
    """Patch counts per class and split, before writing.

    Attributes:
        class_names: classes, most labelled patches first.
        counts: split -> (K,) patch counts per class.
        unknown: patches of unknown class (unsegmented regions / volumes), all in the unlabelled split.
        volumes: split -> volume ids.
        empty_segments: volume id -> its segments without voxels (skipped), for volumes that have some.
    """

    class_names: list[str]
    counts: dict[str, list[int]]
    unknown: int
    volumes: dict[str, list[str]]
    empty_segments: dict[str, list[str]] = field(default_factory=dict)

    @property
    def imbalance_ratio(self) -> float:
        """Labelled patches of the most frequent class / of the rarest (inf if a class has none)."""
        return imbalance_ratio(self.counts["labelled"])

    def missing_labelled(self) -> list[str]:
        """Classes without any labelled patch (training would refuse the dataset)."""
        return [n for n, c in zip(self.class_names, self.counts["labelled"]) if c == 0]

    def has_unlabelled(self) -> bool:
        """True when the unlabelled split gets patches (training refuses a dataset without)."""
        return self.unknown > 0 or any(self.counts["unlabelled"])

    def text(self) -> str:
        """A plain-text table of the counts, the imbalance ratio and the volumes per split."""
        lines = [f"{'class':<28} {'labelled':>9} {'unlabelled':>10} {'test':>6}"]
        for i, name in enumerate(self.class_names):
            row = [self.counts[s][i] for s in SPLITS]
            lines.append(f"{name[:28]:<28} {row[0]:>9} {row[1]:>10} {row[2]:>6}")
        lines.append(f"{'(unknown class)':<28} {0:>9} {self.unknown:>10} {0:>6}")
        lines.append(f"imbalance ratio (labelled, most / rarest class): {self.imbalance_ratio:.1f}")
        lines.append("volumes: " + ", ".join(f"{s} {len(self.volumes[s])}" for s in SPLITS))
        missing = self.missing_labelled()
        if missing:
            lines.append(f"classes without labelled patches: {', '.join(missing)}")
        if not self.has_unlabelled():
            lines.append(f"no unlabelled patches (training needs some): {NO_UNLABELLED_HINT}")
        if self.empty_segments:
            empty = "; ".join(f"{v}: {', '.join(names)}" for v, names in self.empty_segments.items())
            lines.append(f"segments without voxels on their volume (skipped): {empty}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "class_names": self.class_names,
            "counts": self.counts,
            "unknown": self.unknown,
            "volumes": self.volumes,
            "imbalance_ratio": self.imbalance_ratio,
            "empty_segments": self.empty_segments,
        }


@dataclass
class ExportPlan:
    """Centres, split and summary of an export; :func:`write_export` turns it into a dataset."""

    settings: ExportSettings
    volumes: list[VolumeCentres]
    split: dict[str, str]  # volume id -> split name
    summary: ExportSummary
    mapping: ClassMapping | None = None


def split_volumes(
    segmented: list[str], unsegmented: list[str], settings: ExportSettings, fixed: dict[str, str] | None = None
) -> dict[str, str]:
    """Patient-level split: volume id -> "labelled" / "unlabelled" / "test".

    Segmented volumes are shuffled with the seed; round(test_fraction * n) (at least one when the
    fraction is > 0 and n >= 2) go to test, round(unlabelled_fraction * n) to unlabelled, the rest to
    labelled. Volumes without segments are unlabelled. ``fixed`` assigns volumes by hand first.

    Raises:
        ValueError: a fixed split name is unknown, or no segmented volume is left for the labelled split.
    """
    fixed = dict(fixed or {})
    bad = {k: v for k, v in fixed.items() if v not in SPLITS}
    if bad:
        raise ValueError(f"unknown split names {bad}; use {SPLITS}")
    split = {volume: "unlabelled" for volume in unsegmented}
    free = [v for v in segmented if v not in fixed]
    order = [free[i] for i in np.random.default_rng([settings.seed, 0]).permutation(len(free))]
    n = len(order)
    n_test = round(settings.test_fraction * n)
    if settings.test_fraction > 0 and n >= 2:
        n_test = max(1, n_test)
    n_unlabelled = round(settings.unlabelled_fraction * n)
    for position, volume in enumerate(order):
        split[volume] = "test" if position < n_test else "unlabelled" if position < n_test + n_unlabelled else "labelled"
    split.update(fixed)
    if not any(split[v] == "labelled" for v in segmented):
        raise ValueError(
            f"no segmented volume left for the labelled split ({len(segmented)} segmented volumes, "
            f"test_fraction {settings.test_fraction}, unlabelled_fraction {settings.unlabelled_fraction})"
        )
    return split


def plan_export(
    volumes: list[VolumeCentres],
    settings: ExportSettings,
    fixed_split: dict[str, str] | None = None,
    mapping: ClassMapping | None = None,
) -> ExportPlan:
    """Split the volumes and count the patches of every class and split.

    Raises:
        ValueError: duplicate volume ids, no class at all, or a bad split (see :func:`split_volumes`).
    """
    ids = [v.id for v in volumes]
    if len(set(ids)) != len(ids):
        raise ValueError(f"volume ids must be unique, got {ids}")
    volumes = _merged_spellings(volumes)
    if not any(v.segmented for v in volumes):
        raise ValueError("no segment to export: every segment is empty or skipped by the class mapping")
    split = split_volumes([v.id for v in volumes if v.segmented], [v.id for v in volumes if not v.segmented],
                          settings, fixed_split)
    planes = len(settings.planes)
    totals: dict[str, dict[str, int]] = {s: {} for s in SPLITS}
    unknown = 0
    for volume in volumes:
        part = split[volume.id]
        for name, centres in volume.class_centres.items():
            totals[part][name] = totals[part].get(name, 0) + planes * len(centres)
        if part != "test":
            unknown += planes * len(volume.free_centres)
    names = sorted({n for t in totals.values() for n in t}, key=lambda n: (-totals["labelled"].get(n, 0), n))
    summary = ExportSummary(
        names,
        {s: [totals[s].get(n, 0) for n in names] for s in SPLITS},
        unknown,
        {s: [v for v in ids if split[v] == s] for s in SPLITS},
        {v.id: v.empty_segments for v in volumes if v.empty_segments},
    )
    return ExportPlan(settings, volumes, split, summary, mapping)


def _merged_spellings(volumes: list[VolumeCentres]) -> list[VolumeCentres]:
    """Class names compared case-insensitively: every spelling becomes the first one met."""
    spelling: dict[str, str] = {}
    merged = []
    for volume in volumes:
        centres: dict[str, np.ndarray] = {}
        for name, points in volume.class_centres.items():
            name = spelling.setdefault(name.lower(), name)
            centres[name] = np.concatenate([centres[name], points]) if name in centres else points
        merged.append(dataclasses.replace(volume, class_centres=centres))
    return merged


def write_export(plan: ExportPlan, folder: str | Path, overwrite: bool = False) -> Path:
    """Cut the planned patches and write the dataset folder atomically; return its manifest path.

    The folder is assembled beside its final place and renamed into it, so a failure leaves no
    partial dataset. The manifest gets an ``"export"`` section: settings, class mapping, summary.

    Raises:
        ValueError: a class lacks labelled patches, the test or unlabelled split is empty, or ``folder`` exists
            and ``overwrite`` is False.
    """
    folder = Path(folder)
    summary = plan.summary
    if summary.missing_labelled():
        raise ValueError(
            f"classes without labelled patches: {summary.missing_labelled()}; add segments of them to a "
            "labelled volume, map them to another class, or skip them"
        )
    if not any(summary.counts["test"]):
        raise ValueError("the test split has no patches: raise test_fraction or assign a segmented volume to test")
    if not summary.has_unlabelled():
        raise ValueError(f"the unlabelled split has no patches, and training needs some: {NO_UNLABELLED_HINT}")
    if folder.exists() and not overwrite:
        raise ValueError(f"{folder} already exists; choose another folder or allow overwriting")
    class_id = {name: i for i, name in enumerate(summary.class_names)}
    images, labels, volume_index, parts = [], [], [], []
    for index, volume in enumerate(plan.volumes):
        part = plan.split[volume.id]
        groups = [(class_id[n], c, part) for n, c in volume.class_centres.items()]
        if part != "test":  # unknown-class patches train as unlabelled data, whatever the volume's split
            groups.append((UNKNOWN_LABEL, volume.free_centres, "unlabelled"))
        for label, centres, group_part in groups:
            for plane in plan.settings.planes:
                if len(centres):
                    images.append(
                        sample_patches(volume.array, volume.ijk_to_ras, centres, plane, plan.settings, volume.window)
                    )
                    labels.append(np.full(len(centres), label))
                    volume_index.append(np.full(len(centres), index))
                    parts.append(np.full(len(centres), SPLITS.index(group_part)))
    parts = np.concatenate(parts)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        save_dataset(
            staging,
            np.concatenate(images),
            np.concatenate(labels),
            {s: np.flatnonzero(parts == i) for i, s in enumerate(SPLITS)},
            summary.class_names,
            volume_index=np.concatenate(volume_index),
            volumes=[
                {"id": v.id, "spacing": [plan.settings.pixel_mm] * 2, "intensity_window": list(v.window)}
                for v in plan.volumes
            ],
            sections={"export": {
                "settings": plan.settings.to_dict(),
                "class_mapping": plan.mapping.to_dict() if plan.mapping else None,
                "summary": summary.to_dict(),
            }},
        )
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / "manifest.json"


def _replace_folder(new: Path, target: Path) -> None:
    """Rename ``new`` to ``target``; an existing target is moved aside first and removed after."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", dir=target.parent))
        os.replace(target, old / target.name)
    try:
        os.replace(new, target)
    except BaseException:
        if old is not None:
            os.replace(old / target.name, target)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def export_settings_of(dataset: str | Path) -> tuple[ExportSettings, dict]:
    """The export settings and the whole "export" section stored in a dataset's manifest.

    Raises:
        ValueError: the dataset was not written by :func:`write_export` (no "export" section).
    """
    path = manifest_path(dataset)
    section = json.loads(path.read_text()).get("export")
    if not section:
        raise ValueError(f"{path} has no export settings: it was not exported from segmentations")
    return ExportSettings.from_dict(section["settings"]), section

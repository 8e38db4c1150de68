"""On-disk dataset format: one npz of arrays plus a JSON manifest, validated on load.

Layout of a dataset folder::

    manifest.json   {"format": "crest-dataset", "version": 1,
                     "class_names": [...],              # class id i is class_names[i]
                     "arrays": "arrays.npz",            # relative to the manifest
                     "splits": {"labelled": [...], "unlabelled": [...], "test": [...]},
                     "volumes": [{"id": "case_07", "spacing": [sy, sx], "intensity_window": [lo, hi]}, ...],
                     "intensity_window": [lo, hi] | null}
    arrays.npz      images (N, C, H, W) uint8 or float; labels (N,) int, -1 = unknown
                    (allowed only in the unlabelled split); volume_index (N,) int, index into
                    "volumes" (optional: absent when samples do not come from volumes)

``splits`` hold sample indices (rows of the arrays). Samples of one source volume may not be both in
training (labelled / unlabelled) and test: splits are patient-level.
"""

from __future__ import annotations

import json
import math
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FORMAT_NAME = "crest-dataset"
FORMAT_VERSION = 1
SPLITS = ("labelled", "unlabelled", "test")
UNKNOWN_LABEL = -1


class DatasetError(ValueError):
    """A dataset on disk is malformed; the message names the offending field and value."""


@dataclass
class Dataset:
    """A validated dataset in memory.

    Attributes:
        images: (N, C, H, W) float32 in [0, 1].
        labels: (N,) int64; -1 = unknown (unlabelled split only).
        splits: split name -> (n,) int64 sample indices.
        class_names: K names; class id i is ``class_names[i]``.
        volume_ids: source volume id per sample, or None.
    """

    images: np.ndarray
    labels: np.ndarray
    splits: dict[str, np.ndarray]
    class_names: list[str]
    volume_ids: list[str] | None = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def part(self, split: str) -> tuple[np.ndarray, np.ndarray]:
        """(images (n, C, H, W), labels (n,)) of one split."""
        index = self.splits[split]
        return self.images[index], self.labels[index]

    def labelled_counts(self) -> np.ndarray:
        """(K,) number of labelled samples per class id."""
        return np.bincount(self.labels[self.splits["labelled"]], minlength=self.num_classes)


def save_dataset(
    folder: str | Path,
    images: np.ndarray,
    labels: np.ndarray,
    splits: dict[str, Sequence[int]],
    class_names: Sequence[str],
    volume_index: np.ndarray | None = None,
    volumes: list[dict] | None = None,
    intensity_window: Sequence[float] | None = None,
    sections: dict | None = None,
) -> Path:
    """Write ``folder/manifest.json`` and ``folder/arrays.npz``; return the manifest path.

    Args:
        images: (N, C, H, W) uint8, or float in [0, 1], or float scaled by ``intensity_window``.
        labels: (N,) int; -1 for unknown labels of unlabelled samples.
        splits: "labelled" / "unlabelled" / "test" -> sample indices.
        volume_index: (N,) int index into ``volumes`` (one dict with at least "id" per volume).
        intensity_window: [lo, hi] mapping float images to [0, 1] on load.
        sections: further top-level manifest entries (JSON-able), e.g. the patch export's "export".

    Raises:
        ValueError: a section would replace a key of the format.
    """
    manifest = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "class_names": list(class_names),
        "arrays": "arrays.npz",
        "splits": {name: [int(i) for i in splits.get(name, [])] for name in SPLITS},
        "volumes": volumes or [],
        "intensity_window": list(intensity_window) if intensity_window is not None else None,
    }
    clash = sorted(set(sections or {}) & set(manifest))
    if clash:
        raise ValueError(f"manifest sections {clash} would replace keys of the dataset format")
    manifest.update(sections or {})
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {"images": np.asarray(images), "labels": np.asarray(labels, dtype=np.int64)}
    if volume_index is not None:
        arrays["volume_index"] = np.asarray(volume_index, dtype=np.int64)
    np.savez_compressed(folder / "arrays.npz", **arrays)
    path = folder / "manifest.json"
    path.write_text(json.dumps(manifest, indent=1))
    return path


def manifest_path(path: str | Path) -> Path:
    """The manifest of a dataset given as its folder or as the manifest file itself."""
    path = Path(path)
    return path / "manifest.json" if path.is_dir() else path


def load_dataset(path: str | Path) -> Dataset:
    """Read and validate a dataset (folder or manifest path).

    Raises:
        DatasetError: missing files or keys, shape mismatch, NaN / infinite pixels, labels outside
            the class list, a class without labelled samples, overlapping splits, or a volume in
            both training and test.
    """
    path = manifest_path(path)
    if not path.is_file():
        raise DatasetError(f"dataset manifest not found: {path}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DatasetError(f"{path} is not valid JSON: {error}") from error
    _check_manifest(manifest, path)
    arrays_path = path.parent / manifest["arrays"]
    arrays = load_arrays(arrays_path, required=("images", "labels"), optional=("volume_index",))
    images = normalised_images(arrays["images"], manifest.get("intensity_window"), arrays_path)
    labels = _checked_labels(arrays["labels"], len(images), len(manifest["class_names"]), arrays_path)
    splits = _checked_splits(manifest["splits"], labels, len(images), path)
    _check_labelled_classes(labels[splits["labelled"]], manifest["class_names"], path)
    volume_ids = None
    if "volume_index" in arrays:
        volume_ids = _checked_volume_ids(arrays["volume_index"], manifest.get("volumes"), len(images), arrays_path, path)
        _check_patient_level_split(volume_ids, splits, path)
    return Dataset(images, labels, splits, list(manifest["class_names"]), volume_ids)


def load_arrays(path: Path, required: Sequence[str], optional: Sequence[str] = ()) -> dict[str, np.ndarray]:
    """The named arrays of an ``.npz`` file, read in full (so damaged data is found here).

    Raises:
        DatasetError: the file is missing, empty, not an npz archive, damaged, holds pickled objects,
            or lacks a required array; the message names the file and the array.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"arrays file not found: {path}")
    if path.stat().st_size == 0:
        raise DatasetError(f"{path} is empty (0 bytes)")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, EOFError, ValueError, zipfile.BadZipFile) as error:
        raise DatasetError(f"cannot read {path}: not an npz archive ({error})") from error
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(f"{path} is a single .npy array, not an npz archive of named arrays")
    with archive:
        missing = [key for key in required if key not in archive.files]
        if missing:
            raise DatasetError(f"{path} lacks the array {missing[0]!r} (has {sorted(archive.files)})")
        arrays = {}
        for key in [*required, *(k for k in optional if k in archive.files)]:
            try:
                arrays[key] = archive[key]
            except (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error) as error:
                raise DatasetError(f"cannot read array {key!r} of {path} ({error})") from error
    return arrays


def _check_manifest(manifest: dict, path: Path) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise DatasetError(f"{path}: 'format' must be {FORMAT_NAME!r}")
    if manifest.get("version") != FORMAT_VERSION:
        raise DatasetError(
            f"{path}: unsupported version {manifest.get('version')!r}, expected {FORMAT_VERSION}"
        )
    for key in ("class_names", "arrays", "splits"):
        if key not in manifest:
            raise DatasetError(f"{path}: missing key {key!r}")
    names = manifest["class_names"]
    if not isinstance(names, list) or len(names) < 2 or not all(isinstance(n, str) for n in names):
        raise DatasetError(f"{path}: 'class_names' must list at least 2 class names (strings), got {names!r}")
    if len(set(names)) != len(names):
        raise DatasetError(f"{path}: class_names has duplicates: {names!r}")
    if not isinstance(manifest["arrays"], str) or not manifest["arrays"]:
        raise DatasetError(f"{path}: 'arrays' must be a file name, got {manifest['arrays']!r}")
    splits = manifest["splits"]
    if not isinstance(splits, dict):
        raise DatasetError(f"{path}: 'splits' must map split names to sample indices, got {type(splits).__name__}")
    missing = [s for s in ("labelled", "test") if s not in splits]
    if missing:
        raise DatasetError(f"{path}: splits lacks {missing}")
    for name, index in splits.items():
        if not isinstance(index, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in index):
            raise DatasetError(f"{path}: split {name!r} must be a list of integer sample indices")
    window = manifest.get("intensity_window")
    if window is not None and not (
        isinstance(window, list) and len(window) == 2
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in window)
    ):
        raise DatasetError(f"{path}: 'intensity_window' must be null or [lo, hi] (two numbers), got {window!r}")


def normalised_images(images: np.ndarray, window: Sequence[float] | None, where: str | Path) -> np.ndarray:
    """(N, C, H, W) float32 in [0, 1] from uint8 (/255) or float (window, or already in [0, 1]).

    Raises:
        DatasetError: wrong rank or dtype, NaN / infinite values, or floats outside [0, 1] without
            a window; ``where`` names the source in the message.
    """
    if images.ndim != 4:
        raise DatasetError(f"{where}: images must be (N, C, H, W), got shape {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if not np.issubdtype(images.dtype, np.floating):
        raise DatasetError(f"{where}: images must be uint8 or float, got {images.dtype}")
    bad = ~np.isfinite(images)
    if bad.any():
        first = int(np.argwhere(bad)[0][0])
        raise DatasetError(
            f"{where}: {int(bad.sum())} NaN or infinite pixel values (first in sample {first})"
        )
    images = images.astype(np.float32)
    if window is not None:
        lo, hi = float(window[0]), float(window[1])
        if not hi > lo:
            raise DatasetError(f"{where}: intensity_window must have hi > lo, got {list(window)}")
        return np.clip((images - lo) / (hi - lo), 0.0, 1.0)
    if images.min() < 0.0 or images.max() > 1.0:
        raise DatasetError(
            f"{where}: float images span [{images.min():g}, {images.max():g}]; scale them to [0, 1] "
            "or give an intensity_window in the manifest"
        )
    return images


def _checked_labels(labels: np.ndarray, n: int, k: int, where: Path) -> np.ndarray:
    if labels.shape != (n,):
        raise DatasetError(f"{where}: labels must have shape ({n},) to match {n} images, got {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{where}: labels must be integers, got {labels.dtype}")
    outside = labels[(labels >= k) | (labels < UNKNOWN_LABEL)]
    if outside.size:
        raise DatasetError(
            f"{where}: labels {sorted(set(outside.tolist()))} are not class ids 0..{k - 1} (class_names has {k})"
        )
    return labels.astype(np.int64)


def _checked_splits(raw: dict, labels: np.ndarray, n: int, where: Path) -> dict[str, np.ndarray]:
    splits = {name: np.asarray(raw.get(name, []), dtype=np.int64) for name in SPLITS}
    seen = np.zeros(n, dtype=bool)
    for name, index in splits.items():
        if index.size and (index.min() < 0 or index.max() >= n):
            raise DatasetError(f"{where}: split {name!r} has indices outside 0..{n - 1}")
        if seen[index].any() or len(np.unique(index)) != len(index):
            raise DatasetError(f"{where}: split {name!r} repeats samples or overlaps an earlier split")
        seen[index] = True
        if name != "unlabelled" and (labels[index] == UNKNOWN_LABEL).any():
            raise DatasetError(f"{where}: split {name!r} has samples with unknown label -1; only 'unlabelled' may")
    if splits["test"].size == 0:
        raise DatasetError(f"{where}: split 'test' is empty")
    return splits


def _check_labelled_classes(labelled: np.ndarray, class_names: Sequence[str], where: Path) -> None:
    counts = np.bincount(labelled, minlength=len(class_names))
    empty = [f"{i} ({class_names[i]})" for i in np.flatnonzero(counts == 0)]
    if empty:
        raise DatasetError(f"{where}: classes without any labelled sample: {', '.join(empty)}")


def _checked_volume_ids(volume_index: np.ndarray, volumes, n: int, arrays_path: Path, path: Path) -> list[str]:
    if not isinstance(volumes, list) or not all(isinstance(v, dict) and "id" in v for v in volumes):
        raise DatasetError(f"{path}: 'volumes' must list one {{\"id\": ...}} per source volume, as "
                           f"{arrays_path.name} has 'volume_index'")
    if volume_index.shape != (n,) or not np.issubdtype(volume_index.dtype, np.integer):
        raise DatasetError(f"{arrays_path}: volume_index must be ({n},) integers, got {volume_index.shape} "
                           f"{volume_index.dtype}")
    if volume_index.size and (volume_index.min() < 0 or volume_index.max() >= len(volumes)):
        raise DatasetError(f"{arrays_path}: volume_index refers to volumes outside 0..{len(volumes) - 1}")
    ids = [str(v["id"]) for v in volumes]
    return [ids[i] for i in volume_index]


def _check_patient_level_split(volume_ids: list[str], splits: dict[str, np.ndarray], where: Path) -> None:
    train = {volume_ids[i] for name in ("labelled", "unlabelled") for i in splits[name]}
    shared = sorted(train & {volume_ids[i] for i in splits["test"]})
    if shared:
        raise DatasetError(f"{where}: volumes in both training and test splits (split by patient): {shared[:5]}")

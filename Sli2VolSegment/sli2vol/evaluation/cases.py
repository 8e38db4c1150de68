"""Labelled cases for evaluation: the shared manifest format or image/label pairs, structure names
and the target groups they are reported under."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sli2vol.errors import InputError
from sli2vol.io.volume_io import read_image, read_mask

TARGET_GROUPS = {  # group -> pattern on the lower-case structure name
    "liver": r"liver",
    "spleen": r"spleen",
    "kidney": r"((left|right) )?kidney",
    "pancreas": r"pancreas",
    "gallbladder": r"gall ?bladder",
    "adrenal": r"((left|right) )?adrenal( gland)?",
    "left atrium": r"left atrium( \(cavity\))?",
}


def target_group(structure: str) -> str | None:
    """The target group ("kidney", "adrenal", ...) a structure name belongs to, or None."""
    name = structure.strip().lower()
    return next((g for g, pattern in TARGET_GROUPS.items() if re.fullmatch(pattern, name)), None)


@dataclass(frozen=True)
class Case:
    dataset: str
    case_id: str
    image: Path
    label: Path
    structures: dict  # label id (int) -> structure name; background excluded


@dataclass
class CaseVolume:
    image: np.ndarray  # (k, j, i) intensities
    labels: np.ndarray  # (k, j, i) integer label ids
    spacing: tuple  # (sk, sj, si) mm


def cases_from_manifest(folder: str | Path, datasets: list | None = None, max_cases: int | None = None) -> list:
    """Labelled cases listed in ``folder``/manifest.json (cases without a label are skipped).

    ``datasets`` keeps only those datasets (in manifest order); ``max_cases`` keeps the first N
    cases of each dataset.
    """
    folder = Path(folder)
    path = folder / "manifest.json"
    if not path.is_file():
        raise InputError(f"no manifest.json in {folder}; give a data folder in the shared manifest format or --pair")
    try:
        entries = json.loads(path.read_text())["cases"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path} is not a manifest: expected a JSON object with a 'cases' list ({exc})") from exc
    labelled = [e for e in entries if e.get("label")]
    known = sorted({e["dataset"] for e in labelled})
    unknown = sorted(set(datasets or []) - set(known))
    if unknown:
        raise InputError(f"datasets {unknown} have no labelled cases in {path} (available: {known})")
    cases, per_dataset = [], {}
    for e in labelled:
        if datasets and e["dataset"] not in datasets:
            continue
        per_dataset[e["dataset"]] = per_dataset.get(e["dataset"], 0) + 1
        if max_cases is not None and per_dataset[e["dataset"]] > max_cases:
            continue
        names = {int(k): v for k, v in e.get("labels", {}).items() if int(k) != 0}
        cases.append(Case(e["dataset"], e["case_id"], folder / e["image"], folder / e["label"], names))
    return cases


def cases_from_pairs(pairs: list) -> list:
    """Cases for (image, label) path pairs; structures are named "label N" from the label values."""
    cases = []
    for image, label in pairs:
        values = np.unique(read_mask(label).array)
        names = {int(v): f"label {int(v)}" for v in values if v != 0}
        case_id = Path(image).name.split(".")[0]
        cases.append(Case("pairs", case_id, Path(image), Path(label), names))
    return cases


def select_structures(case: Case, wanted: list | None) -> dict:
    """{label id: name} of ``case`` whose id, name or target group is in ``wanted`` (None: all)."""
    if not wanted:
        return dict(case.structures)
    keys = {w.strip().lower() for w in wanted}
    return {
        label: name for label, name in case.structures.items()
        if {str(label), name.lower(), target_group(name) or ""} & keys
    }


def load_case(case: Case) -> CaseVolume:
    """Read image and label; raises :class:`InputError` when their voxel grids differ."""
    image = read_image(case.image)
    labels = read_mask(case.label)
    if labels.array.shape != image.array.shape:
        raise InputError(
            f"{case.case_id}: label shape {labels.array.shape} ({case.label}) does not match "
            f"image shape {image.array.shape} ({case.image})"
        )
    if not np.allclose(labels.spacing_kji, image.spacing_kji, rtol=1e-3):
        raise InputError(f"{case.case_id}: label spacing {labels.spacing_kji} differs from image {image.spacing_kji}")
    return CaseVolume(image.array, labels.array, image.spacing_kji)

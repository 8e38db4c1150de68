"""Labelled cases for evaluation: the shared manifest format or image/label pairs, structure names
and the target groups they are reported under."""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, replace
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
HALVES = ("tuning", "checking")  # the dev set's two halves: tune settings on one, check them on the other
SPLITS = (*HALVES, "all")


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
    half: str = ""  # "tuning" or "checking" (see assign_halves); "" before assignment


@dataclass
class CaseVolume:
    image: np.ndarray  # (k, j, i) intensities
    labels: np.ndarray  # (k, j, i) integer label ids
    spacing: tuple  # (sk, sj, si) mm


def assign_halves(cases: list, seed: int = 0) -> list:
    """The cases with ``half`` set: per dataset, the sorted case ids in an order drawn from (seed,
    dataset); the first half of that order (rounded up) is "tuning", the rest "checking".

    A case's half depends only on the seed and the ids of its dataset, not on the case order or on
    which other datasets are given.
    """
    ids: dict = {}
    for case in cases:
        ids.setdefault(case.dataset, set()).add(case.case_id)
    half = {}
    for dataset, names in ids.items():
        digest = hashlib.sha256(f"{seed}:{dataset}".encode()).digest()
        order = np.random.default_rng(int.from_bytes(digest[:8], "little")).permutation(sorted(names))
        n_tuning = (len(order) + 1) // 2
        half.update({(dataset, name): HALVES[0] if rank < n_tuning else HALVES[1] for rank, name in enumerate(order)})
    return [replace(c, half=half[(c.dataset, c.case_id)]) for c in cases]


def select_split(cases: list, split: str, max_cases: int | None = None) -> list:
    """The cases of one half ("tuning", "checking") or all of them, then the first ``max_cases`` of
    each dataset (None: every case)."""
    if split not in SPLITS:
        raise InputError(f"split must be one of {SPLITS}, got {split!r}")
    kept, per_dataset = [], {}
    for case in cases:
        if split != "all" and case.half != split:
            continue
        per_dataset[case.dataset] = per_dataset.get(case.dataset, 0) + 1
        if max_cases is None or per_dataset[case.dataset] <= max_cases:
            kept.append(case)
    return kept


def cases_from_manifest(folder: str | Path, datasets: list | None = None, max_cases: int | None = None,
                        split: str = "all", split_seed: int = 0) -> list:
    """Labelled cases listed in ``folder``/manifest.json (cases without a label are skipped).

    ``datasets`` keeps only those datasets (in manifest order); ``split`` keeps one half of each
    dataset (:func:`assign_halves` with ``split_seed``, drawn over all its labelled cases);
    ``max_cases`` then keeps the first N cases of each dataset.
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
    cases = []
    for e in labelled:
        names = {int(k): v for k, v in e.get("labels", {}).items() if int(k) != 0}
        cases.append(Case(e["dataset"], e["case_id"], folder / e["image"], folder / e["label"], names))
    cases = [c for c in assign_halves(cases, split_seed) if not datasets or c.dataset in datasets]
    return select_split(cases, split, max_cases)


def cases_from_pairs(pairs: list, split_seed: int = 0) -> list:
    """Cases for (image, label) path pairs; structures are named "label N" from the label values."""
    cases = []
    for image, label in pairs:
        values = np.unique(read_mask(label).array)
        names = {int(v): f"label {int(v)}" for v in values if v != 0}
        case_id = Path(image).name.split(".")[0]
        cases.append(Case("pairs", case_id, Path(image), Path(label), names))
    return assign_halves(cases, split_seed)


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

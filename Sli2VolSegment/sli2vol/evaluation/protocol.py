"""The paper's evaluation protocol: per structure, annotate one slice drawn near the largest
ground-truth slice, propagate it through the volume with each method, score 3-D Dice per volume."""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from sli2vol.evaluation.cases import Case, load_case, select_structures, target_group
from sli2vol.evaluation.overlays import WorstCases
from sli2vol.metrics import dice, largest_slice
from sli2vol.validation import require, require_choice

NEIGHBOURHOOD = 3  # the annotated slice is drawn among the +-3 slices around the largest one


@dataclass
class EvaluationConfig:
    axis: int = 0  # array axis (0 = k) the annotated slice lies on and propagation runs along
    seed: int = 0  # global seed; each (case, label) draws its slice from a seed derived from it
    structures: list | None = None  # label ids, structure names or target groups; None: all
    worst: int = 3  # overlays kept per method and dataset (lowest Dice)

    def __post_init__(self) -> None:
        require_choice("axis", self.axis, (0, 1, 2))
        require("seed", self.seed, integer=True, minimum=0)
        require("worst", self.worst, integer=True, minimum=0)


@dataclass
class Evaluation:
    records: list = field(default_factory=list)  # one dict per (case, structure, method)
    worst_n: int = 3  # lowest-Dice cases kept per method and dataset
    worst: dict = field(default_factory=dict)  # (method, dataset) -> WorstCases

    def offer_worst(self, key: tuple, record: dict, volume, truth, pred, axis: int) -> None:
        """Offer a result to the worst cases of ``key`` (method, dataset)."""
        self.worst.setdefault(key, WorstCases(self.worst_n)).offer(record, volume, truth, pred, axis)


def slice_rng(seed: int, case_id: str, label: int) -> np.random.Generator:
    """A generator seeded from (global seed, case id, label): the same draw for every method and run."""
    digest = hashlib.sha256(f"{seed}:{case_id}:{label}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def annotated_slice(truth: np.ndarray, axis: int, rng: np.random.Generator) -> tuple[int, int]:
    """(annotated slice, largest slice) along ``axis`` for the boolean structure ``truth`` (N0, N1, N2).

    The annotated slice is drawn uniformly among the slices within +-3 of the largest-area slice,
    clipped to the volume and restricted to slices where the structure is present.
    """
    largest = largest_slice(truth, True, axis)
    present = np.moveaxis(truth, axis, 0).any(axis=(1, 2))
    lo, hi = max(0, largest - NEIGHBOURHOOD), min(len(present), largest + NEIGHBOURHOOD + 1)
    candidates = [k for k in range(lo, hi) if present[k]]
    return int(rng.choice(candidates)), largest


def _evaluate_structure(result: Evaluation, case: Case, volume, label: int, name: str, predictors: dict,
                        config: EvaluationConfig) -> None:
    """Append one record per method for structure ``label`` of ``case`` and offer it to the worst cases."""
    truth = volume.labels == label
    index, largest = annotated_slice(truth, config.axis, slice_rng(config.seed, case.case_id, label))
    slice_mask = np.take(truth, index, axis=config.axis)
    for method, predict in predictors.items():
        start = time.perf_counter()
        pred = predict(volume.image, volume.spacing, config.axis, index, slice_mask)
        record = {
            "dataset": case.dataset, "case_id": case.case_id, "half": case.half, "label": int(label), "structure": name,
            "group": target_group(name), "method": method, "annotated_slice": index, "largest_slice": largest,
            "dice": dice(pred, truth), "seconds": time.perf_counter() - start,
            "truth_voxels": int(truth.sum()), "predicted_voxels": int(pred.sum()),
        }
        result.records.append(record)
        result.offer_worst((method, case.dataset), record, volume, truth, pred, config.axis)


def evaluate_case(case: Case, predictors: dict, config: EvaluationConfig, result: Evaluation | None = None,
                  progress: Callable[[str, Evaluation], None] | None = None) -> Evaluation:
    """Every predictor on every selected structure of one case, appended to ``result`` (default: a
    new one). ``progress`` is called after each structure."""
    result = result or Evaluation(worst_n=config.worst)
    volume = load_case(case)
    for label, name in select_structures(case, config.structures).items():
        if (volume.labels == label).any():
            _evaluate_structure(result, case, volume, label, name, predictors, config)
        if progress is not None:
            progress(f"{case.case_id} {name}", result)
    return result


def evaluate(
    cases: list,
    predictors: dict,
    config: EvaluationConfig | None = None,
    progress: Callable[[str, Evaluation], None] | None = None,
) -> Evaluation:
    """Run every predictor ({method: Predictor}) on every selected structure of every case.

    ``progress`` is called after each (case, structure) with a short description and the evaluation
    so far. Structures absent from a case's labels are skipped.
    """
    config = config or EvaluationConfig()
    result = Evaluation(worst_n=config.worst)
    for case in cases:
        evaluate_case(case, predictors, config, result, progress)
    return result


def merge(result: Evaluation, part: Evaluation) -> None:
    """Add the records and worst cases of ``part`` (e.g. one case evaluated elsewhere) to ``result``."""
    result.records.extend(part.records)
    for key, worst in part.worst.items():
        result.worst.setdefault(key, WorstCases(worst.n)).take(worst.items)


def count_units(cases: list, structures: list | None) -> int:
    """Number of (case, structure) units :func:`evaluate` reports progress for."""
    return sum(len(select_structures(c, structures)) for c in cases)

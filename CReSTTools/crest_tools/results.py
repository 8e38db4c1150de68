"""The results of ``crest evaluate`` (metrics.json and figures) as a module shows them.

Balanced accuracy with and without logit adjustment, a per-class precision / recall table with the
class counts (labelled training patches from the dataset, test patches from the confusion matrix),
and the paths of the figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .dataset_format import manifest_path

FIGURES = ("accuracy_per_generation.png", "confusion_matrix_plain.png", "confusion_matrix_la.png")


@dataclass
class ClassResult:
    """One row of the results table; rates in 0..1, NaN where undefined (no test / predicted sample)."""

    name: str
    labelled: int
    test: int
    precision: float
    recall: float
    precision_la: float
    recall_la: float


@dataclass
class EvaluationResults:
    """What one ``crest evaluate`` output folder says about a run."""

    generation: int
    balanced_accuracy: float
    balanced_accuracy_la: float
    accuracy: float
    accuracy_la: float
    classes: list[ClassResult]
    history: list[dict]
    figures: dict[str, Path]  # file name -> path, for the figures that exist

    def text(self) -> str:
        """The table and the headline figures as plain text (percentages)."""
        headline = (
            f"generation {self.generation}: balanced accuracy {100 * self.balanced_accuracy:.1f}% "
            f"(logit-adjusted {100 * self.balanced_accuracy_la:.1f}%), accuracy {100 * self.accuracy:.1f}% "
            f"({100 * self.accuracy_la:.1f}%)"
        )
        lines = [
            headline,
            f"{'class':<24} {'labelled':>8} {'test':>5} {'prec.':>6} {'recall':>6} {'prec.LA':>7} {'rec.LA':>6}",
        ]
        for row in self.classes:
            rates = (row.precision, row.recall, row.precision_la, row.recall_la)
            lines.append(
                f"{row.name[:24]:<24} {row.labelled:>8} {row.test:>5} "
                + " ".join(f"{100 * r:>{w}.1f}" for r, w in zip(rates, (6, 6, 7, 6)))
            )
        return "\n".join(lines)


def labelled_counts(dataset: str | Path) -> dict[str, int]:
    """class name -> labelled samples of a crest dataset (reads the labels array only)."""
    path = manifest_path(dataset)
    manifest = json.loads(path.read_text())
    with np.load(path.parent / manifest["arrays"]) as arrays:
        labels = arrays["labels"][np.asarray(manifest["splits"]["labelled"], dtype=np.int64)]
    counts = np.bincount(labels, minlength=len(manifest["class_names"]))
    return dict(zip(manifest["class_names"], counts.tolist()))


def load_results(evaluation: str | Path, dataset: str | Path | None = None) -> EvaluationResults:
    """Read ``evaluation/metrics.json`` (written by ``crest evaluate``); labelled counts from ``dataset``.

    Raises:
        ValueError: no metrics.json in the folder, or one without the expected keys.
    """
    folder = Path(evaluation)
    path = folder / "metrics.json"
    if not path.is_file():
        raise ValueError(f"no metrics.json in {folder}: run `crest evaluate` on the finished run first")
    metrics = json.loads(path.read_text())
    try:
        names, plain, adjusted = metrics["class_names"], metrics["plain"], metrics["la"]
        counts = labelled_counts(dataset) if dataset is not None else {}
        test = np.asarray(plain["confusion"]).sum(axis=1)
        classes = [
            ClassResult(name, counts.get(name, 0), int(test[i]), plain["precision"][i], plain["recall"][i],
                        adjusted["precision"][i], adjusted["recall"][i])
            for i, name in enumerate(names)
        ]
        return EvaluationResults(
            metrics["generation"], plain["balanced_accuracy"], adjusted["balanced_accuracy"],
            plain["accuracy"], adjusted["accuracy"], classes, metrics.get("history", []),
            {name: folder / name for name in FIGURES if (folder / name).is_file()},
        )
    except (KeyError, IndexError, TypeError) as error:
        raise ValueError(f"{path} is not a crest evaluate output: {error!r}") from error

"""Figures of an evaluation: confusion matrix and test accuracy per generation (matplotlib, Agg)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sli2vol.errors import InputError
from sli2vol.io.atomic import atomic_path


def require_pyplot():
    """matplotlib's pyplot on the Agg backend; :class:`InputError` when matplotlib is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise InputError("figures need matplotlib, which is not installed: pip install matplotlib") from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path: Path) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format="png", dpi=120)


def save_confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], path: Path, title: str) -> None:
    """PNG of a (K, K) confusion matrix (rows true, columns predicted), rows normalised to recall."""
    plt = require_pyplot()
    matrix = np.asarray(matrix, dtype=np.float64)
    rates = matrix / np.clip(matrix.sum(axis=1, keepdims=True), 1, None)
    k = len(class_names)
    figure, axes = plt.subplots(figsize=(2.0 + 0.5 * k, 1.5 + 0.5 * k))
    image = axes.imshow(rates, vmin=0.0, vmax=1.0, cmap="Blues")
    axes.set_xticks(range(k), class_names, rotation=60, ha="right")
    axes.set_yticks(range(k), class_names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title)
    for (row, column), value in np.ndenumerate(matrix):
        axes.text(
            column,
            row,
            int(value),
            ha="center",
            va="center",
            fontsize=7,
            color="white" if rates[row, column] > 0.5 else "black",
        )
    figure.colorbar(image, ax=axes, label="fraction of the true class")
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)


def save_accuracy_per_generation(history: list[dict], path: Path) -> None:
    """PNG of test balanced accuracy, plain and logit-adjusted, against the generation index."""
    plt = require_pyplot()
    generations = [entry["generation"] for entry in history]
    figure, axes = plt.subplots(figsize=(5, 3.5))
    axes.plot(generations, [100 * e["balanced_accuracy"] for e in history], "o-", label="plain")
    axes.plot(generations, [100 * e["balanced_accuracy_la"] for e in history], "s--", label="logit-adjusted")
    axes.set_xlabel("generation")
    axes.set_ylabel("test balanced accuracy (%)")
    axes.set_xticks(generations)
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    _save(figure, path)
    plt.close(figure)

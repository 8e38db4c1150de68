"""Classification metrics for long-tailed data, and logit adjustment."""

from __future__ import annotations

import numpy as np


def logit_adjusted(logits: np.ndarray, prior: np.ndarray, tau: float = 1.0) -> np.ndarray:
    """Logit adjustment (Menon et al.): logits (N, K) - tau * log(prior (K,)), prior = labelled counts."""
    prior = np.asarray(prior, dtype=np.float64)
    return logits - tau * np.log(np.clip(prior / prior.sum(), 1e-12, None))


def confusion_matrix(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> np.ndarray:
    """(K, K) counts; row = true class, column = predicted class."""
    return np.bincount(labels * num_classes + predicted, minlength=num_classes**2).reshape(
        num_classes, num_classes
    )


def classification_report(labels: np.ndarray, predicted: np.ndarray, num_classes: int) -> dict[str, object]:
    """Accuracy, balanced accuracy (mean recall over classes present), per-class recall / precision.

    Args:
        labels, predicted: (N,) class ids.
    Returns:
        dict with "accuracy", "balanced_accuracy" (floats), "recall", "precision" (K lists, NaN
        where undefined) and "confusion" (K x K nested list).
    """
    matrix = confusion_matrix(labels, predicted, num_classes)
    true_positive = np.diag(matrix).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = true_positive / matrix.sum(axis=1)
        precision = true_positive / matrix.sum(axis=0)
    return {
        "accuracy": float(true_positive.sum() / max(1, len(labels))),
        "balanced_accuracy": float(np.nanmean(recall)),
        "recall": recall.tolist(),
        "precision": precision.tolist(),
        "confusion": matrix.tolist(),
    }

"""Diagnostics of a generation's pseudo-label picks: what was predicted, what was picked, how well.

CReST can only pick unlabelled samples that the model *predicts* as a class. A generation too short
to predict the rarest classes picks (almost) none of them while it picks many head samples, so the
next labelled set is more imbalanced than the original one; :func:`imbalance_warning` says so.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RAREST_WATCHED = 3  # rarest labelled classes named by the warning


def imbalance_ratio(counts: np.ndarray) -> float:
    """Largest over smallest class count (inf when a class has none)."""
    counts = np.asarray(counts, dtype=np.float64)
    return float(counts.max() / counts.min()) if counts.min() > 0 else float("inf")


def pick_diagnostics(
    predicted: np.ndarray,
    picked: np.ndarray,
    true_labels: np.ndarray,
    labelled_counts: np.ndarray,
) -> dict[str, object]:
    """Per-class counts of predictions and picks, pick precision, labelled imbalance before / after.

    Args:
        predicted: (M,) predicted class id of every unlabelled sample.
        picked: (M,) bool, True for the samples picked as pseudo-labelled.
        true_labels: (M,) true class ids of the unlabelled samples, -1 where unknown.
        labelled_counts: (K,) counts of the original labelled set (the next generation's labelled
            set is this plus the picks).
    Returns:
        dict with "predicted_per_class", "picked_per_class" (K ints), "pick_precision_per_class"
        (K floats, None where no pick of that class has a known truth), "pick_precision" (float or
        None), "picks_with_truth" (int), "imbalance_before" and "imbalance_after" (max / min count).
    """
    num_classes = len(labelled_counts)
    picked_labels, picked_truth = predicted[picked], true_labels[picked]
    known = picked_truth >= 0
    correct = picked_truth == picked_labels
    per_class = []
    for class_id in range(num_classes):
        judged = known & (picked_labels == class_id)
        per_class.append(float(correct[judged].mean()) if judged.any() else None)
    picked_per_class = np.bincount(picked_labels, minlength=num_classes)
    return {
        "predicted_per_class": np.bincount(predicted, minlength=num_classes).tolist(),
        "picked_per_class": picked_per_class.tolist(),
        "pick_precision_per_class": per_class,
        "pick_precision": float(correct[known].mean()) if known.any() else None,
        "picks_with_truth": int(known.sum()),
        "imbalance_before": imbalance_ratio(labelled_counts),
        "imbalance_after": imbalance_ratio(np.asarray(labelled_counts) + picked_per_class),
    }


def imbalance_warning(
    diagnostics: dict, labelled_counts: np.ndarray, class_names: Sequence[str]
) -> str | None:
    """A one-line warning when the picks make the labelled set more imbalanced, else None.

    Names the rarest labelled classes with how many unlabelled samples were predicted as each.
    """
    before, after = diagnostics["imbalance_before"], diagnostics["imbalance_after"]
    if after <= before:
        return None
    rarest = np.argsort(labelled_counts, kind="stable")[:RAREST_WATCHED]
    predicted = diagnostics["predicted_per_class"]
    named = ", ".join(f"{class_names[c]} {predicted[c]}" for c in rarest)
    return (
        f"the picks raise the labelled imbalance from {before:.0f} to {after:.0f}: the rarest classes are "
        f"predicted for only {named} of {sum(predicted)} unlabelled samples (generation too short?)"
    )

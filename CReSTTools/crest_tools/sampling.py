"""CReST class-rebalancing selection of pseudo-labelled samples for the next generation."""

from __future__ import annotations

import numpy as np


def sampling_rates(labelled_counts: np.ndarray, alpha: float) -> np.ndarray:
    """Per-class fraction of pseudo-labelled samples to keep, indexed by class id.

    Classes are ranked by their labelled count, rank 1 = most frequent (ties broken by class id);
    the class of rank l keeps mu_l = (N_{L+1-l} / N_1) ** alpha, where N_1 >= ... >= N_L are the
    sorted counts. So the most frequent class keeps (N_L / N_1) ** alpha and the rarest keeps all.

    Args:
        labelled_counts: (K,) labelled samples per class id, all > 0.
        alpha: exponent; 0 keeps everything.
    Returns:
        (K,) rates in (0, 1], indexed by class id (not by rank).
    """
    counts = np.asarray(labelled_counts, dtype=np.float64)
    if counts.ndim != 1 or (counts <= 0).any():
        raise ValueError(f"labelled_counts must be a 1-D array of positive counts, got {labelled_counts!r}")
    order = np.argsort(-counts, kind="stable")  # class ids from most to least frequent
    sorted_counts = counts[order]  # N_1 >= ... >= N_L
    rates = np.empty_like(counts)
    rates[order] = (sorted_counts[::-1] / sorted_counts[0]) ** alpha  # rank l gets N_{L+1-l}
    return rates


def select_pseudo_labelled(probabilities: np.ndarray, rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Keep, per predicted class c, the floor(rates[c] * n_c) most confident of its n_c predictions.

    Args:
        probabilities: (M, K) class probabilities of the unlabelled samples.
        rates: (K,) fraction to keep per predicted class id (from :func:`sampling_rates`).
    Returns:
        (indices (P,) into the M samples, ascending; pseudo_labels (P,) their predicted class ids).
    """
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities.max(axis=1)
    kept = []
    for class_id, rate in enumerate(rates):
        members = np.flatnonzero(predicted == class_id)
        keep = int(np.floor(rate * len(members) + 1e-9))
        most_confident_first = members[np.argsort(-confidence[members], kind="stable")]
        kept.append(most_confident_first[:keep])
    indices = np.sort(np.concatenate(kept)).astype(np.int64)
    return indices, predicted[indices]

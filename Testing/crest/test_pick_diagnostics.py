"""Pick diagnostics: per-class predictions and picks, pick precision, imbalance before / after."""

import numpy as np
from crest_tools.pick_diagnostics import imbalance_ratio, imbalance_warning, pick_diagnostics

NAMES = ["head", "middle", "tail"]
LABELLED = np.array([40, 10, 2])


def test_counts_precision_and_imbalance_of_known_picks():
    predicted = np.array([0, 0, 0, 1, 1, 2, 0, 1])
    picked = np.array([1, 1, 0, 1, 0, 1, 0, 1], dtype=bool)
    truth = np.array([0, 1, 0, 1, 1, 2, 2, 0])
    report = pick_diagnostics(predicted, picked, truth, LABELLED)
    assert report["predicted_per_class"] == [4, 3, 1]
    assert report["picked_per_class"] == [2, 2, 1]
    # picks: class 0 -> truths 0, 1 (1 of 2 right); class 1 -> 1, 0 (1 of 2); class 2 -> 2 (right)
    assert report["pick_precision_per_class"] == [0.5, 0.5, 1.0]
    assert report["pick_precision"] == 3 / 5 and report["picks_with_truth"] == 5
    assert report["imbalance_before"] == 20.0 and report["imbalance_after"] == 42 / 3


def test_unknown_truth_gives_no_precision():
    predicted = np.array([0, 2, 2])
    picked = np.array([True, True, False])
    truth = np.array([-1, 2, -1])
    report = pick_diagnostics(predicted, picked, truth, LABELLED)
    assert report["pick_precision_per_class"] == [None, None, 1.0]
    assert report["pick_precision"] == 1.0 and report["picks_with_truth"] == 1
    no_truth = pick_diagnostics(predicted, picked, np.full(3, -1), LABELLED)
    assert no_truth["pick_precision"] is None and no_truth["picks_with_truth"] == 0


def test_warning_only_when_the_picks_raise_the_imbalance():
    head_only = pick_diagnostics(
        np.zeros(30, dtype=int), np.ones(30, dtype=bool), np.zeros(30, dtype=int), LABELLED
    )
    assert head_only["imbalance_after"] == 35.0  # (40 + 30) / 2
    warning = imbalance_warning(head_only, LABELLED, NAMES)
    assert "from 20 to 35" in warning and "tail 0, middle 0, head 30 of 30" in warning
    tail_too = pick_diagnostics(
        np.array([0] * 10 + [2] * 5), np.ones(15, dtype=bool), np.full(15, -1), LABELLED
    )
    assert tail_too["imbalance_after"] == 50 / 7
    assert imbalance_warning(tail_too, LABELLED, NAMES) is None


def test_imbalance_ratio_of_an_empty_class_is_infinite():
    assert imbalance_ratio(np.array([5, 0])) == float("inf") and imbalance_ratio(np.array([6, 3])) == 2.0

"""Balanced accuracy, per-class precision / recall and logit adjustment."""

import numpy as np
from crest_tools.metrics import classification_report, logit_adjusted


def test_report_against_hand_counts():
    labels = np.array([0, 0, 0, 0, 1, 1, 2])
    predicted = np.array([0, 0, 0, 1, 1, 0, 2])
    report = classification_report(labels, predicted, 3)
    np.testing.assert_allclose(report["recall"], [0.75, 0.5, 1.0])
    np.testing.assert_allclose(report["precision"], [0.75, 0.5, 1.0])
    assert report["balanced_accuracy"] == np.mean([0.75, 0.5, 1.0])
    assert report["accuracy"] == 5 / 7
    assert report["confusion"] == [[3, 1, 0], [1, 1, 0], [0, 0, 1]]


def test_logit_adjustment_subtracts_log_prior_and_favours_rare_classes():
    logits = np.array([[2.0, 1.5]])
    adjusted = logit_adjusted(logits, np.array([90, 10]))  # prior normalised to [0.9, 0.1]
    np.testing.assert_allclose(adjusted, [[2.0 - np.log(0.9), 1.5 - np.log(0.1)]])
    assert logits.argmax() == 0 and adjusted.argmax() == 1

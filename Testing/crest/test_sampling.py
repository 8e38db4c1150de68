"""CReST sampling rates and pseudo-label selection against hand-computed cases."""

import numpy as np
import pytest
from crest_tools.sampling import sampling_rates, select_pseudo_labelled

# counts by class id [10, 40, 5, 20]: ranks id1 (40), id3 (20), id0 (10), id2 (5); N = [40, 20, 10, 5]
# rank 1 (id1) -> N_4 / N_1 = 5/40, rank 2 (id3) -> 10/40, rank 3 (id0) -> 20/40, rank 4 (id2) -> 40/40
UNORDERED_COUNTS = [10, 40, 5, 20]


@pytest.mark.parametrize(
    "alpha, expected",
    [
        (1.0, [0.5, 0.125, 1.0, 0.25]),
        (1.0 / 3.0, [0.5 ** (1 / 3), 0.5, 1.0, 0.25 ** (1 / 3)]),
        (0.0, [1.0, 1.0, 1.0, 1.0]),
    ],
)
def test_rates_follow_frequency_rank_not_class_id(alpha, expected):
    np.testing.assert_allclose(sampling_rates(np.array(UNORDERED_COUNTS), alpha), expected)


def test_rates_for_ordered_long_tail():
    # imbalance 100: the most frequent class keeps (5/500) ** (1/3) = 0.215, the middle one (50/500) ** (1/3)
    counts = np.array([500, 50, 5])
    np.testing.assert_allclose(sampling_rates(counts, 1 / 3), [0.215443469, 0.464158883, 1.0])


def test_rates_reject_empty_class():
    with pytest.raises(ValueError, match="positive counts"):
        sampling_rates(np.array([3, 0, 2]), 1 / 3)


def test_selection_keeps_most_confident_fraction_per_predicted_class():
    probabilities = np.array(
        [
            [0.90, 0.10],  # 0: class 0
            [0.60, 0.40],  # 1: class 0
            [0.99, 0.01],  # 2: class 0
            [0.70, 0.30],  # 3: class 0
            [0.20, 0.80],  # 4: class 1
            [0.45, 0.55],  # 5: class 1
        ]
    )
    indices, labels = select_pseudo_labelled(probabilities, np.array([0.5, 1.0]))
    # class 0: floor(0.5 * 4) = 2 most confident -> samples 2 (0.99) and 0 (0.90); class 1: both
    np.testing.assert_array_equal(indices, [0, 2, 4, 5])
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])


def test_selection_rounds_down_and_handles_absent_classes():
    probabilities = np.array([[0.1, 0.2, 0.7], [0.2, 0.1, 0.7], [0.3, 0.1, 0.6]])  # all predicted class 2
    indices, labels = select_pseudo_labelled(probabilities, np.array([1.0, 1.0, 0.5]))
    # floor(0.5 * 3) = 1: only the most confident (ties keep the lower index)
    np.testing.assert_array_equal(indices, [0])
    np.testing.assert_array_equal(labels, [2])

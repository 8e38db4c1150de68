"""Per-slice confidence of the core: bounds, what lowers it, and the chain from the anchor."""
from __future__ import annotations

import numpy as np
from sli2vol import PropagationConfig, propagate_volume, propagate_volume_with_confidence
from sli2vol.engine.confidence import chain_confidence, check_order, slice_confidence


def disc(shape=(40, 40), centre=(20, 20), radius=8.0) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_a_sharp_warp_kept_whole_is_fully_confident():
    mask = disc().astype(np.float32)
    assert slice_confidence(mask, mask) == 1.0


def test_blur_and_verification_losses_lower_the_confidence():
    mask = disc().astype(np.float32)
    blurred = np.clip(0.5 + 0.3 * (2 * mask - 1), 0, 1)  # same decision, values near 0.5
    shaved = mask * (np.arange(40) < 24)[None, :]  # verification removed a third of the mask
    sharp = slice_confidence(mask, mask)
    assert slice_confidence(mask, blurred) < sharp
    assert slice_confidence(shaved, mask) < sharp
    assert slice_confidence(np.zeros((40, 40)), np.zeros((40, 40))) == 0.0


def test_chain_confidence_never_rises_away_from_the_anchor_and_takes_the_better_route_between_anchors():
    local = {3: 0.9, 2: 0.5, 1: 0.8, 0: 0.7, 6: 0.9, 7: 0.4, 8: 0.95, 11: 0.6, 12: 0.9}
    chained = chain_confidence(local, [4, 10])
    assert [chained[k] for k in (3, 2, 1, 0)] == [0.9, 0.5, 0.5, 0.5]
    assert [chained[k] for k in (11, 12)] == [0.6, 0.6]
    # between 4 and 10: 6 is reached from 4 at 0.9; 8 from 10 at 0.95 (from 4 it passed 7 at 0.4)
    local.update({5: 0.95, 9: 0.97})
    chained = chain_confidence(local, [4, 10])
    assert chained[6] == 0.9 and chained[8] == 0.95 and chained[7] == 0.4
    assert check_order(chained, [4, 10])[:4] == [7, 0, 1, 2]  # ties: farthest from the anchors first


def test_labels_equal_propagate_volume_and_confidence_covers_the_propagated_slices(phantom, trained_model_path):
    image, labels, spacing = phantom
    index = 24
    mask = np.zeros_like(labels)
    mask[index] = labels[index]
    config = PropagationConfig(axis=0, max_slices_backward=6, max_slices_forward=6)
    result = propagate_volume_with_confidence(image, mask, spacing, trained_model_path, config)
    np.testing.assert_array_equal(result.labels, propagate_volume(image, mask, spacing, trained_model_path, config))
    assert result.axis == 0 and result.anchors == {1: [index], 2: [index]}
    for label in (1, 2):
        slices = sorted(result.confidence[label])
        assert slices == [k for k in range(index - 6, index + 7) if k != index and (result.labels[k] == label).any()]
        assert all(0.0 <= c <= 1.0 for c in result.confidence[label].values())

"""Per-slice confidence of a propagated mask, from the warped probabilities and the final decision."""
from __future__ import annotations

import numpy as np

SUPPORT_PROB = 0.05  # pixels with a warped value above this (or a vote) are where the slice was decided


def slice_confidence(vote: np.ndarray, prob: np.ndarray) -> float:
    """Confidence in [0, 1] of one propagated slice.

    Args:
        vote: (H, W) float in [0, 1], the final decision per pixel (1: in the output mask; between
            two anchors the distance-weighted vote of both directions).
        prob: (H, W) float in [0, 1], the warped (network) probability, before verification.

    The product of (a) sharpness: mean |2p - 1| over the pixels where the slice was decided (a blurred
    warp, typical of a lost correspondence or a thin structure, gives values near 0.5) and
    (b) agreement: intersection over union of the output mask (vote >= 0.5) and the network's own
    mask (p > 0.5), low when verification removed much or the two directions between anchors disagree.
    An empty slice (nothing warped there) has confidence 0.
    """
    decided = vote >= 0.5
    warped = prob > 0.5
    support = (prob > SUPPORT_PROB) | (vote > 0)
    if not support.any():
        return 0.0
    sharpness = float(np.abs(2.0 * prob[support] - 1.0).mean())
    union = int((decided | warped).sum())
    agreement = int((decided & warped).sum()) / union if union else 0.0
    return sharpness * agreement


def chain_confidence(local: dict, anchors: list) -> dict:
    """Confidence of each propagated slice given the chain of slices its mask was carried through.

    Args:
        local: {slice index: :func:`slice_confidence`} of the propagated slices.
        anchors: sorted annotated slice indices the propagation started from.

    A slice is no more trustworthy than the slices between it and its anchor (errors accumulate), so
    its confidence is the minimum of the local values from the anchor to it; between two anchors the
    better of the two routes. Returns {slice index: confidence} for the keys of ``local``.
    """
    def running_min(indices):
        out, acc = {}, 1.0
        for k in indices:
            if k not in local:
                break
            acc = min(acc, local[k])
            out[k] = acc
        return out

    chained = {}
    first, last = anchors[0], anchors[-1]
    chained.update(running_min(range(first - 1, -1, -1)))
    chained.update(running_min(range(last + 1, max(local, default=last) + 1)))
    for a, b in zip(anchors[:-1], anchors[1:]):
        up, down = running_min(range(a + 1, b)), running_min(range(b - 1, a, -1))
        chained.update({k: max(up.get(k, 0.0), down.get(k, 0.0)) for k in range(a + 1, b) if k in local})
    return chained


def check_order(confidence: dict, anchors: list) -> list:
    """Slice indices of ``confidence`` ({slice: value}) in the order to check them: lowest confidence
    first, ties (equal chained minima) broken by distance from the nearest anchor, farthest first."""
    return sorted(confidence, key=lambda k: (confidence[k], -min(abs(k - a) for a in anchors)))

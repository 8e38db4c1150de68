"""The paper's verification module: reject propagated pixels that look like the previous background."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from sli2vol.validation import require, require_choice

VERIFICATION_RULES = ("mean", "gaussian")
VERIFICATION_REFERENCES = ("anchor", "previous")
STD_FLOOR = 1e-3  # smallest standard deviation of an intensity sample, in normalised intensity units
RING_HOLE_FRACTION = 0.1  # a mask whose enclosed holes reach this fraction of its area is ring-shaped


@dataclass
class VerificationConfig:
    enabled: bool = True
    ring_iterations: int = 5  # N = dilate(P, ring_iterations) - P
    closing_iterations: int = 2  # fill holes, dilate, erode, fill holes (0: fill holes only)
    rule: str = "gaussian"  # "gaussian": likelihood ratio of normal fits; "mean": the paper (closer to p than n)
    reference: str = "anchor"  # foreground sample: the "anchor" annotation, or the "previous" slice's mask (paper)
    growth_z: float = 0.75  # pixels the mask grows into must lie within this many SDs of the foreground mean (0: off)
    keep_holes: bool = True  # ring-shaped masks (e.g. myocardium) keep their hole; False: always fill holes (paper)
    convex_solidity: float = 0.95  # a mask at least this convex (area / hull area) stays convex; 0: off (paper)

    def __post_init__(self) -> None:
        require_choice("verification rule", self.rule, VERIFICATION_RULES)
        require_choice("verification reference", self.reference, VERIFICATION_REFERENCES)
        require("ring_iterations", self.ring_iterations, integer=True, minimum=1)
        require("closing_iterations", self.closing_iterations, integer=True, minimum=0)
        require("growth_z", self.growth_z, minimum=0.0)
        require("convex_solidity", self.convex_solidity, minimum=0.0, maximum=1.0)


def close_mask(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Morphological closing of ``mask`` (H, W) bool: ``iterations`` dilations, then as many erosions
    (the image border counts as inside, so masks touching it are not eroded from there)."""
    if iterations <= 0 or not mask.any():
        return mask
    grown = ndimage.binary_dilation(mask, iterations=iterations)
    return ndimage.binary_erosion(grown, iterations=iterations, border_value=1)


def ring_shaped(mask: np.ndarray, closing_iterations: int = 0) -> bool:
    """Does ``mask`` (H, W) bool, closed with ``closing_iterations`` (so that a ring broken by a gap
    the clean-up would close counts), enclose holes of at least ``RING_HOLE_FRACTION`` of its area?
    True for a ring such as the myocardium around the blood pool; False for a solid organ with a few
    unlabelled pixels."""
    closed = close_mask(mask, closing_iterations)
    holes = int(np.count_nonzero(fill_holes(closed) & ~closed))
    return holes >= RING_HOLE_FRACTION * max(int(np.count_nonzero(mask)), 1)


def convex_hull(mask: np.ndarray) -> np.ndarray:
    """``mask`` (H, W) bool plus every pixel whose centre lies in the convex hull of its pixel centres.

    The hull is that of each row's first and last pixel (the same hull, from 2 points per row), and
    it is filled row by row between the column bounds its edges give, so the cost follows the
    mask's height, not its area."""
    rows = np.flatnonzero(mask.any(axis=1))
    if len(rows) == 0:
        return mask.copy()
    inside = mask[rows]
    first, last = inside.argmax(axis=1), mask.shape[1] - 1 - inside[:, ::-1].argmax(axis=1)
    points = np.concatenate([np.column_stack([rows, first]), np.column_stack([rows, last])]).astype(float)
    try:
        facets = ConvexHull(points).equations  # (F, 3): a * row + b * col + c <= 0 inside
    except QhullError:  # fewer than 3 pixels, or all in a line: their own hull
        return mask.copy()
    y = np.arange(rows[0], rows[-1] + 1, dtype=float)[:, None]
    a, b, c = facets[:, 0], facets[:, 1], facets[:, 2]
    bound = -(a * y + c) / np.where(b == 0, 1.0, b)  # (rows, F): the column where each facet's line crosses the row
    low = np.max(np.where(b < 0, bound, -np.inf), axis=1)
    high = np.min(np.where(b > 0, bound, np.inf), axis=1)
    tol = 1e-6
    row_ok = np.all((b != 0) | (a * y + c <= tol), axis=1)
    cols = np.arange(mask.shape[1])
    filled = row_ok[:, None] & (cols >= low[:, None] - tol) & (cols <= high[:, None] + tol)
    out = mask.copy()
    out[rows[0] : rows[-1] + 1] |= filled
    return out


def solidity(mask: np.ndarray) -> float:
    """Area of ``mask`` (H, W) bool over the area of its convex hull: 1 for a disc, ~0.5 for a ring."""
    area = int(np.count_nonzero(mask))
    return area / max(int(np.count_nonzero(convex_hull(mask))), 1)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 4-connected component of ``mask`` (H, W) bool."""
    components, n = ndimage.label(mask)
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(components.ravel())[1:]
    return components == 1 + int(np.argmax(sizes))


def ring_around(mask: np.ndarray, iterations: int) -> np.ndarray:
    """N: the band of pixels reached by ``iterations`` binary dilations of ``mask``, minus ``mask``."""
    return ndimage.binary_dilation(mask, iterations=iterations) & ~mask


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` (H, W) bool with every background region that does not reach the slice's edge filled
    (4-connected, as ``ndimage.binary_fill_holes``), in one labelling pass instead of a flood fill by
    repeated dilation, whose cost grows with the distance to the edge."""
    background, _ = ndimage.label(~mask)
    reaches_edge = np.zeros(background.max() + 1, dtype=bool)
    for edge in (background[0], background[-1], background[:, 0], background[:, -1]):
        reaches_edge[edge] = True
    reaches_edge[0] = False  # label 0: the mask itself
    return ~reaches_edge[background]


def looks_like_foreground(values: np.ndarray, inside: np.ndarray, ring: np.ndarray, rule: str) -> np.ndarray:
    """Per value: is it more like the ``inside`` sample than the ``ring`` sample?

    ``"mean"`` (the paper): closer to the inside mean than to the ring mean. ``"gaussian"``: higher
    likelihood under a normal fit of the inside sample than under one of the ring sample, which
    keeps heterogeneous structures (e.g. kidney cortex and medulla) whole.
    """
    p, n = inside.mean(), ring.mean()
    if rule == "mean":
        return np.abs(values - p) < np.abs(values - n)
    if rule != "gaussian":
        raise ValueError(f"verification rule must be one of {VERIFICATION_RULES}, got {rule!r}")
    sp, sn = max(float(inside.std()), STD_FLOOR), max(float(ring.std()), STD_FLOOR)
    return ((values - p) / sp) ** 2 + 2 * np.log(sp) < ((values - n) / sn) ** 2 + 2 * np.log(sn)


def close_to_foreground(values: np.ndarray, inside: np.ndarray, max_z: float) -> np.ndarray:
    """Per value: within ``max_z`` standard deviations of the ``inside`` sample's mean?

    Applied to the pixels a propagated mask grows into (outside the previous mask), this stops the
    slow creep into a touching organ of similar intensity (e.g. kidney into spleen), which the
    likelihood ratio against the broad ring sample lets through."""
    return np.abs(values - inside.mean()) < max_z * max(float(inside.std()), STD_FLOOR)


def verify_mask(
    prev_slice: np.ndarray,
    prev_mask: np.ndarray,
    next_slice: np.ndarray,
    propagated: np.ndarray,
    config: VerificationConfig = VerificationConfig(),
    inside_sample: np.ndarray | None = None,
) -> np.ndarray:
    """Keep a propagated pixel only if its intensity on the next slice is closer to p than to n (and,
    with ``config.growth_z``, a pixel outside ``prev_mask`` only if it is close to p), then fill
    holes and close the mask. With ``config.keep_holes``, holes are not filled when ``prev_mask``
    is ring-shaped (filling would turn the myocardium into a disc covering the blood pool). With
    ``config.convex_solidity``, a convex ``prev_mask`` (a blood pool, a vessel) gives a convex result:
    the largest kept component plus the propagated pixels inside its convex hull, so pixels rejected
    inside the structure (papillary muscles, flow voids) do not eat it away slice after slice.

    Args:
        prev_slice, next_slice: (H, W) float intensities of slices i and i+1.
        prev_mask: (H, W) bool mask M_i on slice i.
        propagated: (H, W) bool mask propagated to slice i+1 by the network.
        config: ring width, rule and morphological clean-up.
        inside_sample: foreground intensities to compare with (default: ``prev_slice[prev_mask]``).

    Returns:
        (H, W) bool refined mask M_{i+1} (a new array; inputs untouched).
    """
    if not config.enabled or not prev_mask.any() or not propagated.any():
        return propagated.copy()
    ring = ring_around(prev_mask, config.ring_iterations)
    kept = propagated.copy()
    if ring.any():
        inside = prev_slice[prev_mask] if inside_sample is None else inside_sample
        kept &= looks_like_foreground(next_slice, inside, prev_slice[ring], config.rule)
        if config.growth_z > 0:
            kept &= prev_mask | close_to_foreground(next_slice, inside, config.growth_z)
    fill = not (config.keep_holes and ring_shaped(prev_mask, config.closing_iterations))
    if fill:
        kept = fill_holes(kept)
    kept = close_mask(kept, config.closing_iterations)
    kept = fill_holes(kept) if fill and config.closing_iterations > 0 else kept
    if config.convex_solidity > 0 and kept.any() and solidity(prev_mask) >= config.convex_solidity:
        kept = largest_component(kept)
        kept |= convex_hull(kept) & propagated
    return kept

import numpy as np
import pytest
from scipy import ndimage
from sli2vol.engine.verification import (
    VerificationConfig,
    convex_hull,
    fill_holes,
    looks_like_foreground,
    ring_around,
    ring_shaped,
    solidity,
    verify_mask,
)


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_ring_is_a_band_of_given_width_outside_the_mask():
    prev = _disc((40, 40), (20, 20), 6)
    ring = ring_around(prev, 5)
    assert not (ring & prev).any()
    assert ring[20, 20 + 6 + 5] and not ring[20, 20 + 6 + 6]  # 4-connected dilation: 5 px along an axis


def test_mean_rule_is_the_papers_nearest_mean_test():
    inside, ring = np.array([10.0, 12.0]), np.array([0.0, 2.0])  # p = 11, n = 1
    np.testing.assert_array_equal(looks_like_foreground(np.array([5.0, 7.0, 11.0, 0.0]), inside, ring, "mean"),
                                  [False, True, True, False])
    with pytest.raises(ValueError, match="verification rule"):
        looks_like_foreground(np.zeros(1), inside, ring, "median")


def test_gaussian_rule_keeps_heterogeneous_foreground():
    """A structure whose intensities spread widely (p = 10 +- 6) next to a tight background (n = 0 +- 0.5):
    a value of 3 is nearer n in mean but far more likely under the structure's spread."""
    inside = np.array([4.0, 16.0, 4.0, 16.0])
    ring = np.array([-0.5, 0.5, -0.5, 0.5])
    values = np.array([3.0, 1.0])
    np.testing.assert_array_equal(looks_like_foreground(values, inside, ring, "mean"), [False, False])
    np.testing.assert_array_equal(looks_like_foreground(values, inside, ring, "gaussian"), [True, False])


def test_rejects_pixels_that_look_like_background():
    shape = (40, 40)
    prev_mask = _disc(shape, (20, 20), 8)
    prev_slice = np.where(prev_mask, 100.0, 20.0)
    organ_next = _disc(shape, (20, 22), 8)
    next_slice = np.where(organ_next, 100.0, 20.0)
    leak = organ_next | (np.abs(np.mgrid[:40, :40][0] - 20) < 2)  # propagated mask leaking along a band
    out = verify_mask(prev_slice, prev_mask, next_slice, leak, VerificationConfig(closing_iterations=0))
    np.testing.assert_array_equal(out, organ_next)


def test_growth_test_stops_creep_into_a_touching_organ_of_similar_intensity():
    """Organ 0.50 +- 0.03 touching a neighbour at 0.55 (fat at 0.1 elsewhere in the ring): the likelihood
    ratio against the broad ring keeps the neighbour; the growth test rejects it, but not the organ's own
    pixels, which may lie up to 2 SDs off the mean inside the previous mask."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:60, :60]
    organ = _disc((60, 60), (30, 24), 10)
    neighbour = (xx >= 34) & (np.abs(yy - 30) < 14) & ~organ
    image = np.where(organ, 0.5 + 0.03 * rng.standard_normal((60, 60)), np.where(neighbour, 0.55, 0.1))
    propagated = organ | (neighbour & (xx < 40))  # the network let the mask creep 6 px into the neighbour
    options = dict(closing_iterations=0)
    lenient = verify_mask(image, organ, image, propagated, VerificationConfig(growth_z=0.0, **options))
    strict = verify_mask(image, organ, image, propagated, VerificationConfig(growth_z=0.75, **options))
    assert (lenient & neighbour).sum() > 50
    assert not (strict & neighbour).any()
    np.testing.assert_array_equal(strict, lenient & organ)


def test_fills_holes_and_closes_gaps():
    shape = (40, 40)
    prev_mask = _disc(shape, (20, 20), 10)
    image = np.where(prev_mask, 100.0, 0.0)
    propagated = prev_mask.copy()
    propagated[18:22, 18:22] = False  # a hole
    out = verify_mask(image, prev_mask, image, propagated)
    assert out[20, 20] and out.sum() >= prev_mask.sum()


def test_switched_off_returns_the_propagated_mask_and_leaves_inputs():
    shape = (30, 30)
    prev_mask = _disc(shape, (15, 15), 5)
    propagated = np.ones(shape, bool)
    image = np.where(prev_mask, 1.0, 0.0)
    before = propagated.copy()
    out = verify_mask(image, prev_mask, image, propagated, VerificationConfig(enabled=False))
    np.testing.assert_array_equal(out, propagated)
    np.testing.assert_array_equal(propagated, before)
    assert out is not propagated


def test_fill_holes_equals_scipy_flood_fill():
    rng = np.random.default_rng(0)
    for density in (0.3, 0.5, 0.7):
        mask = ndimage.binary_opening(rng.random((40, 57)) < density)
        np.testing.assert_array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))
    np.testing.assert_array_equal(fill_holes(np.zeros((5, 6), bool)), np.zeros((5, 6), bool))
    np.testing.assert_array_equal(fill_holes(np.ones((5, 6), bool)), np.ones((5, 6), bool))


def test_ring_shaped_masks_keep_their_hole():
    """A myocardium-like ring (dark) around a bright blood pool: the verified mask stays a ring with
    keep_holes, and becomes a disc covering the blood pool when holes are always filled (paper)."""
    ring = _disc((60, 60), (30, 30), 16) & ~_disc((60, 60), (30, 30), 9)
    image = np.where(_disc((60, 60), (30, 30), 9), 1.0, np.where(ring, 0.3, 0.6))
    assert ring_shaped(ring) and not ring_shaped(_disc((60, 60), (30, 30), 16))
    kept = verify_mask(image, ring, image, ring.copy(), VerificationConfig())
    assert not kept[30, 30] and kept.sum() == pytest.approx(ring.sum(), rel=0.05)
    filled = verify_mask(image, ring, image, ring.copy(), VerificationConfig(keep_holes=False))
    assert filled[30, 30] and filled.sum() > 1.4 * ring.sum()
    small_hole = _disc((60, 60), (30, 30), 16) & ~_disc((60, 60), (30, 30), 2)  # a few unlabelled pixels
    assert not ring_shaped(small_hole) and verify_mask(image, small_hole, image, small_hole.copy())[30, 30]


def test_a_ring_with_a_small_gap_is_not_closed_into_a_disc():
    """The clean-up's closing would seal a 2-pixel gap in the ring; the hole must not be filled then."""
    ring = _disc((60, 60), (30, 30), 16) & ~_disc((60, 60), (30, 30), 9)
    ring[29:31, 40:50] = False  # a gap through the ring's wall
    image = np.where(_disc((60, 60), (30, 30), 9), 1.0, np.where(ring, 0.3, 0.6))
    assert not ring_shaped(ring) and ring_shaped(ring, closing_iterations=2)
    kept = verify_mask(image, ring, image, ring.copy(), VerificationConfig())
    assert not kept[30, 30]
    assert verify_mask(image, ring, image, ring.copy(), VerificationConfig(keep_holes=False))[30, 30]


def test_convex_hull_and_solidity():
    disc = _disc((60, 60), (30, 30), 12)
    np.testing.assert_array_equal(convex_hull(disc), disc)  # a digital disc is its own hull
    bitten = disc & ~(_disc((60, 60), (30, 44), 8))  # a bite out of the right side
    assert convex_hull(bitten)[30, 38] and not bitten[30, 38]
    ring = disc & ~_disc((60, 60), (30, 30), 7)
    assert solidity(disc) == 1.0 and solidity(bitten) < 0.95 and solidity(ring) < 0.7
    line = np.zeros((10, 10), bool)
    line[5, 2:8] = True
    np.testing.assert_array_equal(convex_hull(line), line)  # collinear pixels have no 2-D hull


def test_convex_masks_stay_convex():
    """A bright blood pool whose next slice has a dark papillary muscle at its edge: the verification
    bites it out (and the bite would grow slice after slice); with ``convex_solidity`` the propagated
    pixels inside the kept part's hull come back, and a stray component is dropped. A mask that is not
    convex (a ring) is left as the verification returns it."""
    pool = _disc((60, 60), (30, 30), 12)
    muscle = _disc((60, 60), (30, 41), 5) & pool
    prev = np.where(pool, 1.0, 0.3)
    nxt = np.where(pool & ~muscle, 1.0, 0.3)
    propagated = pool.copy()
    propagated[5:9, 5:9] = True  # a stray blob that happens to be bright
    nxt[5:9, 5:9] = 1.0
    bitten = verify_mask(prev, pool, nxt, propagated, VerificationConfig(convex_solidity=0.0))
    assert not bitten[30, 40] and bitten[6, 6]
    kept = verify_mask(prev, pool, nxt, propagated, VerificationConfig(convex_solidity=0.9))
    assert kept[30, 40] and not kept[6, 6] and not (kept & ~propagated).any()
    assert kept.sum() == pytest.approx(pool.sum(), rel=0.03)
    ring = pool & ~_disc((60, 60), (30, 30), 6)
    image = np.where(ring, 1.0, 0.3)
    np.testing.assert_array_equal(verify_mask(image, ring, image, ring.copy(), VerificationConfig(convex_solidity=0.9)),
                                  verify_mask(image, ring, image, ring.copy(), VerificationConfig(convex_solidity=0.0)))

import numpy as np

from sli2vol.verification import VerificationConfig, intensity_references, verify_mask


def _disc(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def test_references_are_means_inside_and_in_ring():
    image = np.zeros((40, 40), np.float32)
    prev = _disc(image.shape, (20, 20), 6)
    image[prev] = 10.0
    p, n = intensity_references(image, prev, ring_iterations=5)
    assert p == 10.0 and n == 0.0


def test_rejects_pixels_that_look_like_background():
    shape = (40, 40)
    prev_mask = _disc(shape, (20, 20), 8)
    prev_slice = np.where(prev_mask, 100.0, 20.0)
    organ_next = _disc(shape, (20, 22), 8)
    next_slice = np.where(organ_next, 100.0, 20.0)
    leak = organ_next | (np.abs(np.mgrid[:40, :40][0] - 20) < 2)  # propagated mask leaking along a band
    out = verify_mask(prev_slice, prev_mask, next_slice, leak, VerificationConfig(closing_iterations=0))
    np.testing.assert_array_equal(out, organ_next)


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

"""Each kind of bad input gets a clear InputError; inputs are never modified."""
import numpy as np
import pytest
from sli2vol.engine.annotation import detect_annotation_axis
from sli2vol.engine.propagation import propagate_volume
from sli2vol.errors import InputError


def _case():
    image = np.random.default_rng(0).normal(size=(10, 20, 20)).astype(np.float32)
    mask = np.zeros((10, 20, 20), np.uint8)
    mask[5, 5:12, 6:14] = 1
    return image, mask


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda im, m: (im, m[:, :19]), "does not match image shape"),
        (lambda im, m: (im, np.zeros_like(m)), "no annotation"),
        (lambda im, m: (im[0], m[0]), "must be 3-D"),
        (lambda im, m: (im[None], m[None]), "must be 3-D"),
        (lambda im, m: (np.where(im > 2.0, np.nan, im), m), "NaN or infinite"),
        (lambda im, m: (np.where(im > 2.0, np.inf, im), m), "NaN or infinite"),
        (lambda im, m: (im, m * 0.5), "non-integer"),
        (lambda im, m: (im, m.astype(np.int16) * -1), "negative label"),
    ],
)
def test_bad_arrays(change, message):
    image, mask = change(*_case())
    image_before, mask_before = image.copy(), mask.copy()
    with pytest.raises(InputError, match=message):
        propagate_volume(image, mask, (1.0, 1.0, 1.0), model="unused.pt")
    np.testing.assert_array_equal(image, image_before)
    np.testing.assert_array_equal(mask, mask_before)


def test_ambiguous_axes():
    mask = np.zeros((30, 30, 30), np.uint8)
    mask[10, 5:20, 5:20] = 1  # axial stroke
    mask[5:20, 5:20, 12] = 1  # sagittal stroke
    with pytest.raises(InputError, match="cannot tell which axis"):
        detect_annotation_axis(mask)
    single_voxel = np.zeros((5, 5, 5), np.uint8)
    single_voxel[2, 2, 2] = 1
    with pytest.raises(InputError, match="cannot tell which axis"):
        detect_annotation_axis(single_voxel)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_axis_detected_for_each_orientation(axis):
    mask = np.zeros((20, 20, 20), np.uint8)
    sl = [slice(4, 15)] * 3
    sl[axis] = 7
    mask[tuple(sl)] = 1
    assert detect_annotation_axis(mask) == axis


def test_bad_spacing_and_axis():
    image, mask = _case()
    with pytest.raises(InputError, match="spacing"):
        propagate_volume(image, mask, (1.0, 0.0, 1.0), model="unused.pt")

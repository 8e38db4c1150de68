"""Each kind of bad input gets a clear InputError; inputs are never modified."""
import numpy as np
import pytest
from sli2vol.engine.annotation import detect_annotation_axis
from sli2vol.engine.network import NetworkConfig
from sli2vol.engine.propagation import PropagationConfig, propagate_volume
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError
from sli2vol.training.pair_sampling import PairSamplingConfig
from sli2vol.training.trainer import TrainConfig


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


@pytest.mark.parametrize("build,quoted", [
    (lambda: PropagationConfig(intensity_window=(500, -500)), "(500, -500)"),
    (lambda: PropagationConfig(intensity_window=(0.0, float("nan"))), "nan"),
    (lambda: PropagationConfig(min_structure_px=-1), "-1"),
    (lambda: PropagationConfig(max_slice_step_px=float("nan")), "nan"),
    (lambda: PropagationConfig(boundary_px=1.5), "1.5"),
    (lambda: PropagationConfig(axis=3), "3"),
    (lambda: PropagationConfig(labels=[0]), "0"),
    (lambda: PropagationConfig(max_slices_forward=-2), "-2"),
    (lambda: PropagationConfig(normalization="hu"), "'hu'"),
    (lambda: VerificationConfig(growth_z=-0.1), "-0.1"),
    (lambda: VerificationConfig(rule="median"), "'median'"),
    (lambda: VerificationConfig(ring_iterations=0), "0"),
    (lambda: TrainConfig(steps=0), "0"),
    (lambda: TrainConfig(checkpoint_every=0), "0"),
    (lambda: TrainConfig(lr=float("inf")), "inf"),
    (lambda: TrainConfig(seed=-1), "-1"),
    (lambda: TrainConfig(sampling=PairSamplingConfig(crop=31)), "31"),
    (lambda: TrainConfig(network=NetworkConfig(arch="resnet")), "'resnet'"),
])
def test_configs_refuse_bad_values_quoting_them(build, quoted):
    """Each config checks its values when built; the one-line message quotes the bad value."""
    with pytest.raises(InputError) as refused:
        build()
    message = str(refused.value)
    assert quoted in message and len(message.splitlines()) == 1

"""Label ids survive exactly, whatever their size: in files, and through the propagation engine."""
import numpy as np
import pytest
import SimpleITK as sitk
from annotations import one_slice_annotation
from sli2vol.engine.propagation import PropagationConfig, propagate_volume
from sli2vol.errors import InputError
from sli2vol.io.volume_io import read_mask, write_labels
from sli2vol.metrics import largest_slice

LARGE_IDS = {300: np.uint16, 70000: np.uint32, 2**31 - 1: np.uint32, 2**31: np.uint32, 2**40: np.int64,
             2**63 + 5: np.uint64}


def _reference() -> sitk.Image:
    reference = sitk.Image([7, 6, 5], sitk.sitkInt16)
    reference.SetSpacing((0.7, 0.8, 3.0))
    reference.SetOrigin((-4.0, 2.0, 9.5))
    return reference


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha", ".seg.nrrd"])
@pytest.mark.parametrize("label", sorted(LARGE_IDS))
def test_large_label_round_trip(tmp_path, suffix, label):
    """Every id comes back exactly, in the smallest type; .seg.nrrd refuses ids Slicer cannot hold."""
    labels = np.zeros((5, 6, 7), dtype=np.uint64)
    labels[1:3, 2:4, 3:6] = label
    labels[4, 0, 0] = 1
    path = tmp_path / f"labels{suffix}"
    if suffix == ".seg.nrrd" and label >= 2**31:
        with pytest.raises(InputError, match=f"label id {label} is too large for .*Slicer's segment label values"):
            write_labels(labels, _reference(), path)
        assert not list(tmp_path.iterdir())
        return
    write_labels(labels, _reference(), path)
    back = read_mask(path)
    assert back.array.dtype == LARGE_IDS[label]
    np.testing.assert_array_equal(back.array.astype(np.uint64), labels)


def test_small_labels_stay_uint8(tmp_path):
    labels = np.zeros((5, 6, 7), dtype=np.int32)
    labels[2, 2, 2] = 255
    write_labels(labels, _reference(), tmp_path / "l.nii.gz")
    assert read_mask(tmp_path / "l.nii.gz").array.dtype == np.uint8


def test_negative_labels_are_refused_before_writing(tmp_path):
    labels = np.zeros((5, 6, 7), dtype=np.int16)
    labels[2, 2, 2] = -3
    with pytest.raises(InputError, match=r"negative label ids \(min -3\)"):
        write_labels(labels, _reference(), tmp_path / "l.nii.gz")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("ids", [(70000, 2**40), (2**63 + 5, 300)])
def test_propagation_keeps_large_ids_exactly(phantom, trained_model_path, ids):
    """Labels 1 and 2 renamed to large ids give the same propagation, with the large ids."""
    image, labels, spacing = phantom
    annotation = one_slice_annotation(labels, largest_slice(labels, 1)).astype(np.uint64)
    config = PropagationConfig(device="cpu")
    small = propagate_volume(image, annotation, spacing, trained_model_path, config)
    renamed = np.select([annotation == 1, annotation == 2], [np.uint64(ids[0]), np.uint64(ids[1])], np.uint64(0))
    large = propagate_volume(image, renamed, spacing, trained_model_path, config)
    assert large.dtype == np.uint64 and set(np.unique(large)) == {0, *ids}
    expected = np.select([small == 1, small == 2], [np.uint64(ids[0]), np.uint64(ids[1])], np.uint64(0))
    np.testing.assert_array_equal(large, expected)

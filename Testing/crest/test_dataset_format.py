"""Dataset format round trip, and a clear error for each kind of bad input."""

import json

import numpy as np
import pytest
from crest_synthetic import synthetic_arrays
from crest_tools.dataset_format import DatasetError, load_dataset, save_dataset


def test_round_trip(dataset_folder):
    arrays = synthetic_arrays()
    dataset = load_dataset(dataset_folder)
    assert dataset.images.shape == (len(arrays["labels"]), 1, 12, 12) and dataset.images.dtype == np.float32
    np.testing.assert_array_equal(dataset.labels, arrays["labels"])
    np.testing.assert_array_equal(dataset.labelled_counts(), [12, 3, 40, 6])
    assert dataset.class_names == ["zero", "one", "two", "three"]


def test_uint8_images_are_scaled_and_window_applies(tmp_path):
    arrays = synthetic_arrays()
    save_dataset(tmp_path / "u8", **{**arrays, "images": (arrays["images"] * 255).astype(np.uint8)})
    assert load_dataset(tmp_path / "u8").images.max() <= 1.0
    hounsfield = arrays["images"] * 1000.0 - 500.0
    save_dataset(tmp_path / "hu", **{**arrays, "images": hounsfield}, intensity_window=[-500, 500])
    np.testing.assert_allclose(load_dataset(tmp_path / "hu").images, arrays["images"], atol=1e-5)


def save_modified(tmp_path, **changes):
    arrays = {**synthetic_arrays(), **changes}
    return save_dataset(tmp_path / "bad", **arrays)


def test_nan_pixels_rejected(tmp_path):
    images = synthetic_arrays()["images"].copy()
    images[7, 0, 3, 3] = np.nan
    with pytest.raises(DatasetError, match=r"1 NaN or infinite pixel values \(first in sample 7\)"):
        load_dataset(save_modified(tmp_path, images=images))


def test_label_count_mismatch_rejected(tmp_path):
    labels = synthetic_arrays()["labels"][:-1]
    with pytest.raises(DatasetError, match="labels must have shape"):
        load_dataset(save_modified(tmp_path, labels=labels))


def test_images_without_channel_axis_rejected(tmp_path):
    images = synthetic_arrays()["images"][:, 0]
    with pytest.raises(DatasetError, match=r"images must be \(N, C, H, W\), got shape"):
        load_dataset(save_modified(tmp_path, images=images))


def test_label_missing_from_class_names_rejected(tmp_path):
    with pytest.raises(DatasetError, match=r"labels \[3\] are not class ids 0..2"):
        load_dataset(save_modified(tmp_path, class_names=["zero", "one", "two"]))


def test_class_without_labelled_sample_rejected(tmp_path):
    arrays = synthetic_arrays()
    splits = dict(arrays["splits"])
    splits["labelled"] = [i for i in splits["labelled"] if arrays["labels"][i] != 1]
    with pytest.raises(DatasetError, match=r"classes without any labelled sample: 1 \(one\)"):
        load_dataset(save_modified(tmp_path, splits=splits))


def test_overlapping_splits_rejected(tmp_path):
    splits = dict(synthetic_arrays()["splits"])
    splits["test"] = splits["test"] + splits["labelled"][:1]
    with pytest.raises(DatasetError, match="split 'test' repeats samples or overlaps"):
        load_dataset(save_modified(tmp_path, splits=splits))


def test_float_images_outside_unit_range_need_a_window(tmp_path):
    with pytest.raises(DatasetError, match="give an intensity_window"):
        load_dataset(save_modified(tmp_path, images=synthetic_arrays()["images"] * 300.0))


def test_volume_in_training_and_test_rejected(tmp_path):
    n = len(synthetic_arrays()["labels"])
    volume_index = np.zeros(n, dtype=int)  # every sample from one patient
    with pytest.raises(DatasetError, match=r"volumes in both training and test splits.*'case_a'"):
        load_dataset(save_modified(tmp_path, volume_index=volume_index, volumes=[{"id": "case_a"}]))


def test_missing_manifest_and_wrong_format_rejected(tmp_path, dataset_folder):
    with pytest.raises(DatasetError, match="manifest not found"):
        load_dataset(tmp_path / "nowhere")
    manifest = dataset_folder / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format": "other"}))
    with pytest.raises(DatasetError, match="'format' must be 'crest-dataset'"):
        load_dataset(dataset_folder)


def test_manifest_sections_are_written_with_it_but_never_replace_format_keys(tmp_path):
    manifest = save_dataset(tmp_path / "with", **synthetic_arrays(), sections={"export": {"seed": 3}})
    assert json.loads(manifest.read_text())["export"] == {"seed": 3}
    assert len(load_dataset(manifest).labels) == len(synthetic_arrays()["labels"])
    with pytest.raises(ValueError, match=r"manifest sections \['splits'\] would replace keys"):
        save_dataset(tmp_path / "clash", **synthetic_arrays(), sections={"splits": {}, "notes": "x"})
    assert not (tmp_path / "clash").exists()

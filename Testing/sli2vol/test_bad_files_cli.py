"""Bad files through ``sli2vol propagate``: exit status, one line naming the file, inputs unchanged, nothing
written; and large label ids through ``sli2vol propagate``.

(The promises are checked by :func:`cli_harness.assert_refused`, shared with the option tables.)
"""
import numpy as np
import pytest
import SimpleITK as sitk
from annotations import one_slice_annotation
from cli_harness import assert_refused
from file_cases import BAD_IMAGE_FILES, ramp, write
from sli2vol.cli import main as sli2vol_main
from sli2vol.errors import EXIT_ERROR
from sli2vol.metrics import largest_slice


def _label_volume(folder, array, name="mask.nii.gz", direction=None):
    image = sitk.GetImageFromArray(array)
    image.SetSpacing((0.8, 0.9, 2.5))
    if direction:
        image.SetDirection(direction)
    sitk.WriteImage(image, str(folder / name))
    return folder / name


def _annotation(dtype=np.uint8) -> np.ndarray:
    mask = np.zeros(ramp().shape, dtype)
    mask[3, 2:6, 3:8] = 1
    return mask


def _mask_case(array_or_writer, words):
    """A bad mask next to a good image; ``array_or_writer``: a (k, j, i) array or writer(folder) -> path."""
    def make(folder):
        image = write(folder / "image.nii.gz", ramp(), True)
        if callable(array_or_writer):
            return image, array_or_writer(folder)
        return image, _label_volume(folder, array_or_writer)
    return make, words


def _bad_image_case(name):
    writer, words = BAD_IMAGE_FILES[name]
    return lambda folder: (writer(folder), _label_volume(folder, _annotation())), words


def _bad_mask_file_case(name):
    writer, words = BAD_IMAGE_FILES[name]
    return _mask_case(lambda folder: writer(folder), words)


def _overlapping_segments(folder):
    import slicerio
    a, b = np.zeros((12, 10, 6), np.uint8), np.zeros((12, 10, 6), np.uint8)
    a[2:6, 2:6, 3], b[4:8, 4:8, 3] = 1, 1
    path = folder / "mask.seg.nrrd"
    matrix = np.diag([0.8, 0.9, 2.5, 1.0])
    slicerio.write_segmentation(str(path), {"voxels": np.stack([a, b]), "ijkToLPS": matrix, "segments": [
        {"id": "a", "name": "a", "labelValue": 1, "layer": 0}, {"id": "b", "name": "b", "labelValue": 1, "layer": 1}]})
    return path


def _corrupt_segmentation(folder):
    (folder / "mask.seg.nrrd").write_text("NRRD0004\ntype: uchar\ndimension: 3\n\n")
    return folder / "mask.seg.nrrd"


def _larger_mask(folder):
    mask = np.zeros((6, 10, 14), np.uint8)
    mask[3, 2:6, 10:14] = 1  # columns 12 and 13 lie outside the 12-column image
    return _label_volume(folder, mask)


PROPAGATE_CASES = {
    **{f"image: {name}": _bad_image_case(name) for name in sorted(BAD_IMAGE_FILES)},
    **{f"mask: {name}": _bad_mask_file_case(name) for name in ("truncated nii.gz", "NaN in nii.gz", "2-component image",
                                                                "4-D image", "empty file")},
    "mask larger than image": _mask_case(_larger_mask, "annotated voxels outside the image extent"),
    "mask rotated": _mask_case(lambda folder: _label_volume(folder, _annotation(), direction=(0, 1, 0, -1, 0, 0, 0, 0, 1)),
                               "does not match the image's (1.0, 0.0, 0.0"),
    "negative labels": _mask_case(-_annotation(np.int16), "negative label ids (min -1)"),
    "non-integer float mask": _mask_case(_annotation(np.float32) * 0.5, "non-integer values"),
    "seg.nrrd with overlapping segments": _mask_case(_overlapping_segments, "segments 'a' and 'b' overlap in 4 voxels"),
    "corrupt seg.nrrd": _mask_case(_corrupt_segmentation, "cannot read"),
}


@pytest.mark.parametrize("case", sorted(PROPAGATE_CASES))
def test_propagate_bad_files(tmp_path, case):
    make, words = PROPAGATE_CASES[case]
    image, mask = make(tmp_path)
    outcome = assert_refused(sli2vol_main, ["propagate", image, mask, "-o", tmp_path / "out.nii.gz", "--model",
                                            "absent.pt", "--quiet"], [tmp_path], EXIT_ERROR, words,
                             "sli2vol propagate: error: ")
    if "mask larger" not in case and "labels" not in case and "float mask" not in case:
        bad = image if case.startswith("image") else mask
        assert str(bad.stem.split(".")[0]) in outcome.error_lines[0]  # names the file (or its detached data file)


@pytest.mark.parametrize("ids,suffix", [((300, 2**40), ".nrrd"), ((70000, 2**31), ".nii.gz")])
def test_propagate_keeps_large_label_ids(tmp_path, capsys, phantom, trained_model_path, ids, suffix):
    image, labels, spacing = phantom
    annotation = one_slice_annotation(labels, largest_slice(labels, 1)).astype(np.int64)
    annotation = np.select([annotation == 1, annotation == 2], list(ids), 0).astype(np.int64)
    reference = sitk.GetImageFromArray(image.astype(np.int16))
    reference.SetSpacing(tuple(reversed(spacing)))
    sitk.WriteImage(reference, str(tmp_path / "ct.nrrd"))
    mask = sitk.GetImageFromArray(annotation)
    mask.CopyInformation(reference)
    sitk.WriteImage(mask, str(tmp_path / f"mask{suffix}"))
    status = sli2vol_main(["propagate", str(tmp_path / "ct.nrrd"), str(tmp_path / f"mask{suffix}"), "-o",
                           str(tmp_path / f"out{suffix}"), "--model", trained_model_path, "--quiet"])
    assert status == 0
    assert f"labels {sorted(ids)}" in capsys.readouterr().out
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / f"out{suffix}")))
    assert set(np.unique(result)) == {0, *ids}
    for value, label in zip(ids, (1, 2)):
        assert ((result == value) & (labels == label)).sum() > 0.8 * (labels == label).sum()


def test_propagate_refuses_seg_nrrd_output_for_ids_slicer_cannot_hold(tmp_path):
    """Refused before any propagation (the model file does not even exist)."""
    image = write(tmp_path / "image.nii.gz", ramp(), True)
    mask = _label_volume(tmp_path, _annotation(np.int64) * 2**40, name="mask.nrrd")
    assert_refused(sli2vol_main, ["propagate", image, mask, "-o", tmp_path / "out.seg.nrrd", "--model", "absent.pt",
                                  "--quiet"], [tmp_path], EXIT_ERROR,
                   f"label id {2**40} is too large for {tmp_path / 'out.seg.nrrd'}", "sli2vol propagate: error: ")

"""Image files that are truncated, damaged, non-finite or of the wrong shape give one clear error.

SimpleITK itself reads a truncated .nii.gz / .nii without complaint (missing voxels become 0) and
turns NaN in NIfTI into 0; the first test shows that, so the checks below are needed.
"""
import numpy as np
import pytest
import SimpleITK as sitk
from cli_harness import snapshot
from file_cases import BAD_IMAGE_FILES, GOOD_IMAGE_FILES, cut, ramp, with_non_finite, write
from sli2vol.errors import InputError
from sli2vol.io import volume_io
from sli2vol.io.volume_io import LoadedVolume, mask_on_image_grid, read_image, read_mask


def test_simpleitk_alone_hides_truncation_and_nan(tmp_path):
    truncated = sitk.GetArrayFromImage(sitk.ReadImage(str(cut(write(tmp_path / "a.nii.gz", ramp(), True)))))
    assert (truncated == 0).sum() > 0 and (ramp() == 0).sum() == 0
    nan = sitk.GetArrayFromImage(sitk.ReadImage(str(write(tmp_path / "b.nii", with_non_finite(np.nan)))))
    assert np.isfinite(nan).all() and (nan == 0).sum() == 3


@pytest.fixture(params=["checked first", "checked while read"])
def check_order(request, monkeypatch):
    """Both reading paths: small files are checked before SimpleITK reads them, large ones meanwhile."""
    if request.param == "checked while read":
        monkeypatch.setattr(volume_io, "CONCURRENT_CHECK_BYTES", 0)
    return request.param


@pytest.mark.parametrize("reader", [read_image, read_mask])
@pytest.mark.parametrize("case", sorted(BAD_IMAGE_FILES))
def test_bad_file_is_one_line_error_naming_it(tmp_path, case, reader, check_order):
    make, words = BAD_IMAGE_FILES[case]
    path = make(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(InputError) as raised:
        reader(path)
    message = str(raised.value)
    assert words in message and "\n" not in message
    assert path.stem.split(".")[0] in message  # names the file (or its detached data file)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", sorted(GOOD_IMAGE_FILES))
def test_good_files_read_exactly(tmp_path, case, check_order):
    loaded = read_image(GOOD_IMAGE_FILES[case](tmp_path))
    np.testing.assert_array_equal(loaded.array, ramp(loaded.array.dtype))
    assert loaded.spacing_kji == pytest.approx((2.5, 0.9, 0.8))


def test_itk_warning_silenced_and_setting_restored(tmp_path, capfd):
    (tmp_path / "notes.txt").write_text("not DICOM")
    shown = sitk.ProcessObject_GetGlobalWarningDisplay()
    with pytest.raises(InputError, match="no DICOM series"):
        read_image(tmp_path)
    captured = capfd.readouterr()
    assert "WARNING" not in captured.out + captured.err
    assert sitk.ProcessObject_GetGlobalWarningDisplay() == shown


def _volume(spacing=(0.8, 0.9, 2.5), direction=(1, 0, 0, 0, 1, 0, 0, 0, 1)) -> LoadedVolume:
    image = sitk.GetImageFromArray(ramp(np.uint8))
    image.SetSpacing(spacing)
    image.SetDirection(direction)
    return LoadedVolume(image, sitk.GetArrayFromImage(image))


def test_direction_mismatch_prints_both_directions():
    rotated = (0, 1, 0, -1, 0, 0, 0, 0, 1)
    with pytest.raises(InputError) as raised:
        mask_on_image_grid(_volume().image, _volume(direction=rotated))
    message = str(raised.value)
    assert "orientation" in message and "(0.0, 1.0, 0.0, -1.0" in message and "(1.0, 0.0, 0.0, 0.0, 1.0" in message
    assert "spacing" not in message


def test_spacing_mismatch_prints_both_spacings():
    with pytest.raises(InputError, match=r"mask spacing \(0\.5, 0\.9, 2\.5\) mm does not match the image's "
                                         r"\(0\.8, 0\.9, 2\.5\) mm"):
        mask_on_image_grid(_volume().image, _volume(spacing=(0.5, 0.9, 2.5)))


def test_gzip_checksum_is_verified(tmp_path):
    """Only the CRC in the gzip trailer is wrong: the data inflates fine, the checksum gives it away."""
    path = write(tmp_path / "a.nii.gz", ramp(), True)
    data = bytearray(path.read_bytes())
    data[-8] ^= 0xFF  # first byte of the CRC-32
    path.write_bytes(bytes(data))
    with pytest.raises(InputError, match="truncated or damaged compressed data.*CRC check failed"):
        read_image(path)

"""Reading images and masks (any SimpleITK format, DICOM series folders, Slicer .seg.nrrd) and
writing label volumes atomically with the image's geometry.

Arrays are (k, j, i) = (slice, row, column) as SimpleITK returns them; spacing is reported in the
same axis order, in mm. Every file is checked for truncated or damaged data before it is read.
"""
from __future__ import annotations

import contextlib
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sli2vol.errors import InputError
from sli2vol.io.atomic import atomic_path
from sli2vol.io.file_integrity import check_image_file
from sli2vol.io.label_types import label_dtype
from sli2vol.io.segmentation_file import is_segmentation_file, read_segmentation, write_segmentation

# files this large are checked for damage while SimpleITK reads them (smaller ones: checked first)
CONCURRENT_CHECK_BYTES = 4 * 2**20
# label files write_labels can write atomically (one file; formats with a separate data file excluded)
LABEL_SUFFIXES = (".nii.gz", ".nii", ".seg.nrrd", ".nrrd", ".mha")


@dataclass
class LoadedVolume:
    image: sitk.Image  # 3-D, geometry reference
    array: np.ndarray  # (k, j, i)
    segments: dict = field(default_factory=dict)  # label value -> segment metadata (from .seg.nrrd)

    @property
    def spacing_kji(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in reversed(self.image.GetSpacing()))


@contextlib.contextmanager
def _itk_warnings_off():
    """ITK prints warnings (e.g. "No Series were found") straight to the terminal; errors carry the news."""
    shown = sitk.ProcessObject_GetGlobalWarningDisplay()
    sitk.ProcessObject_SetGlobalWarningDisplay(False)
    try:
        yield
    finally:
        sitk.ProcessObject_SetGlobalWarningDisplay(shown)


def _read_dicom_series(path: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(path))
    if not series:
        raise InputError(f"no DICOM series in folder {path}")
    if len(series) > 1:
        raise InputError(f"folder {path} holds {len(series)} DICOM series; give one series folder")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
    return reader.Execute()


def _check_exists(path: Path) -> None:
    """A file or folder that exists; a file that is not empty and whose data is complete."""
    if not path.exists():
        raise InputError(f"file not found: {path}")
    if path.is_file():
        if path.stat().st_size == 0:
            raise InputError(f"{path} is empty (0 bytes)")
        check_image_file(path)


def _itk_read(path: Path) -> sitk.Image:
    try:
        with _itk_warnings_off():
            return _read_dicom_series(path) if path.is_dir() else sitk.ReadImage(str(path))
    except RuntimeError as exc:
        raise InputError(f"cannot read {path}: not an image SimpleITK can read ({itk_reason(exc)})") from exc


def _read_sitk(path: Path) -> sitk.Image:
    """The image at ``path`` once its data has been checked. A file of at least
    ``CONCURRENT_CHECK_BYTES`` is checked on a second thread while SimpleITK reads it (both release
    the GIL: a compressed file is decompressed twice, on two cores); the check's error, if any, wins."""
    if not (path.is_file() and path.stat().st_size >= CONCURRENT_CHECK_BYTES):
        _check_exists(path)
        return _itk_read(path)
    with ThreadPoolExecutor(max_workers=1) as pool:
        check = pool.submit(_check_exists, path)
        try:
            image = _itk_read(path)
        except InputError:
            check.result()
            raise
        check.result()
    return image


def itk_reason(exc: RuntimeError) -> str:
    """The most specific line of an ITK exception, without source locations and object addresses."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    detail = [line for line in lines if not line.startswith("Exception thrown")] or lines or [""]
    return re.sub(r"^(\S*ERROR: (\w+\(0x[0-9a-f]+\): )?|\[nrrd\] \w+: )", "", detail[-1])[:160]


def _check_scalar_3d(path: Path, image: sitk.Image) -> None:
    components = image.GetNumberOfComponentsPerPixel()
    if components != 1:
        raise InputError(f"{path} has {components} components per voxel (a vector or colour image); "
                         "a scalar 3-D volume is needed")
    if image.GetDimension() != 3:
        raise InputError(f"{path} is {image.GetDimension()}-D (size {image.GetSize()}); a 3-D volume is needed")


def _checked_array(path: Path, image: sitk.Image) -> np.ndarray:
    array = sitk.GetArrayFromImage(image)
    if np.issubdtype(array.dtype, np.floating):
        bad = int(np.count_nonzero(~np.isfinite(array)))
        if bad:
            raise InputError(f"{path} holds {bad} NaN or infinite voxel values; replace them before use")
    return array


def read_image(path: str | Path) -> LoadedVolume:
    """A 3-D scalar image (file or DICOM series folder) as float32/int array + geometry."""
    path = Path(path)
    image = _read_sitk(path)
    _check_scalar_3d(path, image)
    return LoadedVolume(image, _checked_array(path, image))


def read_mask(path: str | Path) -> LoadedVolume:
    """A label volume; a Slicer .seg.nrrd becomes one label array with its segments' metadata."""
    path = Path(path)
    if is_segmentation_file(path) and path.is_file():
        _check_exists(path)
        geometry, labels, segments = read_segmentation(path)
        return LoadedVolume(geometry, labels, segments)
    return read_image(path)


def _rounded(values) -> tuple:
    return tuple(round(float(v), 4) + 0.0 for v in values)  # + 0.0: no "-0.0"


def mask_on_image_grid(image: sitk.Image, mask: LoadedVolume, tol: float = 1e-3) -> np.ndarray:
    """The mask's array on the image's voxel grid.

    Identical geometry: returned as is. Same spacing and direction with an origin on the image's
    lattice (Slicer crops .seg.nrrd to the segments' extent): pasted into an image-sized array.
    Anything else raises :class:`InputError` describing the mismatch.
    """
    m = mask.image
    if not np.allclose(m.GetSpacing(), image.GetSpacing(), rtol=tol):
        raise InputError(f"mask spacing {_rounded(m.GetSpacing())} mm does not match the image's "
                         f"{_rounded(image.GetSpacing())} mm")
    if not np.allclose(m.GetDirection(), image.GetDirection(), atol=tol):
        raise InputError(f"mask orientation (direction cosines {_rounded(m.GetDirection())}) does not match the "
                         f"image's {_rounded(image.GetDirection())}")
    offset = np.array(image.TransformPhysicalPointToContinuousIndex(m.GetOrigin()))
    if not np.allclose(offset, np.round(offset), atol=1e-2):
        raise InputError(f"mask origin {_rounded(m.GetOrigin())} mm is not on the image's voxel grid "
                         f"(offset {_rounded(offset)} voxels)")
    off = np.round(offset).astype(int)[::-1]  # (k, j, i)
    if tuple(m.GetSize()) == tuple(image.GetSize()) and not off.any():
        return mask.array
    out = np.zeros(sitk.GetArrayViewFromImage(image).shape, dtype=mask.array.dtype)
    lo = np.maximum(off, 0)
    hi = np.minimum(off + np.array(mask.array.shape), out.shape)
    if np.any(hi <= lo):
        raise InputError("mask lies entirely outside the image")
    src = tuple(slice(a - o, b - o) for a, b, o in zip(lo, hi, off))
    inside = mask.array[src]
    if np.count_nonzero(inside) != np.count_nonzero(mask.array):
        raise InputError("mask has annotated voxels outside the image extent")
    out[tuple(slice(a, b) for a, b in zip(lo, hi))] = inside
    return out


def write_image(image: sitk.Image, path: str | Path) -> None:
    """Write ``image`` atomically (temp file in the same folder, then rename)."""
    with atomic_path(Path(path)) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def write_labels(labels: np.ndarray, reference: sitk.Image, path: str | Path, segments: dict | None = None) -> None:
    """Write (k, j, i) labels with ``reference``'s geometry, atomically, every id kept exactly.

    The voxel type is the smallest that holds the largest id (uint8, uint16, uint32, int64, uint64); a
    ``.seg.nrrd`` gets one segment per label, with its metadata from ``segments`` (label -> record).
    """
    path = Path(path)
    if labels.size and labels.min() < 0:
        raise InputError(f"cannot write negative label ids (min {labels.min()}) to {path}")
    if is_segmentation_file(path):
        with atomic_path(path) as tmp:
            write_segmentation(labels, reference, tmp, segments or {})
        return
    out = sitk.GetImageFromArray(labels.astype(label_dtype(labels.max(initial=0)), copy=False))
    out.CopyInformation(reference)
    try:
        write_image(out, path)
    except RuntimeError as exc:
        raise InputError(f"cannot write labels up to {labels.max(initial=0)} ({out.GetPixelIDTypeAsString()}) "
                         f"to {path}: {itk_reason(exc)}") from exc

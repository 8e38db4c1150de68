"""Reading images and masks (any SimpleITK format, DICOM series folders, Slicer .seg.nrrd) and
writing label volumes atomically with the image's geometry.

Arrays are (k, j, i) = (slice, row, column) as SimpleITK returns them; spacing is reported in the
same axis order, in mm.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from sli2vol.errors import InputError
from sli2vol.io.atomic import atomic_path

# label files write_labels can write atomically (one file; formats with a separate data file excluded)
LABEL_SUFFIXES = (".nii.gz", ".nii", ".seg.nrrd", ".nrrd", ".mha")


@dataclass
class LoadedVolume:
    image: sitk.Image  # 3-D, geometry reference
    array: np.ndarray  # (k, j, i)
    segment_names: dict = field(default_factory=dict)  # label value -> name (from .seg.nrrd)

    @property
    def spacing_kji(self) -> tuple[float, float, float]:
        return tuple(float(s) for s in reversed(self.image.GetSpacing()))


def _read_sitk(path: Path) -> sitk.Image:
    if not path.exists():
        raise InputError(f"file not found: {path}")
    try:
        if path.is_dir():
            reader = sitk.ImageSeriesReader()
            series = reader.GetGDCMSeriesIDs(str(path))
            if not series:
                raise InputError(f"no DICOM series in folder {path}")
            if len(series) > 1:
                raise InputError(f"folder {path} holds {len(series)} DICOM series; give one series folder")
            reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(path), series[0]))
            return reader.Execute()
        return sitk.ReadImage(str(path))
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        reason = next((line for line in first if "ERROR" in line or "Exception" in line), first[0] if first else "")
        raise InputError(f"cannot read {path}: not an image SimpleITK can read ({reason.strip()[:160]})") from exc


def _segments(image: sitk.Image) -> list[dict]:
    """Segment records (layer, label value, name) from .seg.nrrd metadata, if any."""
    found: dict[int, dict] = {}
    for key in image.GetMetaDataKeys():
        m = re.fullmatch(r"Segment(\d+)_(LabelValue|Layer|Name)", key)
        if m:
            found.setdefault(int(m.group(1)), {})[m.group(2)] = image.GetMetaData(key)
    return [found[i] for i in sorted(found)]


def _dimension_error(path: Path, image: sitk.Image) -> InputError:
    return InputError(f"{path} is {image.GetDimension()}-D (size {image.GetSize()}); a 3-D volume is needed")


def read_image(path: str | Path) -> LoadedVolume:
    """A 3-D scalar image (file or DICOM series folder) as float32/int array + geometry."""
    path = Path(path)
    image = _read_sitk(path)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise _dimension_error(path, image)
    return LoadedVolume(image, sitk.GetArrayFromImage(image))


def read_mask(path: str | Path) -> LoadedVolume:
    """A label volume; a multi-layer Slicer .seg.nrrd is merged into one label array (segment order)."""
    path = Path(path)
    image = _read_sitk(path)
    segments = _segments(image)
    names = {}
    if image.GetNumberOfComponentsPerPixel() > 1 and segments:
        layers = sitk.GetArrayFromImage(image)  # (k, j, i, layers)
        array = np.zeros(layers.shape[:3], dtype=np.uint16)
        for number, seg in enumerate(segments, start=1):
            hit = layers[..., int(seg.get("Layer", 0))] == int(seg.get("LabelValue", 1))
            array[hit] = number
            names[number] = seg.get("Name", f"Segment_{number}")
        geometry = sitk.Image(image.GetSize(), sitk.sitkUInt8)
        geometry.CopyInformation(image)
        return LoadedVolume(geometry, array, names)
    if image.GetDimension() != 3 or image.GetNumberOfComponentsPerPixel() != 1:
        raise _dimension_error(path, image)
    for seg in segments:
        names[int(seg.get("LabelValue", 0))] = seg.get("Name", "")
    return LoadedVolume(image, sitk.GetArrayFromImage(image), names)


def mask_on_image_grid(image: sitk.Image, mask: LoadedVolume, tol: float = 1e-3) -> np.ndarray:
    """The mask's array on the image's voxel grid.

    Identical geometry: returned as is. Same spacing and direction with an origin on the image's
    lattice (Slicer crops .seg.nrrd to the segments' extent): pasted into an image-sized array.
    Anything else raises :class:`InputError` describing the mismatch.
    """
    m = mask.image
    same_axes = np.allclose(m.GetSpacing(), image.GetSpacing(), rtol=tol) and np.allclose(
        m.GetDirection(), image.GetDirection(), atol=tol
    )
    if not same_axes:
        raise InputError(
            f"mask geometry does not match the image: spacing {tuple(round(s, 4) for s in m.GetSpacing())} vs "
            f"{tuple(round(s, 4) for s in image.GetSpacing())}, or a different orientation"
        )
    offset = np.array(image.TransformPhysicalPointToContinuousIndex(m.GetOrigin()))
    if not np.allclose(offset, np.round(offset), atol=1e-2):
        raise InputError(f"mask origin {m.GetOrigin()} is not on the image's voxel grid (offset {offset} voxels)")
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


def _seg_nrrd_metadata(image: sitk.Image, labels: np.ndarray, names: dict) -> None:
    """Segment fields that let Slicer load a label volume as a segmentation."""
    size = image.GetSize()
    extent = f"0 {size[0] - 1} 0 {size[1] - 1} 0 {size[2] - 1}"
    image.SetMetaData("Segmentation_MasterRepresentation", "Binary labelmap")
    image.SetMetaData("Segmentation_ContainedRepresentationNames", "Binary labelmap|")
    for n, value in enumerate(int(v) for v in np.unique(labels) if v != 0):
        image.SetMetaData(f"Segment{n}_ID", f"Segment_{value}")
        image.SetMetaData(f"Segment{n}_Name", names.get(value) or f"Segment_{value}")
        image.SetMetaData(f"Segment{n}_LabelValue", str(value))
        image.SetMetaData(f"Segment{n}_Layer", "0")
        image.SetMetaData(f"Segment{n}_Extent", extent)


def write_image(image: sitk.Image, path: str | Path) -> None:
    """Write ``image`` atomically (temp file in the same folder, then rename)."""
    with atomic_path(Path(path)) as tmp:
        sitk.WriteImage(image, str(tmp), useCompression=True)


def write_labels(labels: np.ndarray, reference: sitk.Image, path: str | Path, names: dict | None = None) -> None:
    """Write (k, j, i) labels with ``reference``'s geometry (uint8, or uint16 above 255), atomically."""
    dtype = np.uint8 if labels.max(initial=0) < 256 else np.uint16
    out = sitk.GetImageFromArray(labels.astype(dtype))
    out.CopyInformation(reference)
    if Path(path).name.endswith(".seg.nrrd"):
        _seg_nrrd_metadata(out, labels, names or {})
    write_image(out, path)

"""Writers of good and bad image files for the file tests (each returns the path to read)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import SimpleITK as sitk

SHAPE = (6, 10, 12)  # (k, j, i)


def ramp(dtype=np.float32) -> np.ndarray:
    """(6, 10, 12) values 1..720: no zeros, so voxels a reader invents as 0 would show."""
    return (np.arange(np.prod(SHAPE)).reshape(SHAPE) + 1).astype(dtype)


def write(path: Path, array: np.ndarray, compress: bool = False, vector: bool = False) -> Path:
    image = sitk.GetImageFromArray(array, isVector=vector)
    image.SetSpacing((0.8, 0.9, 2.5)[: image.GetDimension()])
    sitk.WriteImage(image, str(path), useCompression=compress)
    return path


def cut(path: Path, keep: float = 0.6) -> Path:
    """Cut ``path`` to ``keep`` of its size (a download or copy that stopped early)."""
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def flip_byte(path: Path) -> Path:
    """Damage one byte in the middle of the file (compressed data: the checksum no longer matches)."""
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def with_non_finite(value: float) -> np.ndarray:
    array = ramp()
    array[2, 3, 4:7] = value
    return array


def metaimage_pair(folder: Path, compress: bool) -> Path:
    """A .mhd header whose detached data file (.raw / .zraw) is then cut short."""
    header = write(folder / "pair.mhd", ramp(), compress=compress)
    cut(folder / ("pair.zraw" if compress else "pair.raw"))
    return header


# name -> (writer(folder) -> path, words the one-line error must contain)
BAD_IMAGE_FILES = {
    "truncated nii.gz": (lambda d: cut(write(d / "a.nii.gz", ramp(), True)), "truncated or damaged compressed"),
    "damaged nii.gz": (lambda d: flip_byte(write(d / "a.nii.gz", ramp(), True)), "truncated or damaged compressed"),
    "truncated nii": (lambda d: cut(write(d / "a.nii", ramp())), "truncated file"),
    "truncated int16 nii": (lambda d: cut(write(d / "a.nii", ramp(np.int16))), "truncated file"),
    "truncated raw nrrd": (lambda d: cut(write(d / "a.nrrd", ramp())), "truncated file"),
    "truncated gzip nrrd": (lambda d: cut(write(d / "a.nrrd", ramp(), True)), "truncated or damaged compressed"),
    "truncated mha": (lambda d: cut(write(d / "a.mha", ramp())), "truncated file"),
    "truncated compressed mha": (lambda d: cut(write(d / "a.mha", ramp(), True)), "truncated or damaged compressed"),
    "mhd with truncated raw": (lambda d: metaimage_pair(d, False), "truncated file"),
    "mhd with truncated zraw": (lambda d: metaimage_pair(d, True), "truncated or damaged compressed"),
    "NaN in nii.gz": (lambda d: write(d / "a.nii.gz", with_non_finite(np.nan), True), "3 NaN or infinite"),
    "Inf in nii": (lambda d: write(d / "a.nii", with_non_finite(-np.inf)), "3 NaN or infinite"),
    "NaN in float64 nii": (lambda d: write(d / "a.nii", with_non_finite(np.nan).astype(np.float64)),
                           "3 NaN or infinite"),
    "NaN in nrrd": (lambda d: write(d / "a.nrrd", with_non_finite(np.nan)), "3 NaN or infinite"),
    "empty file": (lambda d: (d / "a.nii.gz").open("wb").close() or d / "a.nii.gz", "is empty (0 bytes)"),
    "text named .nii.gz": (lambda d: (d / "a.nii.gz").write_text("hello") and d / "a.nii.gz", "not gzip-compressed"),
    "text named .nii": (lambda d: (d / "a.nii").write_text("hello") and d / "a.nii", "Unable to determine ImageIO"),
    "bad nrrd header": (lambda d: (d / "a.nrrd").write_text("NRRD0004\nsizes 2 2\n\n") and d / "a.nrrd",
                        "cannot read"),
    "folder without DICOM": (lambda d: (d / "x").mkdir() or (d / "x" / "notes.txt").write_text("hi") and d / "x",
                             "no DICOM series in folder"),
    "2-component image": (lambda d: write(d / "a.nii.gz", np.stack([ramp(), ramp()], -1), True, vector=True),
                          "has 2 components per voxel"),
    "2-D image": (lambda d: write(d / "a.nii.gz", ramp()[0], True), "is 2-D"),
    "4-D image": (lambda d: sitk.WriteImage(sitk.JoinSeries([sitk.GetImageFromArray(ramp())] * 2), str(d / "a.nii"))
                  or d / "a.nii", "is 4-D"),
}

# Files every reader must accept unchanged: name -> writer(folder) -> path.
GOOD_IMAGE_FILES = {
    "nii.gz": lambda d: write(d / "a.nii.gz", ramp(), True),
    "nii": lambda d: write(d / "a.nii", ramp()),
    "int16 nii": lambda d: write(d / "a.nii", ramp(np.int16)),
    "raw nrrd": lambda d: write(d / "a.nrrd", ramp()),
    "gzip nrrd": lambda d: write(d / "a.nrrd", ramp(), True),
    "detached nhdr": lambda d: write(d / "a.nhdr", ramp()),
    "mha": lambda d: write(d / "a.mha", ramp()),
    "compressed mha": lambda d: write(d / "a.mha", ramp(), True),
    "mhd": lambda d: write(d / "a.mhd", ramp()),
    "compressed mhd": lambda d: write(d / "a.mhd", ramp(), True),
}

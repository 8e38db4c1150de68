"""Ways a crest dataset folder (manifest.json + arrays.npz) can be broken, for the error tests."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def edit_manifest(folder: Path, change) -> None:
    path = folder / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))


def rewrite_arrays(folder: Path, **changes) -> None:
    """arrays.npz again, with some arrays replaced (a value of None drops the array)."""
    with np.load(folder / "arrays.npz") as archive:
        arrays = {key: archive[key] for key in archive.files}
    arrays.update(changes)
    np.savez_compressed(folder / "arrays.npz", **{k: v for k, v in arrays.items() if v is not None})


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_middle_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _number_of_samples(folder: Path) -> int:
    with np.load(folder / "arrays.npz") as archive:
        return len(archive["labels"])


# name -> (breaker(folder), file the message names, words the one-line message must contain)
BROKEN_DATASETS = {
    "arrays.npz cut in half": (lambda d: _cut(d / "arrays.npz"), "arrays.npz", "not an npz archive"),
    "arrays.npz damaged inside": (lambda d: _flip_middle_byte(d / "arrays.npz"), "arrays.npz", "cannot read"),
    "empty arrays.npz": (lambda d: (d / "arrays.npz").write_bytes(b""), "arrays.npz", "is empty (0 bytes)"),
    "arrays.npz missing": (lambda d: (d / "arrays.npz").unlink(), "arrays.npz", "arrays file not found"),
    "arrays.npz without images": (lambda d: rewrite_arrays(d, images=None), "arrays.npz", "lacks the array 'images'"),
    "arrays.npz is one .npy": (lambda d: np.save(d / "arrays.npz.npy", np.zeros(3))
                               or (d / "arrays.npz.npy").replace(d / "arrays.npz"), "arrays.npz", "single .npy array"),
    "pickled object array": (lambda d: rewrite_arrays(d, labels=np.array([{"a": 1}] * _number_of_samples(d))),
                             "arrays.npz", "allow_pickle"),
    "float labels": (lambda d: rewrite_arrays(d, labels=np.zeros(_number_of_samples(d))), "arrays.npz",
                     "labels must be integers"),
    "int32 images": (lambda d: rewrite_arrays(d, images=np.zeros((_number_of_samples(d), 1, 4, 4), np.int32)),
                     "arrays.npz", "images must be uint8 or float"),
    "float volume_index": (lambda d: rewrite_arrays(d, volume_index=np.zeros(_number_of_samples(d)))
                           or edit_manifest(d, lambda m: m.update(volumes=[{"id": "a"}])), "arrays.npz",
                           "volume_index must be"),
    "manifest not JSON": (lambda d: (d / "manifest.json").write_text("{not json"), "manifest.json", "not valid JSON"),
    "manifest missing class_names": (lambda d: edit_manifest(d, lambda m: m.pop("class_names")), "manifest.json",
                                     "missing key 'class_names'"),
    "manifest missing splits": (lambda d: edit_manifest(d, lambda m: m.pop("splits")), "manifest.json",
                                "missing key 'splits'"),
    "manifest missing arrays": (lambda d: edit_manifest(d, lambda m: m.pop("arrays")), "manifest.json",
                                "missing key 'arrays'"),
    "manifest missing volumes": (lambda d: rewrite_arrays(d, volume_index=np.zeros(_number_of_samples(d), int))
                                 or edit_manifest(d, lambda m: m.pop("volumes")), "manifest.json", "'volumes' must list"),
    "volume without id": (lambda d: rewrite_arrays(d, volume_index=np.zeros(_number_of_samples(d), int))
                          or edit_manifest(d, lambda m: m.update(volumes=[{"name": "a"}])), "manifest.json",
                          "'volumes' must list"),
    "class_names not strings": (lambda d: edit_manifest(d, lambda m: m.update(class_names=[0, 1, 2, 3])),
                                "manifest.json", "'class_names' must list"),
    "arrays not a name": (lambda d: edit_manifest(d, lambda m: m.update(arrays=7)), "manifest.json",
                          "'arrays' must be a file name"),
    "splits a list": (lambda d: edit_manifest(d, lambda m: m.update(splits=[1, 2])), "manifest.json",
                      "'splits' must map"),
    "split of strings": (lambda d: edit_manifest(d, lambda m: m["splits"].update(test=["a"])), "manifest.json",
                         "split 'test' must be a list of integer"),
    "intensity_window a string": (lambda d: edit_manifest(d, lambda m: m.update(intensity_window="wide")),
                                  "manifest.json", "'intensity_window' must be"),
    "intensity_window NaN": (lambda d: edit_manifest(d, lambda m: m.update(intensity_window=[0, float("nan")])),
                             "manifest.json", "'intensity_window' must be"),
}

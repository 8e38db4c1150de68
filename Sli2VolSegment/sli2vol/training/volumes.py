"""Finding and loading unlabelled training volumes from files, folders or a data manifest."""
from __future__ import annotations

import json
from pathlib import Path

from sli2vol.engine.normalization import intensity_window, normalize_intensity
from sli2vol.errors import InputError
from sli2vol.io.volume_io import read_image
from sli2vol.training.pair_sampling import Volume

IMAGE_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".mha", ".mhd")
LABEL_HINTS = ("label", "seg", "mask")


def _is_image_file(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(IMAGE_SUFFIXES) and not any(h in name for h in LABEL_HINTS)


def manifest_images(manifest: Path) -> list[Path]:
    """Image paths of every case of a data manifest (``{"cases": [{"image": relative path}, ...]}``);
    label files are never used."""
    try:
        cases = json.loads(manifest.read_text())["cases"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{manifest} is not a data manifest with a 'cases' list") from exc
    return [manifest.parent / case["image"] for case in cases]


def find_training_images(sources: list) -> list[Path]:
    """Expand files, folders (recursively; names with label/seg/mask skipped) and manifests."""
    found = []
    for source in map(Path, sources):
        if source.suffix == ".json":
            found += manifest_images(source)
        elif source.is_dir():
            found += sorted(p for p in source.rglob("*") if p.is_file() and _is_image_file(p))
        elif source.is_file():
            found.append(source)
        else:
            raise InputError(f"training source not found: {source}")
    if not found:
        raise InputError(f"no training volumes found in {', '.join(map(str, sources))}")
    return found


def load_training_volume(path: Path) -> Volume:
    """Read, normalise (CT window or percentiles, as at inference) and store one volume (its folder
    is the name of the folder that holds the file)."""
    loaded = read_image(path)
    window = intensity_window(loaded.array)
    return Volume(normalize_intensity(loaded.array, window), loaded.spacing_kji, name=path.name, folder=path.parent.name)

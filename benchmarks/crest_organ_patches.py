"""Benchmark: FixMatch vs CReST vs CReST+ on 2-D organ patches from BTCV CT (natural imbalance), paper protocol.

Train one seed (the data folder holds manifest.json and btcv/; nothing is copied into the repo;
re-running the same command resumes)::

    nice -n 10 python benchmarks/crest_organ_patches.py /work/shared/data --seeds 0 [--work FOLDER]

then write the RESULTS.md section from whatever has finished::

    python benchmarks/crest_organ_patches.py /work/shared/data --report --seeds 0 1 2 [--work FOLDER]

Per case and organ (13 BTCV organs, background excluded), min(300, max(1, voxels // 250)) axial
32x32 patches are centred on randomly drawn voxels of the organ; the patch's class is the organ at
its centre. The imbalance is the organs' natural size ratio, capped (liver ~6000 patches, adrenal
glands ~40). Split by patient: 14 training cases, 6 test cases (drawn per seed); 10% of each class's
training patches (at least 1) are labelled, the rest unlabelled (true labels kept for the pick
diagnostics).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from crest_comparison import Protocol, cpu_protocol, run_benchmark
from crest_tools.dataset_format import save_dataset

PATCH = 32
VOXELS_PER_PATCH = 250
MAX_PATCHES = 300  # per case and organ
TEST_CASES = 6
LABELLED_FRACTION = 0.1
PROTOCOL = cpu_protocol("--no-flip")
DEFAULT_WORK = Path("/tmp/crest-benchmarks/organ-patches")


def btcv_cases(data: Path) -> list:
    cases = [c for c in json.loads((data / "manifest.json").read_text())["cases"] if c["dataset"] == "btcv"]
    if not cases:
        raise SystemExit(f"no btcv cases in {data / 'manifest.json'}")
    return cases


def case_patches(data: Path, case: dict, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(patches (P, 32, 32) uint8, organ ids (P,) 1..13) of one case."""
    import SimpleITK as sitk  # only to build a dataset: a run on built datasets needs no SimpleITK

    image = sitk.GetArrayFromImage(sitk.ReadImage(str(data / case["image"])))  # (z, y, x) uint8
    label = sitk.GetArrayFromImage(sitk.ReadImage(str(data / case["label"])))
    half = PATCH // 2
    padded = np.pad(image, ((0, 0), (half, half), (half, half)))
    patches, organs = [], []
    for organ in range(1, len(case["labels"])):
        voxels = np.argwhere(label == organ)
        if len(voxels) == 0:
            continue
        count = min(MAX_PATCHES, max(1, len(voxels) // VOXELS_PER_PATCH))
        for z, y, x in voxels[rng.choice(len(voxels), count, replace=False)]:
            patches.append(padded[z, y : y + PATCH, x : x + PATCH])  # centred on (y, x) after padding
            organs.append(organ)
    return np.stack(patches), np.array(organs)


def build_dataset(data: Path, seed: int, folder: Path) -> Path:
    """Organ patches for one seed (patient split, sampled voxels, labelled subset), in the crest format."""
    if (folder / "manifest.json").exists():
        return folder
    rng = np.random.default_rng(seed)
    cases = btcv_cases(data)
    test_cases = set(rng.permutation(len(cases))[:TEST_CASES].tolist())
    images, labels, volume_index = [], [], []
    for index, case in enumerate(cases):
        patches, organs = case_patches(data, case, rng)
        images.append(patches)
        labels.append(organs - 1)  # class ids 0..12
        volume_index.append(np.full(len(organs), index))
    images, labels, volume_index = (
        np.concatenate(images)[:, None],
        np.concatenate(labels),
        np.concatenate(volume_index),
    )
    is_test = np.isin(volume_index, sorted(test_cases))
    labelled, unlabelled = [], []
    for organ in range(labels.max() + 1):
        members = rng.permutation(np.flatnonzero((labels == organ) & ~is_test))
        n_labelled = max(1, round(LABELLED_FRACTION * len(members)))
        labelled.extend(members[:n_labelled].tolist())
        unlabelled.extend(members[n_labelled:].tolist())
    names = [cases[0]["labels"][str(i)] for i in range(1, len(cases[0]["labels"]))]
    volumes = [{"id": c["case_id"], "spacing": c["spacing_mm"][:2]} for c in cases]
    splits = {"labelled": labelled, "unlabelled": unlabelled, "test": np.flatnonzero(is_test).tolist()}
    save_dataset(folder, images, labels, splits, names, volume_index, volumes)
    return folder


def main(protocol: Protocol = PROTOCOL, name: str = "organ-patches", model: str = "", script: str = __file__,
         default_work: Path = DEFAULT_WORK) -> None:
    """Train or report the benchmark with ``protocol``; ``name`` and ``model`` (a phrase for the
    heading) tell a variant's RESULTS.md section apart."""
    run_benchmark(
        __doc__.splitlines()[0],
        default_work,
        lambda args, seed: build_dataset(args.data, seed, args.work / f"data_seed{seed}"),
        protocol,
        name,
        f"BTCV organ patches (13 organs, natural imbalance, split by patient){model}",
        f"nice -n 10 python benchmarks/{Path(script).name} /work/shared/data",
        f"""32x32 axial patches around organ voxels of the 20 BTCV cases,
min({MAX_PATCHES}, voxels // {VOXELS_PER_PATCH}) per case and organ; {TEST_CASES} test cases, the others
training, 10% of each organ's training patches labelled; no flips (left / right organs).""",
        lambda parser: parser.add_argument(
            "data", type=Path, help="folder with manifest.json and the btcv/ cases"
        ),
    )


if __name__ == "__main__":
    main()

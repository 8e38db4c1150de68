"""Benchmark: FixMatch vs CReST vs CReST+ on Fashion-MNIST-LT (imbalance 100, 10% labelled).

One command (installs Debian's ``dataset-fashion-mnist`` when missing, needs root for that)::

    nice -n 10 python benchmarks/crest_fashion_mnist.py [--work /tmp/crest-benchmarks/fashion-mnist-lt]

Training set: class of frequency rank r (0 = most frequent) keeps 6000 * 100 ** (-r / 9) images
(6000 ... 60); classes are ranked in a fixed shuffled order, so class ids are not frequency-ordered.
10% of each class (at least 1) is labelled, the rest unlabelled; the test set is the balanced
10,000-image Fashion-MNIST test set. Writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
from crest_comparison import cpu_schedule, run_comparison, write_report
from crest_tools.dataset_format import save_dataset

SOURCE = Path("/usr/share/datasets/fashion-mnist")
CLASS_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FREQUENCY_ORDER = np.random.default_rng(2021).permutation(10)  # class ids from most to least frequent
IMBALANCE = 100
HEAD = 6000
LABELLED_FRACTION = 0.1
SCHEDULE = cpu_schedule()


def ensure_installed() -> None:
    """Install ``dataset-fashion-mnist`` with apt-get when its files are missing."""
    if (SOURCE / "train-images-idx3-ubyte.gz").exists():
        return
    if shutil.which("apt-get") is None:
        raise SystemExit(f"{SOURCE} missing and no apt-get: install Debian's dataset-fashion-mnist")
    subprocess.run(["apt-get", "install", "-y", "dataset-fashion-mnist"], check=True)


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): uint8 images (N, 28, 28) or labels (N,)."""
    with gzip.open(path) as stream:
        data = stream.read()
    dims = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def build_dataset(seed: int, folder: Path) -> Path:
    """Fashion-MNIST-LT for one seed (which images are kept and labelled), saved in the crest format."""
    if (folder / "manifest.json").exists():
        return folder
    rng = np.random.default_rng(seed)
    train_images, train_labels = (
        read_idx(SOURCE / "train-images-idx3-ubyte.gz"),
        read_idx(SOURCE / "train-labels-idx1-ubyte.gz"),
    )
    test_images, test_labels = (
        read_idx(SOURCE / "t10k-images-idx3-ubyte.gz"),
        read_idx(SOURCE / "t10k-labels-idx1-ubyte.gz"),
    )
    labelled, unlabelled = [], []
    for rank, class_id in enumerate(FREQUENCY_ORDER):
        members = rng.permutation(np.flatnonzero(train_labels == class_id))[
            : int(HEAD * IMBALANCE ** (-rank / 9))
        ]
        n_labelled = max(1, round(LABELLED_FRACTION * len(members)))
        labelled.extend(members[:n_labelled])
        unlabelled.extend(members[n_labelled:])
    kept = np.array(labelled + unlabelled)
    images = np.concatenate([train_images[kept], test_images])[:, None]  # (N, 1, 28, 28) uint8
    labels = np.concatenate([train_labels[kept], test_labels]).astype(np.int64)
    n_labelled, n_train = len(labelled), len(kept)
    splits = {
        "labelled": range(n_labelled),
        "unlabelled": range(n_labelled, n_train),
        "test": range(n_train, len(labels)),
    }
    save_dataset(folder, images, labels, splits, CLASS_NAMES)
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/crest-benchmarks/fashion-mnist-lt"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    ensure_installed()
    results = run_comparison(
        lambda seed: build_dataset(seed, args.work / f"data_seed{seed}"), args.work, args.seeds, SCHEDULE
    )
    write_report(
        "fashion-mnist",
        "Fashion-MNIST-LT (imbalance 100, 10% labelled, balanced test set)",
        "nice -n 10 python benchmarks/crest_fashion_mnist.py",
        f"""Training classes keep 6000 * 100^(-r/9) images for frequency rank r (6000 ... 60), ranks in
the fixed shuffled order {FREQUENCY_ORDER.tolist()} of class ids; 10% of each class labelled; test = the
balanced 10,000-image test set.""",
        results,
        args.seeds,
        SCHEDULE,
    )


if __name__ == "__main__":
    main()

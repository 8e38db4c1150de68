"""Benchmark: FixMatch vs CReST vs CReST+ on Fashion-MNIST-LT (imbalance 100, 10% labelled), paper protocol.

Train one seed (resumable: the same command continues where it stopped; installs Debian's
``dataset-fashion-mnist`` when missing, needs root for that)::

    nice -n 10 python benchmarks/crest_fashion_mnist.py --seeds 0 [--evidence-steps 800] [--work FOLDER]

then write the RESULTS.md section from whatever has finished::

    python benchmarks/crest_fashion_mnist.py --report --seeds 0 1 2 [--work FOLDER]

Training set: class id r (natural order, as CIFAR-10-LT in the paper) keeps 6000 * 100 ** (-r / 9)
images (6000 ... 60). 10% of each class (at least 1) is labelled, the rest unlabelled (their true
labels are kept for the pick diagnostics); the test set is the balanced 10,000-image test set.
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from pathlib import Path

import numpy as np
from crest_comparison import cpu_protocol, run_benchmark
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
FREQUENCY_ORDER = np.arange(10)  # class ids from most to least frequent: the natural order
IMBALANCE = 100
HEAD = 6000
LABELLED_FRACTION = 0.1
PROTOCOL = cpu_protocol()
DEFAULT_WORK = Path("/tmp/crest-benchmarks/fashion-mnist-lt")


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
    ensure_installed()
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
    run_benchmark(
        __doc__.splitlines()[0],
        DEFAULT_WORK,
        lambda args, seed: build_dataset(seed, args.work / f"data_seed{seed}"),
        PROTOCOL,
        "fashion-mnist",
        "Fashion-MNIST-LT (imbalance 100, 10% labelled, balanced test set)",
        "nice -n 10 python benchmarks/crest_fashion_mnist.py",
        """Training classes keep 6000 * 100^(-r/9) images for class id r (natural order: T-shirt/top 6000
... Ankle boot 60); 10% of each class labelled; test = the balanced 10,000-image test set.""",
    )


if __name__ == "__main__":
    main()

"""A small synthetic long-tailed dataset for the CReST tests (no shared data needed)."""

from __future__ import annotations

import numpy as np

LABELLED_PER_CLASS = {2: 40, 0: 12, 3: 6, 1: 3}  # class ids deliberately not ordered by frequency
UNLABELLED_PER_LABELLED = 9
TEST_PER_CLASS = 30
SIZE = 12


def textured_images(class_id: int, count: int, rng: np.random.Generator) -> np.ndarray:
    """(count, 1, 12, 12) float32 in [0, 1]: noise plus a texture that survives shifts and flips.

    Class 0: horizontal stripes, 1: vertical stripes, 2: checkerboard, 3: flat grey; period 4 px,
    random phase per image.
    """
    ys, xs = np.mgrid[:SIZE, :SIZE]
    phase_y, phase_x = rng.integers(0, 4, (2, count, 1, 1))
    rows, cols = ((ys + phase_y) // 2) % 2, ((xs + phase_x) // 2) % 2
    pattern = [rows, cols, rows ^ cols, np.full_like(rows, 0.5, dtype=float)][class_id]
    images = 0.15 + 0.6 * pattern[:, None] + rng.random((count, 1, SIZE, SIZE)) * 0.25
    return np.clip(images, 0.0, 1.0).astype(np.float32)


def synthetic_arrays(seed: int = 0) -> dict[str, object]:
    """Arrays and splits of a 4-class long-tailed dataset (labelled 40/12/6/3 for ids 2/0/3/1)."""
    rng = np.random.default_rng(seed)
    images: list[np.ndarray] = []
    labels: list[int] = []
    splits: dict[str, list[int]] = {"labelled": [], "unlabelled": [], "test": []}
    for class_id, n_labelled in LABELLED_PER_CLASS.items():
        for split, count in (
            ("labelled", n_labelled),
            ("unlabelled", n_labelled * UNLABELLED_PER_LABELLED),
            ("test", TEST_PER_CLASS),
        ):
            splits[split].extend(range(len(labels), len(labels) + count))
            images.append(textured_images(class_id, count, rng))
            labels.extend([class_id] * count)
    return {
        "images": np.concatenate(images),
        "labels": np.array(labels),
        "splits": splits,
        "class_names": ["zero", "one", "two", "three"],
    }


def train_options(generations: int, steps: int, batch_size: int = 16, method: str = "crest+") -> list[str]:
    """``crest train`` options of a quick run on the synthetic data (one CPU thread, no progress bar)."""
    return (
        f"--method {method} --generations {generations} --steps {steps} --batch-size {batch_size} "
        "--unlabelled-ratio 2 --threshold 0.9 --threads 1 --no-progress"
    ).split()

"""Fixtures: the synthetic long-tailed dataset written in the crest format, and a quick run config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from crest_synthetic import synthetic_arrays
from crest_tools.config import CrestConfig, FixMatchConfig, RunConfig
from crest_tools.dataset_format import save_dataset


@pytest.fixture
def dataset_folder(tmp_path: Path) -> Path:
    """A valid synthetic dataset saved with :func:`save_dataset`."""
    folder = tmp_path / "dataset"
    save_dataset(folder, **synthetic_arrays())
    return folder


@pytest.fixture
def quick_config(dataset_folder: Path) -> RunConfig:
    """A CReST+ run of 3 generations x 60 steps that takes a few seconds on one CPU thread."""
    torch.set_num_threads(1)
    return RunConfig(
        dataset=str(dataset_folder / "manifest.json"),
        fixmatch=FixMatchConfig(steps=60, batch_size=16, unlabelled_ratio=2, threshold=0.9),
        crest=CrestConfig(method="crest+", generations=3),
        checkpoint_interval=10,
        log_interval=5,
    )

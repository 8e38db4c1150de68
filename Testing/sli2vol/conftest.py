"""Shared fixtures: phantoms and a model trained in the test session by the project's own code."""
from __future__ import annotations

import pytest
import torch
from sli2vol.engine.normalization import intensity_window, normalize_intensity
from sli2vol.phantom import make_phantom
from sli2vol.training.pair_sampling import PairSamplingConfig, Volume
from sli2vol.training.trainer import TrainConfig, export, train


@pytest.fixture
def restore_threads():
    """``--threads`` changes torch's process-wide thread count; put it back after the test."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def trained_model_path(tmp_path_factory) -> str:
    """A fast-encoder model trained for a few seconds on phantoms (not the test phantom)."""
    torch.manual_seed(0)
    volumes = []
    for seed in (11, 12, 13):
        image, _, spacing = make_phantom(seed=seed)
        volumes.append(Volume(normalize_intensity(image, intensity_window(image)), spacing))
    cfg = TrainConfig(steps=60, batch_size=4, sampling=PairSamplingConfig(crop=64, gaps=(1, 2)))
    run = tmp_path_factory.mktemp("train")
    encoder = train(volumes, cfg, run)
    path = run / "model.pt"
    export(encoder, cfg, path)
    return str(path)


@pytest.fixture(scope="session")
def phantom():
    """(image, labels, spacing) of a held-out phantom with two structures."""
    return make_phantom(seed=7)


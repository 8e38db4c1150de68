"""Batched prediction with a classifier, and loading the trained model of a run folder."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from sli2vol.errors import InputError, ModelError
from torch import nn

from .config import ModelConfig
from .models import build_model
from .run_directory import RunDirectory

LA_PRIORS = ("generation", "original")  # labelled set of the generation (original + picks), or original


@torch.no_grad()
def predict_logits(
    model: nn.Module, images: np.ndarray, device: torch.device, batch_size: int = 1024
) -> np.ndarray:
    """Logits (N, K) float32 for images (N, C, H, W) float in [0, 1], model in eval mode."""
    model.eval()
    chunks = [
        model(torch.as_tensor(images[i : i + batch_size], device=device)).float().cpu().numpy()
        for i in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), dtype=np.float32)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of (N, K) logits."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


@dataclass
class TrainedModel:
    """The EMA classifier of one finished generation, with what is needed to use it."""

    model: nn.Module
    class_names: list[str]
    prior: np.ndarray  # (K,) class frequencies of the labelled set the generation trained on (+ picks)
    original_prior: np.ndarray  # (K,) class frequencies of the original labelled set
    generation: int
    image_shape: tuple  # (C, H, W) of the images it was trained on

    def check_images(self, images: np.ndarray, where: str) -> None:
        """Refuse images (N, C, H, W) of another channel count or size than the training images."""
        if tuple(images.shape[1:]) != self.image_shape:
            raise InputError(
                f"{where}: images are {tuple(images.shape[1:])} (C, H, W) but generation "
                f"{self.generation} was trained on {self.image_shape}"
            )

    def logit_adjustment_prior(self, which: str) -> np.ndarray:
        """The prior of logit adjustment: "generation" (the reference's) or "original"."""
        if which not in LA_PRIORS:
            raise ValueError(f"logit-adjustment prior must be one of {LA_PRIORS}, got {which!r}")
        return self.prior if which == "generation" else self.original_prior


def load_trained_model(
    run_dir: RunDirectory, device: torch.device, generation: int | None = None
) -> TrainedModel:
    """The EMA model of ``generation`` (default: the last finished one) of a run folder.

    Raises:
        InputError: not a run folder, or the requested generation has not finished (or none has).
        ModelError: the generation file is corrupt or does not hold a model of this run.
    """
    run_dir.load_config()  # refuses a folder that is not a run
    if generation is None:
        generation = run_dir.last_generation()
    path = run_dir.generation_path(generation)
    saved = run_dir.load(path) if generation >= 0 else None
    if saved is None:
        finished = run_dir.last_generation()
        wanted = f"generation {generation}" if generation >= 0 else "generation"
        raise InputError(
            f"{run_dir.path} has no finished {wanted} (last finished: "
            f"{finished if finished >= 0 else 'none'})"
        )
    try:
        channels, num_classes = saved["image_shape"][0], len(saved["class_names"])
        model = build_model(ModelConfig(**saved["model_config"]), channels, num_classes)
        model.load_state_dict(saved["ema"])
        prior = np.asarray(saved["prior"])
        original = np.asarray(saved.get("original_prior", prior))  # older runs saved the original prior only
        trained = TrainedModel(
            model.to(device).eval(),
            list(saved["class_names"]),
            prior,
            original,
            generation,
            tuple(int(n) for n in saved["image_shape"]),
        )
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError) as exc:
        raise ModelError(f"{path} does not hold a trained model of this run ({type(exc).__name__})") from None
    return trained

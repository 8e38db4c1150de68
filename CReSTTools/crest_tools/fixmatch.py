"""FixMatch: one semi-supervised training run, the unchanged base trainer of every CReST generation."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .augment import strong_augment, weak_augment
from .config import FixMatchConfig
from .distribution_alignment import DistributionAligner
from .ema import EmaModel

StepLogs = dict[str, float]


@dataclass
class TrainingData:
    """Tensors of one generation, already on the training device.

    Attributes:
        labelled_images: (n, C, H, W) float in [0, 1].
        labelled_labels: (n,) int64 class ids.
        unlabelled_images: (m, C, H, W) float in [0, 1]; m may be 0 (supervised training).
    """

    labelled_images: torch.Tensor
    labelled_labels: torch.Tensor
    unlabelled_images: torch.Tensor


def cosine_learning_rate(base_lr: float, step: int, total_steps: int) -> float:
    """FixMatch schedule: base_lr * cos(7 pi k / (16 K))."""
    return base_lr * math.cos(7.0 * math.pi * step / (16.0 * total_steps))


class FixMatchTrainer:
    """Trains ``model`` for ``config.steps`` FixMatch steps; ``ema.shadow`` is the model to use.

    Each step draws ``batch_size`` labelled and ``unlabelled_ratio * batch_size`` unlabelled images
    with replacement, classifies weak labelled, weak unlabelled and strong unlabelled views in one
    forward pass, and minimises CE(labelled) + lambda_u * mean(mask * CE(strong, pseudo-label)),
    where the pseudo-label is the argmax of the (optionally distribution-aligned) prediction on the
    weak view and the mask keeps predictions with confidence >= ``threshold``.

    Args:
        model: the network, possibly wrapped in DistributedDataParallel.
        config: optimisation and FixMatch settings.
        data: labelled and unlabelled tensors on the device.
        generator: CPU generator for batch sampling and augmentation.
        aligner: distribution alignment applied to weak-view predictions (CReST+), or None.
    """

    def __init__(
        self,
        model: nn.Module,
        config: FixMatchConfig,
        data: TrainingData,
        generator: torch.Generator,
        aligner: DistributionAligner | None = None,
    ) -> None:
        self.model = model
        self.network = getattr(model, "module", model)
        self.config = config
        self.data = data
        self.generator = generator
        self.aligner = aligner
        self.ema = EmaModel(self.network, config.ema_decay)
        self.optimizer = torch.optim.SGD(
            model.parameters(),
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            nesterov=True,
        )
        self.step = 0

    def _batch(self, images: torch.Tensor, size: int) -> torch.Tensor:
        """Indices (size,) drawn with replacement from the rows of ``images``."""
        return torch.randint(0, len(images), (size,), generator=self.generator).to(images.device)

    def _unlabelled_loss(
        self, weak_logits: torch.Tensor, strong_logits: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, mask (B_u,) of confident pseudo-labels) from the two views' logits (B_u, K)."""
        with torch.no_grad():
            probabilities = weak_logits.softmax(dim=1)
            if self.aligner is not None:
                probabilities = self.aligner(probabilities)
            confidence, pseudo_labels = probabilities.max(dim=1)
            mask = (confidence >= self.config.threshold).float()
        loss = (F.cross_entropy(strong_logits, pseudo_labels, reduction="none") * mask).mean()
        return loss, mask

    def train_step(self) -> StepLogs:
        """One optimiser step; returns the losses and the fraction of confident pseudo-labels."""
        config, data = self.config, self.data
        for group in self.optimizer.param_groups:
            group["lr"] = cosine_learning_rate(config.lr, self.step, config.steps)
        labelled = self._batch(data.labelled_images, config.batch_size)
        views = [weak_augment(data.labelled_images[labelled], self.generator, config.flip)]
        n_unlabelled = config.batch_size * config.unlabelled_ratio if len(data.unlabelled_images) else 0
        if n_unlabelled:
            unlabelled = data.unlabelled_images[self._batch(data.unlabelled_images, n_unlabelled)]
            views += [
                weak_augment(unlabelled, self.generator, config.flip),
                strong_augment(unlabelled, self.generator, config.flip),
            ]
        self.model.train()
        logits = self.model(torch.cat(views))
        loss_x = F.cross_entropy(logits[: config.batch_size], data.labelled_labels[labelled])
        logs = {"loss_x": loss_x.item(), "loss_u": 0.0, "mask_rate": 0.0}
        loss = loss_x
        if n_unlabelled:
            weak_logits, strong_logits = logits[config.batch_size :].chunk(2)
            loss_u, mask = self._unlabelled_loss(weak_logits.detach(), strong_logits)
            loss = loss_x + config.unlabelled_weight * loss_u
            logs.update(loss_u=loss_u.item(), mask_rate=mask.mean().item())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.ema.update(self.network)
        self.step += 1
        logs["loss"] = loss.item()
        return logs

    def run(self, on_step: Callable[[int, StepLogs], None] = lambda step, logs: None) -> None:
        """Train until ``config.steps``; ``on_step(step, logs)`` is called after every step."""
        while self.step < self.config.steps:
            logs = self.train_step()
            on_step(self.step, logs)

    def state_dict(self) -> dict:
        return {
            "model": self.network.state_dict(),
            "ema": self.ema.shadow.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "step": self.step,
            "aligner": self.aligner.state_dict() if self.aligner is not None else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.network.load_state_dict(state["model"])
        self.ema.shadow.load_state_dict(state["ema"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = state["step"]
        self.ema.updates = state["step"]
        if self.aligner is not None:
            self.aligner.load_state_dict(state["aligner"])

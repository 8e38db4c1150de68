"""Exponential moving average (EMA) of a model's weights, the model used for evaluation."""

from __future__ import annotations

import copy

import torch
from torch import nn


class EmaModel:
    """Keeps ``shadow`` = d * shadow + (1 - d) * weights after every optimiser step.

    d = min(decay, (1 + t) / (10 + t)) at update t (warm-up as in TensorFlow's moving average), so
    the average follows the model early in short runs. Buffers (BatchNorm statistics) are copied.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.updates = 0
        self.shadow = copy.deepcopy(model).eval()
        for parameter in self.shadow.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow weights towards ``model``'s current weights."""
        decay = min(self.decay, (1.0 + self.updates) / (10.0 + self.updates))
        self.updates += 1
        for shadow, current in zip(self.shadow.parameters(), model.parameters()):
            shadow.lerp_(current.detach(), 1.0 - decay)
        for shadow, current in zip(self.shadow.buffers(), model.buffers()):
            shadow.copy_(current)

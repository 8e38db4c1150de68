"""Exponential moving average (EMA) of a model's weights, the model used for evaluation."""
from __future__ import annotations

import copy

import torch
from torch import nn


class EmaModel:
    """Keeps ``shadow`` = decay * shadow + (1 - decay) * weights after every optimiser step.

    Buffers (BatchNorm running statistics) are copied, not averaged.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.shadow = copy.deepcopy(model).eval()
        for parameter in self.shadow.parameters():
            parameter.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        """Move the shadow weights towards ``model``'s current weights."""
        for shadow, current in zip(self.shadow.parameters(), model.parameters()):
            shadow.lerp_(current.detach(), 1.0 - self.decay)
        for shadow, current in zip(self.shadow.buffers(), model.buffers()):
            shadow.copy_(current)

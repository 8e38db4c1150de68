"""CReST+ progressive distribution alignment of pseudo-label probabilities."""

from __future__ import annotations

import torch


def alignment_temperature(generation: int, generations: int, t_min: float) -> float:
    """t_g = (1 - g / (G - 1)) * 1.0 + g / (G - 1) * t_min for generation g in 0..G-1 (1.0 when G = 1)."""
    if not 0 <= generation < generations:
        raise ValueError(f"generation must be in 0..{generations - 1}, got {generation}")
    if generations == 1:
        return 1.0
    progress = generation / (generations - 1)
    return (1.0 - progress) * 1.0 + progress * t_min


def tempered_target(prior: torch.Tensor, temperature: float) -> torch.Tensor:
    """prior ** t renormalised to sum 1. prior: (K,) class frequencies; t = 0 gives uniform."""
    target = prior.clamp_min(1e-12) ** temperature
    return target / target.sum()


class DistributionAligner:
    """Reweights predictions towards a target class distribution (ReMixMatch DA, CReST+ target).

    aligned = normalise(q * target / running_mean(q)), where the running mean of q over unlabelled
    batches is updated with ``momentum`` at each call of :meth:`__call__`.

    Args:
        target: (K,) target class distribution (e.g. :func:`tempered_target` of the labelled prior).
        momentum: weight of the old running mean at each update.
    """

    def __init__(self, target: torch.Tensor, momentum: float) -> None:
        self.target = target
        self.momentum = momentum
        self.running_mean: torch.Tensor | None = None

    def __call__(self, probabilities: torch.Tensor) -> torch.Tensor:
        """probabilities (B, K) rows summing to 1 -> aligned (B, K) rows summing to 1."""
        batch_mean = probabilities.detach().mean(dim=0)
        if self.running_mean is None:
            self.running_mean = batch_mean
        else:  # a checkpoint restores the running mean on the CPU, also for a run resumed on a GPU
            running_mean = self.running_mean.to(batch_mean.device)
            self.running_mean = self.momentum * running_mean + (1.0 - self.momentum) * batch_mean
        aligned = probabilities * (self.target.to(probabilities.device) / self.running_mean.clamp_min(1e-12))
        return aligned / aligned.sum(dim=1, keepdim=True)

    def state_dict(self) -> dict:
        return {"running_mean": self.running_mean}

    def load_state_dict(self, state: dict) -> None:
        self.running_mean = state["running_mean"]

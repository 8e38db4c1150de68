"""Per-scan self-supervised adaptation: fine-tune a copy of the model on slice pairs of the scan
being segmented (around the annotation, along the propagation axis) before propagating.

Sli2Vol's training needs no labels, so the model can learn the very scan it is applied to. The
loss, pair sampling and learning-rate schedule are those of ``sli2vol train``; the given model is
never changed.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from sli2vol.engine.network import CorrespondenceEncoder, NetworkConfig
from sli2vol.engine.slice_source import SliceSource
from sli2vol.errors import InputError, ModelError
from sli2vol.io.model_io import build_encoder
from sli2vol.training.pair_sampling import MIN_CROP, PairSamplingConfig, Volume, sample_batch
from sli2vol.training.trainer import lr_at, optimise_step
from sli2vol.validation import require

REGION_MARGIN_PX = 32  # working pixels added around the annotation's bounding box
DEFAULT_ADAPT_STEPS = 40  # steps when adaptation is asked for without a count (the engine's default is off)


@dataclass(frozen=True)
class AdaptationConfig:
    steps: int = 0  # optimiser steps per propagated label; 0: adaptation off
    seconds: float = 0.0  # wall-clock cap per label (0: none); a run cut short by it is not reproducible
    seed: int = 0  # seeds the pair draw: the same seed and steps give the same adapted model
    lr: float = 2e-4  # Adam learning rate, cosine-decayed to 5% over ``steps``
    batch_size: int = 4  # slice pairs per step
    crop: int = 96  # side of the training crops in working pixels (smaller when the slice is)
    gaps: tuple = (1, 2)  # slice gaps of the pairs (propagation steps one slice at a time)

    def __post_init__(self):
        require("adaptation steps", self.steps, integer=True, minimum=0)
        require("adaptation batch_size", self.batch_size, integer=True, minimum=1)
        require("adaptation crop", self.crop, integer=True, minimum=MIN_CROP)
        require("adaptation seed", self.seed, integer=True, minimum=0)
        require("adaptation seconds", self.seconds, minimum=0.0)
        require("adaptation lr", self.lr, above=0.0)
        if not self.gaps:
            raise InputError(f"adaptation gaps must be positive slice counts, got {self.gaps!r}")
        for gap in self.gaps:
            require("adaptation gaps", gap, integer=True, minimum=1)

    @property
    def enabled(self) -> bool:
        return self.steps > 0


def region_volume(slices: SliceSource, anchor_masks: dict, spacing: tuple, crop: int) -> Volume:
    """The training volume of one label: every slice of ``slices`` (normalised, at the working
    resolution) cropped to the annotation's bounding box grown by ``REGION_MARGIN_PX`` and to at
    least ``crop`` pixels a side (within the slice).

    Args:
        slices: the propagation's slice source (Z along the propagation axis).
        anchor_masks: {slice index: (H', W') bool annotation at the working resolution}.
        spacing: (slice gap, row, column) in mm of the native stack.
        crop: training crop side in working pixels.
    """
    union = np.logical_or.reduce(list(anchor_masks.values()))
    box = []
    for axis, n in enumerate(union.shape):
        hits = np.flatnonzero(union.any(axis=1 - axis))
        lo, hi = hits[0] - REGION_MARGIN_PX, hits[-1] + 1 + REGION_MARGIN_PX
        short = max(0, crop - (hi - lo))
        lo, hi = lo - short // 2, hi + short - short // 2
        box.append(slice(max(0, lo), min(n, hi)))
    data = np.stack([slices[k][tuple(box)] for k in range(len(slices))])
    native_hw = slices.stack.shape[1:]
    pixel_mm = tuple(s * n / w for s, n, w in zip(spacing[1:], native_hw, slices.shape_hw))
    return Volume(data, (spacing[0], *pixel_mm), name="scan")


def trainable_copy(model: torch.nn.Module) -> CorrespondenceEncoder:
    """An eager copy of ``model`` with its own parameters. A TorchScript Sli2Vol model is rebuilt from
    its embedded network description and weights (the parameters of a deep-copied ScriptModule are
    not leaf tensors, so an optimiser refuses them)."""
    if isinstance(model, CorrespondenceEncoder):
        return copy.deepcopy(model)
    network = getattr(model, "sli2vol_meta", {}).get("network")
    if network is None:
        raise ModelError("cannot adapt this model: it carries no Sli2Vol network description (load it with load_model)")
    encoder = build_encoder(NetworkConfig(**network))
    encoder.load_state_dict({k: v.detach().clone().cpu() for k, v in model.state_dict().items()})
    return encoder


def adapted_model(
    model: torch.nn.Module,
    volume: Volume,
    config: AdaptationConfig,
    device: torch.device | str = "cpu",
    tick: Callable[[int], None] | None = None,
) -> torch.nn.Module:
    """A copy of ``model`` (eager or TorchScript) fine-tuned on slice pairs of ``volume`` along its
    first axis with the training loss; ``model`` is left untouched.

    Runs ``config.steps`` steps or until ``config.seconds`` have passed. ``tick(n)`` is called with
    1 after every step and with the steps left out when the time cap ends it early (the
    propagation's progress and cancel check: it may raise to stop). Returns the copy in eval mode
    on ``device``.
    """
    copy_ = trainable_copy(model).to(device)
    side = min(config.crop, *volume.data.shape[1:])
    side -= side % (2 * int(copy_.stride))
    if side < MIN_CROP:
        raise InputError(f"the slices are too small to adapt the model on: {volume.data.shape[1:]} pixels")
    sampling = PairSamplingConfig(crop=side, gaps=tuple(config.gaps), axes=(0,))
    optimiser = torch.optim.Adam(copy_.parameters(), lr=config.lr)
    start = time.perf_counter()
    copy_.train()
    done = 0
    with torch.inference_mode(False), torch.enable_grad():
        while done < config.steps and not (config.seconds and time.perf_counter() - start >= config.seconds):
            pairs = sample_batch([volume], config.batch_size, config.seed, done, 0, sampling).to(device)
            optimise_step(copy_, optimiser, pairs, lr_at(done, config.steps, config.lr))
            done += 1
            if tick is not None:
                tick(1)
    if tick is not None and done < config.steps:
        tick(config.steps - done)
    for p in copy_.parameters():
        p.requires_grad_(False)
    return copy_.eval()

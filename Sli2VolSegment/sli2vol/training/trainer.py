"""Self-supervised training of the correspondence network by slice reconstruction."""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from sli2vol.engine.affinity import local_affinity, warp
from sli2vol.engine.network import ENCODER_STRIDES, CorrespondenceEncoder, NetworkConfig
from sli2vol.errors import InputError, ModelError
from sli2vol.io.model_io import build_encoder, save_model
from sli2vol.io.run_folder import RunFolder, as_json
from sli2vol.training.pair_sampling import PairSamplingConfig, sample_batch
from sli2vol.validation import require

CHECKPOINT = "checkpoint.pt"
LOSS_LOG = "loss.jsonl"


@dataclass
class TrainConfig:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sampling: PairSamplingConfig = field(default_factory=PairSamplingConfig)
    steps: int = 3000  # optimiser steps
    batch_size: int = 8  # pairs per step (per process)
    lr: float = 1e-3  # Adam learning rate, cosine-decayed to 5% over ``steps``
    seed: int = 0
    checkpoint_every: int = 100  # steps between checkpoints (at most this many are lost on a kill)

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "checkpoint_every"):
            require(name, getattr(self, name), integer=True, minimum=1)
        require("lr", self.lr, above=0.0)
        require("seed", self.seed, integer=True, minimum=0)
        stride = ENCODER_STRIDES[self.network.arch]
        if self.sampling.crop % stride:
            raise InputError(f"crop must be a multiple of {stride} for the {self.network.arch!r} encoder, "
                             f"got {self.sampling.crop}")

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> TrainConfig:
        sampling = dict(d["sampling"])
        for key in ("gaps", "axes", "scale", "gamma"):
            sampling[key] = tuple(sampling[key])
        rest = {k: v for k, v in d.items() if k not in ("network", "sampling")}
        return TrainConfig(NetworkConfig(**d["network"]), PairSamplingConfig(**sampling), **rest)


def reconstruct(encoder: torch.nn.Module, pairs: torch.Tensor) -> torch.Tensor:
    """Reconstruct slice 2 from slice 1 through the local affinity.

    Args:
        pairs: (B, 2, H, W) slices in [0, 1]; H, W multiples of the encoder stride.

    Returns:
        (B, 1, H, W) reconstruction of ``pairs[:, 1]`` from the pixels of ``pairs[:, 0]``.
    """
    b = pairs.shape[0]
    module = encoder.module if hasattr(encoder, "module") else encoder
    feats = encoder(pairs.reshape(b * 2, 1, *pairs.shape[-2:]))
    feats = feats.view(b, 2, *feats.shape[1:])
    weights = local_affinity(feats[:, 0], feats[:, 1], module.window_radius)
    return warp(weights, pairs[:, :1], module.window_radius, module.stride)


def reconstruction_loss(encoder: torch.nn.Module, pairs: torch.Tensor) -> torch.Tensor:
    """Smooth-L1 between the reconstruction and the real second slice (the reference's loss)."""
    return F.smooth_l1_loss(reconstruct(encoder, pairs), pairs[:, 1:2])


def lr_at(step: int, steps: int, lr: float) -> float:
    """Learning rate of ``step``: ``lr`` cosine-decayed to 5% over ``steps``."""
    progress = min(step / max(steps, 1), 1.0)
    return lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(progress * math.pi)))


def optimise_step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, pairs: torch.Tensor, lr: float) -> float:
    """One optimiser step of :func:`reconstruction_loss` on ``pairs`` (B, 2, H, W) at ``lr``; returns the loss."""
    for group in optimiser.param_groups:
        group["lr"] = lr
    loss = reconstruction_loss(model, pairs)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


class TrainingRun(RunFolder):
    """A training run's folder: ``config.json`` (the :class:`TrainConfig`), ``checkpoint.pt`` (model,
    optimiser, step, seconds), ``loss.jsonl`` (the command line's loss log) and the exported ``model.pt``."""

    def __init__(self, path: str | Path):
        super().__init__(path, disposable=(LOSS_LOG,), owned=(CHECKPOINT, "model.pt"))
        self.checkpoint_path = self.path / CHECKPOINT
        self.loss_log = self.path / LOSS_LOG

    def load_config(self) -> TrainConfig:
        try:
            return TrainConfig.from_dict(super().load_config_dict())
        except (KeyError, TypeError, ValueError) as exc:
            raise InputError(f"{self.config_path} is not a training configuration ({exc})") from None

    def load_config_dict(self) -> dict:
        """The stored configuration with the defaults of options added since it was written, so a
        run started by an older version resumes (the new options' defaults keep its behaviour)."""
        return as_json(self.load_config())

    def load_state(self, checkpoint: str | Path | None = None) -> dict | None:
        """The latest (or the given) checkpoint: {"model", "optimiser", "step", "elapsed"}, or None."""
        state = self.load(Path(checkpoint) if checkpoint else self.checkpoint_path)
        if state is not None and not (isinstance(state, dict) and {"model", "step", "elapsed"} <= set(state)):
            raise ModelError(f"{checkpoint or self.checkpoint_path} is not a Sli2Vol training checkpoint")
        return state


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    return (torch.distributed.get_rank() if world > 1 else 0), world


def train(
    volumes: list,
    cfg: TrainConfig,
    run_dir: str | Path,
    device: str | torch.device = "cpu",
    on_step: Optional[Callable[[int, float], None]] = None,
) -> CorrespondenceEncoder:
    """Train (or resume) in ``run_dir``; returns the trained encoder (on CPU, eval mode).

    ``volumes``: list of :class:`~sli2vol.pair_sampling.Volume`. Batches depend only on
    (seed, step, rank), so a resumed run continues exactly where the last checkpoint was taken.
    """
    rank, world = _distributed()
    device = torch.device(device)
    if device.type == "cuda" and world > 1:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    run = TrainingRun(run_dir)
    if rank == 0:
        run.prepare(cfg.to_dict())
    torch.manual_seed(cfg.seed)
    encoder = build_encoder(cfg.network, cfg.seed).to(device)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=cfg.lr)
    start, elapsed = 0, 0.0
    state = run.load_state()
    if state is not None:
        encoder.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        start, elapsed = int(state["step"]), float(state["elapsed"])
    model = torch.nn.parallel.DistributedDataParallel(encoder) if world > 1 else encoder
    t0 = time.time() - elapsed
    for step in range(start, cfg.steps):
        pairs = sample_batch(volumes, cfg.batch_size, cfg.seed, step, rank, cfg.sampling).to(device)
        loss = optimise_step(model, optimiser, pairs, lr_at(step, cfg.steps, cfg.lr))
        if on_step is not None and rank == 0:
            on_step(step + 1, loss)
        if rank == 0 and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            run.save(run.checkpoint_path, {"model": encoder.state_dict(), "optimiser": optimiser.state_dict(),
                                           "step": step + 1, "elapsed": time.time() - t0})
    return encoder.cpu().eval()


def load_checkpoint_encoder(run_dir: str | Path, checkpoint: str | Path | None = None):
    """(encoder, config, step, training seconds) from a run folder's config and its (or another)
    checkpoint file; :class:`InputError` / :class:`ModelError` naming the file for a missing or bad one."""
    run = TrainingRun(run_dir)
    cfg = run.load_config()
    if checkpoint is not None and not Path(checkpoint).is_file():
        raise InputError(f"checkpoint file not found: {checkpoint}")
    state = run.load_state(checkpoint)
    if state is None:
        raise InputError(f"{run.path} has no checkpoint yet ({CHECKPOINT})")
    encoder = build_encoder(cfg.network)
    try:
        encoder.load_state_dict(state["model"])
    except RuntimeError:
        raise ModelError(f"checkpoint {checkpoint or run.checkpoint_path} does not fit the network of "
                         f"{run.config_path}") from None
    return encoder.eval(), cfg, int(state["step"]), float(state["elapsed"])


def export(encoder: CorrespondenceEncoder, cfg: TrainConfig, path: str | Path, info: dict | None = None) -> None:
    """Write the trained encoder as a TorchScript model with its configuration."""
    save_model(encoder, cfg.network, path, {"train": cfg.to_dict(), **(info or {})})

"""Self-supervised training of the correspondence network by slice reconstruction."""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
import torch.nn.functional as F

from sli2vol.engine.affinity import local_affinity, warp
from sli2vol.engine.network import CorrespondenceEncoder, NetworkConfig
from sli2vol.io.atomic import atomic_path
from sli2vol.io.model_io import build_encoder, save_model
from sli2vol.training.pair_sampling import PairSamplingConfig, sample_batch


@dataclass
class TrainConfig:
    network: NetworkConfig = field(default_factory=NetworkConfig)
    sampling: PairSamplingConfig = field(default_factory=PairSamplingConfig)
    steps: int = 3000  # optimiser steps
    batch_size: int = 8  # pairs per step (per process)
    lr: float = 1e-3  # Adam learning rate, cosine-decayed to 5% over ``steps``
    seed: int = 0
    checkpoint_every: int = 100  # steps between checkpoints (at most this many are lost on a kill)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict) -> "TrainConfig":
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


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate of ``step``: ``cfg.lr`` cosine-decayed to 5% over ``cfg.steps``."""
    progress = min(step / max(cfg.steps, 1), 1.0)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(progress * math.pi)))


def optimise_step(model: torch.nn.Module, optimiser: torch.optim.Optimizer, pairs: torch.Tensor, lr: float) -> float:
    """One optimiser step of :func:`reconstruction_loss` on ``pairs`` (B, 2, H, W) at ``lr``; returns the loss."""
    for group in optimiser.param_groups:
        group["lr"] = lr
    loss = reconstruction_loss(model, pairs)
    optimiser.zero_grad(set_to_none=True)
    loss.backward()
    optimiser.step()
    return float(loss.detach())


class Checkpoint:
    """``run_dir/checkpoint.pt`` (model, optimiser, step) and ``run_dir/config.json``."""

    def __init__(self, run_dir: Path, cfg: TrainConfig):
        self.run_dir = Path(run_dir)
        self.path = self.run_dir / "checkpoint.pt"
        self.config_path = self.run_dir / "config.json"
        self.cfg = cfg

    def check_config(self) -> None:
        """Refuse to resume a run directory made with a different configuration."""
        if self.config_path.exists():
            saved = json.loads(self.config_path.read_text())
            if saved != json.loads(json.dumps(self.cfg.to_dict())):
                raise ValueError(f"{self.run_dir} holds a run with a different configuration; use another directory")

    def save(self, encoder, optimiser, step: int, elapsed: float) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if not self.config_path.exists():
            with atomic_path(self.config_path) as tmp:
                tmp.write_text(json.dumps(self.cfg.to_dict(), indent=1))
        state = {"model": encoder.state_dict(), "optimiser": optimiser.state_dict(), "step": step, "elapsed": elapsed}
        with atomic_path(self.path) as tmp:
            torch.save(state, tmp)

    def load(self):
        return torch.load(self.path, map_location="cpu", weights_only=True) if self.path.exists() else None


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
    ckpt = Checkpoint(Path(run_dir), cfg)
    ckpt.check_config()
    torch.manual_seed(cfg.seed)
    encoder = build_encoder(cfg.network, cfg.seed).to(device)
    optimiser = torch.optim.Adam(encoder.parameters(), lr=cfg.lr)
    start, elapsed = 0, 0.0
    state = ckpt.load()
    if state is not None:
        encoder.load_state_dict(state["model"])
        optimiser.load_state_dict(state["optimiser"])
        start, elapsed = int(state["step"]), float(state["elapsed"])
    model = torch.nn.parallel.DistributedDataParallel(encoder) if world > 1 else encoder
    t0 = time.time() - elapsed
    for step in range(start, cfg.steps):
        pairs = sample_batch(volumes, cfg.batch_size, cfg.seed, step, rank, cfg.sampling).to(device)
        loss = optimise_step(model, optimiser, pairs, lr_at(step, cfg))
        if on_step is not None and rank == 0:
            on_step(step + 1, loss)
        if rank == 0 and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
            ckpt.save(encoder, optimiser, step + 1, time.time() - t0)
    return encoder.cpu().eval()


def load_checkpoint_encoder(run_dir: str | Path, checkpoint: str | Path | None = None):
    """(encoder, config, step, training seconds) from a run directory's config and its (or another)
    checkpoint file."""
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    checkpoint = Path(checkpoint) if checkpoint else run_dir / "checkpoint.pt"
    if not config_path.is_file() or not checkpoint.is_file():
        raise FileNotFoundError(f"{run_dir} has no training run (config.json and {checkpoint.name} are needed)")
    cfg = TrainConfig.from_dict(json.loads(config_path.read_text()))
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    encoder = build_encoder(cfg.network)
    encoder.load_state_dict(state["model"])
    return encoder.eval(), cfg, int(state["step"]), float(state["elapsed"])


def export(encoder: CorrespondenceEncoder, cfg: TrainConfig, path: str | Path, info: dict | None = None) -> None:
    """Write the trained encoder as a TorchScript model with its configuration."""
    save_model(encoder, cfg.network, path, {"train": cfg.to_dict(), **(info or {})})

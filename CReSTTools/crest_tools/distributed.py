"""Device choice and multi-GPU data parallelism through torchrun (DistributedDataParallel)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from sli2vol.engine.device import select_device
from torch import nn


@dataclass
class Placement:
    """Where this process trains: its device, rank and the number of processes."""

    device: torch.device
    rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        """True for the process that writes logs and checkpoints."""
        return self.rank == 0


def setup_placement(device: str | None = None) -> Placement:
    """Join the torchrun process group when WORLD_SIZE > 1 (NCCL on CUDA, else gloo).

    Under torchrun each process takes GPU LOCAL_RANK; a plain single process gets ``device``
    (through :func:`sli2vol.engine.device.select_device`; None: CUDA when available).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    resolved = select_device(device)
    if world_size == 1:
        return Placement(resolved)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(resolved)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return Placement(resolved, dist.get_rank(), dist.get_world_size())


def wrap_for_training(model: nn.Module, placement: Placement) -> nn.Module:
    """The model on its device, wrapped in DistributedDataParallel when several processes train."""
    model = model.to(placement.device)
    if placement.world_size == 1:
        return model
    device_ids = [placement.device.index] if placement.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(model, device_ids=device_ids)


def barrier(placement: Placement) -> None:
    """Wait for all processes (no-op for a single process)."""
    if placement.world_size > 1:
        dist.barrier()


@torch.no_grad()
def broadcast_from_main(module: nn.Module, placement: Placement) -> None:
    """Give every process the main process's weights and buffers (BatchNorm statistics differ per rank)."""
    if placement.world_size == 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        dist.broadcast(tensor.data, src=0)

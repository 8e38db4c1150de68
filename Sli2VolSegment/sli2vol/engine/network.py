"""Correspondence flow network: slice -> (edge profile | raw intensity) -> per-pixel features.

Two encoders:
- ``"fast"`` (default): a compact residual encoder whose features live on a stride-2 grid. Cost per
  slice is ~10x lower than the reference, which is what makes CPU propagation interactive.
- ``"reference"``: the reference implementation's shape (7x7 conv to 16 channels, four residual
  stages 16/32/64/128 with two blocks each, stride 1, 3x3 post-conv to 64 channels).

No normalisation layers: features depend only on a finite neighbourhood (``receptive_radius``),
so features computed on a region of interest equal full-frame features away from its border.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from sli2vol.engine.edge_profile import edge_profile, edge_profile_kernel, edge_profile_offsets
from sli2vol.validation import require, require_choice

ENCODER_STRIDES = {"fast": 2, "reference": 1}  # feature grid stride of each encoder, in pixels


@dataclass
class NetworkConfig:
    arch: str = "fast"  # "fast" (stride-2 compact encoder) or "reference" (stride-1, ~0.8 M params)
    input_mode: str = "edge"  # "edge" (edge profile) or "raw" (intensity; the ablation)
    edge_kind: str = "paper"  # "paper" (8 directions x 3 scales) or "reference" (7x7, 48 neighbours)
    edge_temperature: float = 0.05  # softmax scale of the derivatives, in normalised intensity units
    width: int = 32  # channels of the fast encoder
    feature_dim: int = 32  # output channels of the fast encoder (reference: 64)
    window_radius_px: int = 6  # affinity window radius R in full-resolution pixels

    def __post_init__(self) -> None:
        require_choice("arch", self.arch, tuple(ENCODER_STRIDES))
        require_choice("input_mode", self.input_mode, ("edge", "raw"))
        require_choice("edge_kind", self.edge_kind, ("paper", "reference"))
        require("edge_temperature", self.edge_temperature, above=0.0)
        for name in ("width", "feature_dim", "window_radius_px"):
            require(name, getattr(self, name), integer=True, minimum=1)

    def to_dict(self) -> dict:
        return asdict(self)


class ResidualBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=dilation, dilation=dilation)
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()
        self.act = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.skip(x) + self.conv2(self.act(self.conv1(x))))


def fast_encoder(in_ch: int, width: int, feature_dim: int) -> tuple[nn.Module, int, int]:
    """Stride-2 encoder -> (module, stride, receptive radius in full-resolution pixels)."""
    layers = nn.Sequential(
        nn.Conv2d(in_ch, width, 3, stride=2, padding=1),
        nn.ReLU(),
        ResidualBlock(width, width, dilation=1),
        ResidualBlock(width, width, dilation=2),
        nn.Conv2d(width, feature_dim, 1),
    )
    # stem: 1 px (+1 for the stride) ; blocks: 2*1 + 2*2 feature px = 6 feature px = 12 full-res px
    return layers, ENCODER_STRIDES["fast"], 2 + 12


def reference_encoder(in_ch: int) -> tuple[nn.Module, int, int]:
    """The reference code's full-resolution encoder -> (module, stride 1, receptive radius)."""
    stages, ch = [], 16
    for out_ch in (16, 32, 64, 128):
        stages += [ResidualBlock(ch, out_ch), ResidualBlock(out_ch, out_ch)]
        ch = out_ch
    layers = nn.Sequential(
        nn.Conv2d(in_ch, 16, 7, padding=3), nn.ReLU(), *stages, nn.Conv2d(128, 64, 3, padding=1)
    )
    return layers, ENCODER_STRIDES["reference"], 3 + 8 * 2 + 1


class CorrespondenceEncoder(nn.Module):
    """Slice (B, 1, H, W), intensity normalised to ~[0, 1], H and W multiples of ``stride``
    -> features (B, C, H/stride, W/stride)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        if config.input_mode not in ("edge", "raw"):
            raise ValueError(f"input_mode must be 'edge' or 'raw', got {config.input_mode!r}")
        kernel = edge_profile_kernel(edge_profile_offsets(config.edge_kind))
        self.register_buffer("edge_kernel", kernel)
        self.use_edge_profile = config.input_mode == "edge"
        self.edge_temperature = float(config.edge_temperature)
        in_ch = kernel.shape[0] if self.use_edge_profile else 1
        if config.arch == "fast":
            body, stride, receptive = fast_encoder(in_ch, config.width, config.feature_dim)
        elif config.arch == "reference":
            body, stride, receptive = reference_encoder(in_ch)
        else:
            raise ValueError(f"arch must be 'fast' or 'reference', got {config.arch!r}")
        self.body = body
        self.stride = stride
        self.window_radius = max(1, round(config.window_radius_px / stride))
        edge_radius = kernel.shape[-1] // 2 if self.use_edge_profile else 0
        self.receptive_radius = receptive + edge_radius

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = edge_profile(image, self.edge_kernel, self.edge_temperature) if self.use_edge_profile else image
        return self.body(x)

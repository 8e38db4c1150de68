"""Classifier networks: a small CNN that trains on CPU in minutes, and a wide residual network."""

from __future__ import annotations

import torch
from torch import nn

from .config import ModelConfig

STAGES = 3  # resolution halves between stages; channels double
MIN_IMAGE_SIZE = 2 ** (STAGES - 1)  # pixels (H and W) the small CNN's 2x2 poolings need


def _conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)
    )


class SmallCNN(nn.Module):
    """Three stages of ``depth`` 3x3 conv-BN-ReLU layers with 2x2 max-pooling between stages.

    Args:
        in_channels: C of the (B, C, H, W) input.
        num_classes: K, size of the (B, K) logits.
        width: channels of the first stage (then 2x, 4x).
        depth: convolutions per stage.
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 16, depth: int = 1) -> None:
        super().__init__()
        layers, c = [], in_channels
        for stage in range(STAGES):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for _ in range(depth):
                layers.append(_conv_bn_relu(c, width * 2**stage))
                c = width * 2**stage
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> logits (B, K)."""
        return self.classifier(self.features(images).mean(dim=(2, 3)))


class PreActBlock(nn.Module):
    """Pre-activation residual block (BN-ReLU-conv twice) as in WRN; 1x1 shortcut when shapes change."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.bn1, self.bn2 = nn.BatchNorm2d(c_in), nn.BatchNorm2d(c_out)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.relu = nn.LeakyReLU(0.1, inplace=True)
        self.shortcut = (
            None if c_in == c_out and stride == 1 else nn.Conv2d(c_in, c_out, 1, stride, bias=False)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, c_in, H, W) -> (B, c_out, H / stride, W / stride)."""
        activated = self.relu(self.bn1(x))
        residual = self.conv2(self.relu(self.bn2(self.conv1(activated))))
        return residual + (x if self.shortcut is None else self.shortcut(activated))


class WideResNet(nn.Module):
    """WRN-style network: stem conv, three stages of ``depth`` pre-activation blocks, global pooling.

    ``width`` 32 with ``depth`` 4 is WRN-28-2 (the CReST reference network).
    """

    def __init__(self, in_channels: int, num_classes: int, width: int = 32, depth: int = 4) -> None:
        super().__init__()
        self.stem = nn.Conv2d(in_channels, width // 2, 3, padding=1, bias=False)
        blocks, c = [], width // 2
        for stage in range(STAGES):
            for block in range(depth):
                stride = 2 if stage and block == 0 else 1
                blocks.append(PreActBlock(c, width * 2**stage, stride))
                c = width * 2**stage
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(c), nn.LeakyReLU(0.1, inplace=True))
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images (B, C, H, W) -> logits (B, K)."""
        return self.classifier(self.head(self.blocks(self.stem(images))).mean(dim=(2, 3)))


def build_model(config: ModelConfig, in_channels: int, num_classes: int) -> nn.Module:
    """A freshly initialised classifier for (B, in_channels, H, W) images and ``num_classes`` classes."""
    network = SmallCNN if config.architecture == "small_cnn" else WideResNet
    return network(in_channels, num_classes, config.width, config.depth)

"""Weak and strong augmentations (FixMatch) written with torch ops, batched, for (B, C, H, W) images.

Images are float tensors in [0, 1] with any number of channels; every function returns a tensor of
the same shape, dtype and device, still in [0, 1]. Randomness comes from an explicit CPU
``torch.Generator`` so a run can be checkpointed and resumed.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F

PAD_FRACTION = 0.125  # weak augmentation: translate by up to 12.5% of the image size
CUTOUT_FRACTION = 0.5  # strong augmentation: cut-out square of side up to half the image size
OPS_PER_IMAGE = 2  # RandAugment: random operations applied to each image


def _uniform(n: int, generator: torch.Generator, device: torch.device) -> torch.Tensor:
    """(n,) uniform samples in [0, 1) drawn on the CPU generator, moved to ``device``."""
    return torch.rand(n, generator=generator).to(device)


def random_flip(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Mirror each image left-right with probability 1/2. images: (B, C, H, W)."""
    flip = _uniform(len(images), generator, images.device) < 0.5
    return torch.where(flip[:, None, None, None], images.flip(-1), images)


def random_translate(
    images: torch.Tensor, generator: torch.Generator, fraction: float = PAD_FRACTION
) -> torch.Tensor:
    """Reflect-pad by ``fraction`` of the size and crop back at a random offset per image."""
    b, _, h, w = images.shape
    pad_y, pad_x = max(1, round(h * fraction)), max(1, round(w * fraction))
    padded = F.pad(images, (pad_x, pad_x, pad_y, pad_y), mode="reflect")
    dy = torch.randint(0, 2 * pad_y + 1, (b,), generator=generator).to(images.device)
    dx = torch.randint(0, 2 * pad_x + 1, (b,), generator=generator).to(images.device)
    rows = dy[:, None] + torch.arange(h, device=images.device)  # (B, H)
    cols = dx[:, None] + torch.arange(w, device=images.device)  # (B, W)
    batch = torch.arange(b, device=images.device)[:, None, None]
    cropped = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return cropped.permute(0, 3, 1, 2).contiguous()


def weak_augment(images: torch.Tensor, generator: torch.Generator, flip: bool = True) -> torch.Tensor:
    """FixMatch weak augmentation: random translation (+ horizontal flip when ``flip``)."""
    if flip:
        images = random_flip(images, generator)
    return random_translate(images, generator)


def _affine(images: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Resample (B, C, H, W) images by (B, 2, 3) affine matrices in normalised coordinates."""
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _identity_theta(m: torch.Tensor) -> torch.Tensor:
    return torch.eye(2, 3, device=m.device).repeat(len(m), 1, 1)


def _signed(m: torch.Tensor) -> torch.Tensor:
    """Map magnitudes in [0, 1] to [-1, 1]."""
    return 2.0 * m - 1.0


def rotate(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Rotate by up to +-30 degrees. m: (B,) magnitudes in [0, 1]."""
    angle = _signed(m) * math.radians(30.0)
    theta = _identity_theta(m)
    theta[:, 0, 0], theta[:, 0, 1] = torch.cos(angle), -torch.sin(angle)
    theta[:, 1, 0], theta[:, 1, 1] = torch.sin(angle), torch.cos(angle)
    return _affine(images, theta)


def shear_x(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Shear along x by up to +-0.3."""
    theta = _identity_theta(m)
    theta[:, 0, 1] = _signed(m) * 0.3
    return _affine(images, theta)


def shear_y(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Shear along y by up to +-0.3."""
    theta = _identity_theta(m)
    theta[:, 1, 0] = _signed(m) * 0.3
    return _affine(images, theta)


def translate_x(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Translate along x by up to +-30% of the width."""
    theta = _identity_theta(m)
    theta[:, 0, 2] = _signed(m) * 0.6  # normalised coordinates span 2
    return _affine(images, theta)


def translate_y(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Translate along y by up to +-30% of the height."""
    theta = _identity_theta(m)
    theta[:, 1, 2] = _signed(m) * 0.6
    return _affine(images, theta)


def _per_image(m: torch.Tensor) -> torch.Tensor:
    return m[:, None, None, None]


def brightness(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Scale intensities by a factor in [0.1, 1.9]."""
    return images * _per_image(1.0 + 0.9 * _signed(m))


def contrast(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Blend with the per-image mean by a factor in [0.1, 1.9]."""
    mean = images.mean(dim=(1, 2, 3), keepdim=True)
    return mean + _per_image(1.0 + 0.9 * _signed(m)) * (images - mean)


def sharpness(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Blend with a 3x3 box-blurred copy by a factor in [0.1, 1.9] (above 1 sharpens)."""
    c = images.shape[1]
    kernel = torch.full((c, 1, 3, 3), 1.0 / 9.0, device=images.device, dtype=images.dtype)
    blurred = F.conv2d(F.pad(images, (1, 1, 1, 1), mode="replicate"), kernel, groups=c)
    return blurred + _per_image(1.0 + 0.9 * _signed(m)) * (images - blurred)


def autocontrast(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Stretch each image channel to span [0, 1] (magnitude unused)."""
    lo = images.amin(dim=(2, 3), keepdim=True)
    hi = images.amax(dim=(2, 3), keepdim=True)
    return (images - lo) / (hi - lo).clamp_min(1e-6)


def posterize(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Quantise to 2**bits levels, bits from 4 to 8."""
    levels = _per_image(2.0 ** torch.round(4.0 + 4.0 * m))
    return torch.floor(images * (levels - 1) + 0.5) / (levels - 1)


def solarize(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Invert the intensities above a threshold in [0, 1]."""
    return torch.where(images >= _per_image(m), 1.0 - images, images)


def identity(images: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """No change."""
    return images


RAND_AUGMENT_OPS: list[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = [
    identity,
    autocontrast,
    brightness,
    contrast,
    sharpness,
    posterize,
    solarize,
    rotate,
    shear_x,
    shear_y,
    translate_x,
    translate_y,
]


def rand_augment(
    images: torch.Tensor, generator: torch.Generator, ops_per_image: int = OPS_PER_IMAGE
) -> torch.Tensor:
    """Apply ``ops_per_image`` operations drawn per image, each with a random magnitude."""
    b = len(images)
    for _ in range(ops_per_image):
        choice = torch.randint(0, len(RAND_AUGMENT_OPS), (b,), generator=generator).to(images.device)
        magnitude = _uniform(b, generator, images.device)
        out = images.clone()
        for index, op in enumerate(RAND_AUGMENT_OPS):
            chosen = choice == index
            if chosen.any():
                out[chosen] = op(images[chosen], magnitude[chosen]).clamp(0.0, 1.0)
        images = out
    return images


def cutout(
    images: torch.Tensor, generator: torch.Generator, fraction: float = CUTOUT_FRACTION
) -> torch.Tensor:
    """Fill one random square per image (side up to ``fraction`` of the size) with grey 0.5."""
    b, _, h, w = images.shape
    device = images.device
    side = _uniform(b, generator, device) * fraction * min(h, w)
    cy, cx = _uniform(b, generator, device) * h, _uniform(b, generator, device) * w
    ys = torch.arange(h, device=device)[None, :, None]
    xs = torch.arange(w, device=device)[None, None, :]
    half = (side / 2)[:, None, None]
    inside = ((ys - cy[:, None, None]).abs() <= half) & ((xs - cx[:, None, None]).abs() <= half)  # (B, H, W)
    return torch.where(inside[:, None], torch.full_like(images, 0.5), images)


def strong_augment(images: torch.Tensor, generator: torch.Generator, flip: bool = True) -> torch.Tensor:
    """FixMatch strong augmentation: weak, then RandAugment, then cut-out."""
    return cutout(rand_augment(weak_augment(images, generator, flip), generator), generator)

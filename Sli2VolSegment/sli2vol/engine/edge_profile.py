"""Edge profile g(S): a per-pixel, softmax-normalised histogram of intensity derivatives.

The paper describes derivatives along ``d`` directions at ``s`` scales, softmax-normalised over the
``d x s`` channels; the reference code instead takes the centre minus each of the 48 neighbours of a
7x7 window. Both are available through :func:`edge_profile_offsets`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

EDGE_PROFILE_KINDS = ("paper", "reference")


def edge_profile_offsets(kind: str = "paper", directions: int = 8, scales: int = 3) -> list[tuple[int, int]]:
    """(dy, dx) pixel offsets of the neighbours compared with the centre pixel.

    ``"paper"``: ``directions`` unit directions (evenly spaced angles, rounded to the pixel grid) at
    scales 1..``scales`` pixels -> ``directions * scales`` offsets.
    ``"reference"``: every neighbour of a 7x7 window -> 48 offsets.
    """
    if kind == "reference":
        return [(dy, dx) for dy in range(-3, 4) for dx in range(-3, 4) if (dy, dx) != (0, 0)]
    if kind != "paper":
        raise ValueError(f"edge profile kind must be one of {EDGE_PROFILE_KINDS}, got {kind!r}")
    offsets = []
    for scale in range(1, scales + 1):
        for k in range(directions):
            angle = 2.0 * math.pi * k / directions
            offsets.append((round(scale * math.sin(angle)), round(scale * math.cos(angle))))
    return offsets


def edge_profile_kernel(offsets: list[tuple[int, int]]) -> torch.Tensor:
    """Convolution kernel (D, 1, k, k) whose channel i computes (centre - neighbour_i) / |offset_i|_inf
    for the paper's derivatives; the reference variant uses the same form (its 48 offsets)."""
    radius = max(max(abs(dy), abs(dx)) for dy, dx in offsets)
    size = 2 * radius + 1
    kernel = torch.zeros(len(offsets), 1, size, size)
    for i, (dy, dx) in enumerate(offsets):
        step = max(abs(dy), abs(dx))
        kernel[i, 0, radius, radius] += 1.0 / step
        kernel[i, 0, radius + dy, radius + dx] -= 1.0 / step
    return kernel


def edge_profile(image: torch.Tensor, kernel: torch.Tensor, temperature: float = 0.05) -> torch.Tensor:
    """Edge profile of a batch of slices.

    Args:
        image: (B, 1, H, W) intensities, normalised to about [0, 1].
        kernel: (D, 1, k, k) from :func:`edge_profile_kernel`.
        temperature: derivative scale of the softmax (intensity units of ``image``).

    Returns:
        (B, D, H, W) non-negative, summing to 1 over the D channels at every pixel. Replicate padding
        at the borders; invariant to adding a constant to ``image``.
    """
    radius = kernel.shape[-1] // 2
    padded = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    derivatives = F.conv2d(padded, kernel.to(dtype=image.dtype, device=image.device))
    return torch.softmax(derivatives / temperature, dim=1)

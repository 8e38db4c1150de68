"""Local affinity between the feature maps of two slices and warping through it.

Pixel ``u`` of the target slice attends to the ``(2R+1)^2`` pixels ``v`` of the source slice within
a window of radius ``R`` (feature-grid pixels) around ``u``; weights are a softmax of the raw dot
products. Out-of-image candidates get zero weight. Computed with ``unfold`` in bands of rows so that
memory stays bounded (no Python loop over window offsets).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_BAND_BYTES = 64 * 2**20


def _band_rows(channels: int, window: int, width: int, batch: int, band_bytes: int) -> int:
    per_row = 4 * batch * channels * window * window * width
    return max(1, band_bytes // max(per_row, 1))


def local_affinity(
    source_features: torch.Tensor, target_features: torch.Tensor, radius: int, band_bytes: int | None = None
) -> torch.Tensor:
    """Softmax affinity of every target pixel over a window of source pixels.

    Args:
        source_features: (B, C, h, w) features of slice 1.
        target_features: (B, C, h, w) features of slice 2.
        radius: window radius R in feature pixels; the window has D = (2R+1)^2 candidates, offset
            index ``(dy + R) * (2R+1) + (dx + R)``.
        band_bytes: memory cap of the unfolded band; ``None`` processes all rows at once (training).

    Returns:
        (B, D, h, w) weights, summing to 1 over D; zero for candidates outside the image.
    """
    if source_features.shape != target_features.shape:
        raise ValueError(f"feature shapes differ: {tuple(source_features.shape)} vs {tuple(target_features.shape)}")
    b, c, h, w = source_features.shape
    k = 2 * radius + 1
    padded = F.pad(source_features, (radius, radius, radius, radius))
    inside = F.pad(source_features.new_ones(1, 1, h, w), (radius, radius, radius, radius))
    rows = h if band_bytes is None else _band_rows(c, k, w, b, band_bytes)
    bands = []
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        window = F.unfold(padded[:, :, y0 : y1 + 2 * radius], k).view(b, c, k * k, (y1 - y0) * w)
        valid = F.unfold(inside[:, :, y0 : y1 + 2 * radius], k).view(1, k * k, (y1 - y0) * w) > 0
        target = target_features[:, :, y0:y1].reshape(b, c, (y1 - y0) * w)
        logits = torch.einsum("bcdn,bcn->bdn", window, target).masked_fill(~valid, float("-inf"))
        bands.append(torch.softmax(logits, dim=1).view(b, k * k, y1 - y0, w))
    return torch.cat(bands, dim=2)


def warp(weights: torch.Tensor, values: torch.Tensor, radius: int, stride: int = 1) -> torch.Tensor:
    """Copy-and-weight ``values`` of the source slice into the target slice.

    Args:
        weights: (B, D, h, w) from :func:`local_affinity`, D = (2R+1)^2.
        values: (B, K, h*stride, w*stride) source-slice values at full resolution (an image, or a
            one-hot mask with K labels).
        radius: R of ``weights``.
        stride: full-resolution pixels per feature pixel. Every full-resolution pixel of a
            ``stride x stride`` block uses its block's weights over source blocks shifted by whole
            feature pixels, so masks keep their full-resolution detail.

    Returns:
        (B, K, h*stride, w*stride) warped values.
    """
    b, d, h, w = weights.shape
    k = 2 * radius + 1
    if d != k * k:
        raise ValueError(f"weights have {d} window channels, expected {(k * k)} for radius {radius}")
    channels = values.shape[1]
    blocks = F.pixel_unshuffle(values, stride) if stride > 1 else values  # (B, K*s*s, h, w)
    window = F.unfold(blocks, k, padding=radius).view(b, blocks.shape[1], d, h * w)
    warped = torch.einsum("bkdn,bdn->bkn", window, weights.reshape(b, d, h * w)).view(b, -1, h, w)
    out = F.pixel_shuffle(warped, stride) if stride > 1 else warped
    return out.view(b, channels, h * stride, w * stride)

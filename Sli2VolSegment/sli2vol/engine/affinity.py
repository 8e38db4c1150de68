"""Local affinity between the feature maps of two slices and warping through it.

Pixel ``u`` of the target slice attends to the ``(2R+1)^2`` pixels ``v`` of the source slice within
a window of radius ``R`` (feature-grid pixels) around ``u``; weights are a softmax of the raw dot
products. Out-of-image candidates get zero weight. The dot products come from one matrix product
per 8x8 tile of target pixels against its source region (no Python loop over window offsets), in
bands of rows so that memory stays bounded.

Propagating a 0/1 mask needs the affinity only where a target pixel's window holds both values
(:func:`warp_mask`): elsewhere the warped value is exactly 0 or 1, so the cost follows the mask's
outline instead of the region's area.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_BAND_BYTES = 64 * 2**20
TILE = 8  # target pixels per tile side: one matrix product per tile against its source region


def _gather_index(tile: int, radius: int, device) -> torch.Tensor:
    """(T*T, D): where each target pixel's window candidates sit in its tile's (T+2R)^2 source region."""
    k, side = 2 * radius + 1, tile + 2 * radius
    ty, tx = torch.meshgrid(torch.arange(tile), torch.arange(tile), indexing="ij")
    dy, dx = torch.meshgrid(torch.arange(k), torch.arange(k), indexing="ij")
    return ((ty.reshape(-1, 1) + dy.reshape(1, -1)) * side + tx.reshape(-1, 1) + dx.reshape(1, -1)).to(device)


def _tile_logits(source_band: torch.Tensor, target_band: torch.Tensor, radius: int, tile: int) -> torch.Tensor:
    """Raw dot products of a band of rows.

    Args:
        source_band: (B, C, h + 2R, w + 2R) source features around the band, zero-padded.
        target_band: (B, C, h, w) target features, h and w multiples of ``tile``.

    Returns:
        (B, D, h, w): one (T*T, C) x (C, (T+2R)^2) product per tile, then the D window entries.
    """
    b, c, h, w = target_band.shape
    side, d = tile + 2 * radius, (2 * radius + 1) ** 2
    ny, nx = h // tile, w // tile
    regions = F.unfold(source_band, side, stride=tile).view(b, c, side * side, ny * nx)
    regions = regions.permute(0, 3, 1, 2).reshape(-1, c, side * side)
    targets = F.unfold(target_band, tile, stride=tile).view(b, c, tile * tile, ny * nx)
    targets = targets.permute(0, 3, 2, 1).reshape(-1, tile * tile, c)
    scores = torch.bmm(targets, regions)  # (B * tiles, T*T, (T+2R)^2)
    logits = scores.gather(2, _gather_index(tile, radius, scores.device).expand(scores.shape[0], -1, -1))
    return logits.view(b, ny, nx, tile, tile, d).permute(0, 5, 1, 3, 2, 4).reshape(b, d, h, w)


def _band_rows(channels: int, radius: int, width: int, batch: int, band_bytes: int, tile: int) -> int:
    side = tile + 2 * radius
    per_tile_row = 4 * batch * (width // tile) * (tile * tile * side * side + channels * side * side)
    return max(1, band_bytes // max(per_tile_row, 1)) * tile


def local_affinity(
    source_features: torch.Tensor, target_features: torch.Tensor, radius: int, band_bytes: int | None = None
) -> torch.Tensor:
    """Softmax affinity of every target pixel over a window of source pixels.

    Args:
        source_features: (B, C, h, w) features of slice 1.
        target_features: (B, C, h, w) features of slice 2.
        radius: window radius R in feature pixels; the window has D = (2R+1)^2 candidates, offset
            index ``(dy + R) * (2R+1) + (dx + R)``.
        band_bytes: memory cap of one band of rows; ``None`` processes all rows at once (training).

    Returns:
        (B, D, h, w) weights, summing to 1 over D; zero for candidates outside the image.
    """
    if source_features.shape != target_features.shape:
        raise ValueError(f"feature shapes differ: {tuple(source_features.shape)} vs {tuple(target_features.shape)}")
    b, c, h, w = source_features.shape
    k, tile = 2 * radius + 1, TILE
    pad_h, pad_w = -h % tile, -w % tile
    source = F.pad(source_features, (radius, radius + pad_w, radius, radius + pad_h))
    target = F.pad(target_features, (0, pad_w, 0, pad_h))
    inside = F.pad(source_features.new_ones(1, 1, h, w), (radius, radius, radius, radius))
    valid = F.unfold(inside, k).view(1, k * k, h, w) > 0
    rows = h + pad_h if band_bytes is None else _band_rows(c, radius, w + pad_w, b, band_bytes, tile)
    logits = torch.cat(
        [
            _tile_logits(source[:, :, y0 : y0 + rows + 2 * radius], target[:, :, y0 : y0 + rows], radius, tile)
            for y0 in range(0, h + pad_h, rows)
        ],
        dim=2,
    )[:, :, :h, :w]
    return torch.softmax(logits.masked_fill(~valid, float("-inf")), dim=1)


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
    warped = (window * weights.reshape(b, 1, d, h * w)).sum(2).view(b, -1, h, w)
    out = F.pixel_shuffle(warped, stride) if stride > 1 else warped
    return out.view(b, channels, h * stride, w * stride)


def _window_weights(source: torch.Tensor, targets: torch.Tensor, index: torch.Tensor, inside: torch.Tensor):
    """Softmax weights (n, D) of n target pixels over their window candidates.

    Args:
        source: (P, C) source features, one row per pixel of the zero-padded source slice.
        targets: (n, C) features of the target pixels.
        index: (n, D) rows of ``source`` holding each target pixel's candidates.
        inside: (P,) bool, False for the padding (zero weight).
    """
    logits = torch.bmm(source[index], targets[:, :, None])[..., 0]
    return torch.softmax(logits.masked_fill(~inside[index], float("-inf")), dim=1)


def warp_mask(
    source_features: torch.Tensor,
    target_features: torch.Tensor,
    mask: torch.Tensor,
    radius: int,
    stride: int = 1,
    chunk_bytes: int = DEFAULT_BAND_BYTES,
) -> torch.Tensor:
    """``warp(local_affinity(source_features, target_features, radius), mask, radius, stride)`` for a
    0/1 ``mask``, with the affinity computed only at the target pixels whose window holds both mask
    and background (candidates outside the image count as background here). Elsewhere the result is
    exactly 1 (a window of mask only) or 0: the weights sum to one.

    Args:
        source_features, target_features: (1, C, h, w) features of the two slices.
        mask: (1, 1, h*stride, w*stride) 0/1 float mask on the source slice.
        radius: window radius R in feature pixels.
        stride: full-resolution pixels per feature pixel.
        chunk_bytes: memory cap of the gathered windows of one chunk of target pixels.

    Returns:
        (1, 1, h*stride, w*stride) warped mask (probability that each pixel belongs to the mask).
    """
    if source_features.shape != target_features.shape or source_features.shape[0] != 1:
        raise ValueError(f"expected two (1, C, h, w) feature maps, got {tuple(source_features.shape)} "
                         f"and {tuple(target_features.shape)}")
    _, c, h, w = source_features.shape
    k, sub = 2 * radius + 1, stride * stride
    blocks = F.pixel_unshuffle(mask, stride) if stride > 1 else mask  # (1, s*s, h, w)
    padded = F.pad(blocks, (radius, radius, radius, radius))
    any_on = F.max_pool2d(padded.amax(1, keepdim=True), k, stride=1)[0, 0]
    all_on = -F.max_pool2d(-padded.amin(1, keepdim=True), k, stride=1)[0, 0]
    out = all_on.expand(sub, h, w).clone()
    ys, xs = torch.nonzero((any_on > 0) & (all_on < 1), as_tuple=True)
    if ys.numel():
        width = w + 2 * radius
        offsets = (torch.arange(k)[:, None] * width + torch.arange(k)[None, :]).reshape(1, -1).to(ys.device)
        source = F.pad(source_features, (radius, radius, radius, radius))[0].reshape(c, -1).t().contiguous()
        values = padded[0].reshape(sub, -1).t().contiguous()  # (padded pixels, s*s)
        inside = F.pad(torch.ones(h, w, dtype=torch.bool, device=ys.device), (radius, radius, radius, radius))
        inside = inside.reshape(-1)
        targets = target_features[0, :, ys, xs].t()  # (N, C)
        chunk = max(1, chunk_bytes // (4 * k * k * (c + sub)))
        for n0 in range(0, ys.numel(), chunk):
            y, x = ys[n0 : n0 + chunk], xs[n0 : n0 + chunk]
            index = (y * width + x)[:, None] + offsets  # (n, D) candidates in padded coordinates
            weights = _window_weights(source, targets[n0 : n0 + chunk], index, inside)
            out[:, y, x] = torch.bmm(weights[:, None, :], values[index])[:, 0].t()
    out = out[None]
    return (F.pixel_shuffle(out, stride) if stride > 1 else out).view(1, 1, h * stride, w * stride)

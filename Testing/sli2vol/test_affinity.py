import numpy as np
import pytest
import torch
from sli2vol.engine.affinity import local_affinity, warp, warp_mask


def brute_force_affinity(f1: np.ndarray, f2: np.ndarray, r: int) -> np.ndarray:
    """Loop reference: softmax over in-image window candidates of <f2(u), f1(u + d)>."""
    c, h, w = f1.shape
    k = 2 * r + 1
    out = np.zeros((k * k, h, w))
    for y in range(h):
        for x in range(w):
            logits = np.full(k * k, -np.inf)
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    if 0 <= y + dy < h and 0 <= x + dx < w:
                        logits[(dy + r) * k + dx + r] = f2[:, y, x] @ f1[:, y + dy, x + dx]
            e = np.exp(logits - logits.max())
            out[:, y, x] = e / e.sum()
    return out


@pytest.mark.parametrize("radius", [1, 2, 3])
def test_affinity_matches_brute_force(radius):
    g = torch.Generator().manual_seed(radius)
    f1, f2 = torch.randn(1, 5, 7, 9, generator=g, dtype=torch.float64), torch.randn(1, 5, 7, 9, generator=g, dtype=torch.float64)
    got = local_affinity(f1, f2, radius)[0].numpy()
    np.testing.assert_allclose(got, brute_force_affinity(f1[0].numpy(), f2[0].numpy(), radius), atol=1e-10)


def test_banded_equals_single_band():
    f1, f2 = torch.randn(2, 4, 23, 11), torch.randn(2, 4, 23, 11)
    whole = local_affinity(f1, f2, 2)
    banded = local_affinity(f1, f2, 2, band_bytes=1)  # one row per band
    torch.testing.assert_close(banded, whole)


@pytest.mark.parametrize("stride", [1, 2])
def test_warp_matches_brute_force(stride):
    radius, h, w = 2, 5, 6
    weights = torch.softmax(torch.randn(1, 25, h, w, dtype=torch.float64), dim=1)
    values = torch.randn(1, 3, h * stride, w * stride, dtype=torch.float64)
    got = warp(weights, values, radius, stride)[0].numpy()
    v = values[0].numpy()
    want = np.zeros_like(got)
    for y in range(h * stride):
        for x in range(w * stride):
            by, bx = divmod(y, stride)[0], divmod(x, stride)[0]
            for dy in range(-radius, radius + 1):
                for dx in range(-radius, radius + 1):
                    sy, sx = y + dy * stride, x + dx * stride
                    if 0 <= sy < h * stride and 0 <= sx < w * stride:
                        want[:, y, x] += weights[0, (dy + radius) * 5 + dx + radius, by, bx].item() * v[:, sy, sx]
    np.testing.assert_allclose(got, want, atol=1e-10)


def test_identical_distinctive_features_copy_the_mask():
    f = torch.eye(16).view(16, 4, 4)[None] * 50.0  # every pixel has its own one-hot feature
    mask = (torch.rand(1, 1, 4, 4) > 0.5).double()
    out = warp(local_affinity(f, f, 1).double(), mask, 1)
    torch.testing.assert_close(out, mask)


def test_shape_mismatch_is_rejected():
    with pytest.raises(ValueError, match="feature shapes differ"):
        local_affinity(torch.zeros(1, 2, 4, 4), torch.zeros(1, 2, 4, 5), 1)


@pytest.mark.parametrize("stride", [1, 2])
def test_warp_mask_equals_dense_warp_and_is_exact_away_from_the_outline(stride):
    g = torch.Generator().manual_seed(stride)
    f1, f2 = torch.randn(1, 6, 21, 17, generator=g), torch.randn(1, 6, 21, 17, generator=g)
    yy, xx = torch.meshgrid(torch.arange(21 * stride), torch.arange(17 * stride), indexing="ij")
    mask = ((yy - 9 * stride) ** 2 / 4 + (xx - 3 * stride) ** 2 < (6 * stride) ** 2).float()[None, None]
    assert mask[..., 0, :].any()  # touches the image border
    dense = warp(local_affinity(f1, f2, 2), mask, 2, stride)
    sparse = warp_mask(f1, f2, mask, 2, stride, chunk_bytes=1)  # one target pixel per chunk
    torch.testing.assert_close(sparse, dense)
    assert 0 < ((sparse > 0) & (sparse < 1)).float().mean() < 0.5  # computed only around the outline
    assert sparse[0, 0, 9 * stride, 3 * stride] == 1 and sparse[0, 0, -1, -1] == 0  # exact inside and outside
    torch.testing.assert_close(warp_mask(f1, f2, torch.zeros_like(mask), 2, stride), torch.zeros_like(mask))

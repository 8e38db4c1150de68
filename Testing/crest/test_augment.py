"""Augmentations keep shape, dtype and the [0, 1] range, for one or several channels."""

import pytest
import torch
import torch.nn.functional as F
from crest_tools.augment import (
    RAND_AUGMENT_OPS,
    cutout,
    random_flip,
    random_translate,
    strong_augment,
    weak_augment,
)


def images(channels: int) -> torch.Tensor:
    return torch.rand(8, channels, 20, 16, generator=torch.Generator().manual_seed(channels))


@pytest.mark.parametrize("augment", [weak_augment, strong_augment])
@pytest.mark.parametrize("channels", [1, 3])
def test_augmentation_keeps_shape_dtype_and_range(augment, channels):
    x = images(channels)
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not torch.equal(out, x)


@pytest.mark.parametrize("op", RAND_AUGMENT_OPS, ids=lambda op: op.__name__)
@pytest.mark.parametrize("magnitude", [0.0, 0.5, 1.0])
def test_each_rand_augment_op_keeps_shape(op, magnitude):
    x = images(2)
    out = op(x, torch.full((len(x),), magnitude)).clamp(0, 1)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_same_generator_seed_gives_same_augmentation():
    x = images(1)
    first = strong_augment(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(first, strong_augment(x, torch.Generator().manual_seed(5)))


def test_translate_is_a_crop_of_the_reflect_padded_image():
    x = images(1)
    out = random_translate(x, torch.Generator().manual_seed(1), fraction=0.125)
    padded = F.pad(x, (2, 2, 2, 2), mode="reflect")  # 12.5% of 16 and 20 -> 2 and 2 (rounded, >= 1)
    for image, shifted in zip(padded, out):
        crops = [image[:, dy : dy + 20, dx : dx + 16] for dy in range(5) for dx in range(5)]
        assert any(torch.equal(crop, shifted) for crop in crops)


def test_flip_mirrors_or_keeps_each_image():
    x = images(1)
    out = random_flip(x, torch.Generator().manual_seed(3))
    flipped = [torch.equal(o, i.flip(-1)) for o, i in zip(out, x)]
    kept = [torch.equal(o, i) for o, i in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and any(flipped) and any(kept)


def test_cutout_greys_at_most_a_quarter_of_the_image():
    x = torch.zeros(64, 1, 16, 16)
    out = cutout(x, torch.Generator().manual_seed(0), fraction=0.5)
    grey = (out == 0.5).float().mean(dim=(1, 2, 3))
    assert grey.max() <= (9 / 16) ** 2 and grey.max() > 0  # side <= 8 px (+1 for the inclusive border)

import pytest
import torch
from sli2vol.engine.edge_profile import edge_profile, edge_profile_kernel, edge_profile_offsets


@pytest.mark.parametrize("kind,channels", [("paper", 24), ("reference", 48)])
def test_shape_and_softmax(kind, channels):
    image = torch.rand(2, 1, 20, 17)
    out = edge_profile(image, edge_profile_kernel(edge_profile_offsets(kind)))
    assert out.shape == (2, channels, 20, 17)
    assert torch.all(out >= 0)
    torch.testing.assert_close(out.sum(1), torch.ones(2, 20, 17))


def test_paper_offsets_directions_times_scales():
    offsets = edge_profile_offsets("paper", directions=4, scales=2)
    assert sorted(offsets) == sorted([(0, 1), (1, 0), (0, -1), (-1, 0), (0, 2), (2, 0), (0, -2), (-2, 0)])
    with pytest.raises(ValueError, match="edge profile kind"):
        edge_profile_offsets("sobel")


@pytest.mark.parametrize("kind", ["paper", "reference"])
def test_invariant_to_intensity_offset(kind):
    kernel = edge_profile_kernel(edge_profile_offsets(kind))
    image = torch.rand(1, 1, 16, 16)
    torch.testing.assert_close(edge_profile(image, kernel), edge_profile(image + 0.37, kernel))


def test_flat_image_gives_uniform_profile_and_edges_do_not():
    kernel = edge_profile_kernel(edge_profile_offsets("paper"))
    flat = edge_profile(torch.full((1, 1, 9, 9), 0.5), kernel)
    torch.testing.assert_close(flat, torch.full_like(flat, 1 / 24))
    step = torch.zeros(1, 1, 9, 9)
    step[..., 5:] = 1.0  # vertical edge between columns 4 and 5
    out = edge_profile(step, kernel)
    # at column 4 the neighbour to the right (offset (0, 1), channel 0) is brighter: smallest weight
    assert out[0, :, 4, 4].argmin() == edge_profile_offsets("paper").index((0, 1))
    assert out[0, :, 4, 4].max() > 100 * out[0, :, 4, 4].min()

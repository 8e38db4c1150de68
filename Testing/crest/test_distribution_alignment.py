"""CReST+ progressive distribution alignment: temperature schedule, tempered target, reweighting."""

import pytest
import torch
from crest_tools.distribution_alignment import DistributionAligner, alignment_temperature, tempered_target


@pytest.mark.parametrize(
    "generation, generations, t_min, expected",
    [
        (0, 6, 0.5, 1.0),
        (5, 6, 0.5, 0.5),
        (2, 6, 0.5, 0.8),
        (1, 3, 0.0, 0.5),
        (0, 1, 0.5, 1.0),
    ],
)
def test_temperature_goes_linearly_from_one_to_t_min(generation, generations, t_min, expected):
    assert alignment_temperature(generation, generations, t_min) == pytest.approx(expected)


def test_temperature_rejects_generation_outside_run():
    with pytest.raises(ValueError, match="generation must be in 0..5"):
        alignment_temperature(6, 6, 0.5)


@pytest.mark.parametrize("t, expected", [(1.0, [0.8, 0.2]), (0.5, [2 / 3, 1 / 3]), (0.0, [0.5, 0.5])])
def test_tempered_target(t, expected):
    # 0.8 ** 0.5 = 0.894, 0.2 ** 0.5 = 0.447 -> ratio 2 : 1
    torch.testing.assert_close(tempered_target(torch.tensor([0.8, 0.2]), t), torch.tensor(expected))


def test_aligner_reweights_by_target_over_running_mean():
    aligner = DistributionAligner(torch.tensor([0.5, 0.5]), momentum=0.9)
    first = torch.tensor([[0.9, 0.1], [0.5, 0.5]])  # mean [0.7, 0.3] becomes the running mean
    aligned = aligner(first)
    # row 0: [0.9 / 0.7, 0.1 / 0.3] * 0.5 = [0.642857, 0.166667] -> normalised [0.794118, 0.205882]
    # row 1: [0.5 / 0.7, 0.5 / 0.3] -> [0.3, 0.7]
    torch.testing.assert_close(aligned, torch.tensor([[0.794118, 0.205882], [0.3, 0.7]]), atol=1e-5, rtol=0)
    aligner(torch.tensor([[0.5, 0.5]]))
    # running mean 0.9 * [0.7, 0.3] + 0.1 * [0.5, 0.5] = [0.68, 0.32]
    torch.testing.assert_close(aligner.running_mean, torch.tensor([0.68, 0.32]))


def test_alignment_towards_uniform_promotes_the_minority_class():
    aligner = DistributionAligner(tempered_target(torch.tensor([0.9, 0.1]), 0.0), momentum=0.99)
    probabilities = torch.tensor([[0.9, 0.1]] * 9 + [[0.2, 0.8]])
    aligned = aligner(probabilities)
    assert aligned[:, 1].mean() > probabilities[:, 1].mean()
    torch.testing.assert_close(aligned.sum(dim=1), torch.ones(10))


def test_running_mean_restored_on_the_cpu_follows_the_predictions_device():
    """A checkpoint is loaded with map_location="cpu"; a run resumed on another device (here "meta",
    which refuses to mix with CPU tensors as CUDA does) must not fail at its first aligned batch."""
    aligner = DistributionAligner(torch.tensor([0.5, 0.5]), momentum=0.9)
    aligner.load_state_dict({"running_mean": torch.tensor([0.7, 0.3])})
    aligned = aligner(torch.tensor([[0.9, 0.1]], device="meta"))
    assert aligned.device.type == "meta" and aligner.running_mean.device.type == "meta"

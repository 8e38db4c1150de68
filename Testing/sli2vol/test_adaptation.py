"""Per-scan self-supervised adaptation: a fine-tuned copy, never the original; seeded; cancellable;
it repairs a weak model on a phantom."""
from pathlib import Path

import numpy as np
import pytest
import torch
from annotations import one_slice_annotation
from sli2vol.engine.network import NetworkConfig
from sli2vol.engine.propagation import PropagationConfig, propagate_volume
from sli2vol.engine.slice_source import SliceSource
from sli2vol.errors import InputError, PropagationCancelled
from sli2vol.io.model_io import build_encoder, load_model
from sli2vol.metrics import dice, largest_slice
from sli2vol.training.adaptation import AdaptationConfig, adapted_model, region_volume

SMALL = {"batch_size": 2, "crop": 48}


def _scan_volume(phantom):
    image, labels, spacing = phantom
    k = largest_slice(labels == 1, True, 0)
    slices = SliceSource(image, (-100.0, 200.0), image.shape[1:])
    return region_volume(slices, {k: labels[k] == 1}, spacing, crop=48)


def _state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_region_volume_covers_the_annotation_along_the_axis(phantom):
    image = phantom[0]
    volume = _scan_volume(phantom)
    assert volume.data.shape[0] == image.shape[0] and volume.data.dtype == np.uint8
    assert all(48 <= n <= m for n, m in zip(volume.data.shape[1:], image.shape[1:]))


def test_adaptation_changes_a_copy_and_not_the_model(trained_model_path, phantom):
    model = load_model(trained_model_path)
    before = _state(model)
    file_bytes = Path(trained_model_path).read_bytes()
    adapted = adapted_model(model, _scan_volume(phantom), AdaptationConfig(steps=3, **SMALL))
    after = _state(adapted)
    assert set(after) == set(before)
    assert any(not torch.equal(after[k], before[k]) for k in before)
    assert all(torch.equal(v, before[k]) for k, v in _state(model).items())
    assert Path(trained_model_path).read_bytes() == file_bytes
    assert not adapted.training and not any(p.requires_grad for p in adapted.parameters())
    assert adapted.stride == model.stride and adapted.window_radius == model.window_radius


def test_adaptation_is_deterministic_with_a_seed(trained_model_path, phantom):
    model, volume = load_model(trained_model_path), _scan_volume(phantom)
    one, two, other = (_state(adapted_model(model, volume, AdaptationConfig(steps=3, seed=s, **SMALL)))
                       for s in (5, 5, 6))
    assert all(torch.equal(one[k], two[k]) for k in one)
    assert any(not torch.equal(one[k], other[k]) for k in one)


def test_adaptation_reports_progress_and_can_be_cancelled(trained_model_path, phantom):
    image, labels, spacing = phantom
    mask = one_slice_annotation(labels, largest_slice(labels == 1, True, 0))
    mask[mask == 2] = 0
    config = PropagationConfig(axis=0, adaptation=AdaptationConfig(steps=20, **SMALL))
    seen = []
    with pytest.raises(PropagationCancelled):
        propagate_volume(image, mask, spacing, trained_model_path, config, progress=lambda d, t: seen.append((d, t)),
                         cancel=lambda: len(seen) >= 3)
    assert [d for d, _ in seen] == [1, 2, 3]
    assert seen[0][1] > 20  # the planned total counts the adaptation steps and the propagation


def test_adaptation_repairs_a_weak_model(phantom):
    image, labels, spacing = phantom
    weak = build_encoder(NetworkConfig(), seed=0).eval()  # untrained: random features
    mask = one_slice_annotation(labels, largest_slice(labels == 1, True, 0))
    before_state = _state(weak)
    scores = {}
    for steps in (0, 40):
        adaptation = AdaptationConfig(steps=steps, lr=2e-3, batch_size=2, crop=64)
        result = propagate_volume(image, mask, spacing, weak, PropagationConfig(axis=0, adaptation=adaptation))
        scores[steps] = np.mean([dice(result == label, labels == label) for label in (1, 2)])
    assert scores[40] > scores[0] + 0.08, scores  # measured: 0.81 -> 0.97
    assert all(torch.equal(v, before_state[k]) for k, v in _state(weak).items())


@pytest.mark.parametrize("field,value", [("steps", -1), ("batch_size", 0), ("seconds", -2.0), ("lr", 0.0),
                                         ("gaps", ())])
def test_bad_adaptation_settings(field, value):
    with pytest.raises(InputError, match=f"adaptation {field}.*{value!r}".replace("(", r"\(").replace(")", r"\)")):
        AdaptationConfig(**{field: value})

"""Directions of a label run two at a time on two threads: same labels as one after the other,
progress and cancellation on the calling thread only, a worker's error reported as itself."""
import threading

import numpy as np
import pytest
import torch
from annotations import one_slice_annotation
from sli2vol.engine.directions import Direction, DirectionRunner
from sli2vol.engine.propagation import PropagationConfig, propagate_volume
from sli2vol.errors import PropagationCancelled
from sli2vol.metrics import largest_slice


@pytest.fixture
def two_threads(restore_threads):
    torch.set_num_threads(2)


def test_concurrent_directions_give_the_same_labels_and_report_on_the_calling_thread(
        trained_model_path, phantom, two_threads):
    image, labels, spacing = phantom
    k = largest_slice(labels, 1)
    one = one_slice_annotation(labels, k)
    three = one.copy()  # three annotated slices of label 1: outward and both ways between them
    for s in (k - 8, k + 6):
        three[s][labels[s] == 1] = 1
    for mask in (one, three):
        callers = set()

        def progress(done, total, callers=callers):
            callers.add(threading.get_ident())

        results = [propagate_volume(image, mask, spacing, trained_model_path,
                                    PropagationConfig(concurrent_directions=c), progress=progress)
                   for c in (False, True)]
        np.testing.assert_array_equal(results[0], results[1])
        assert callers == {threading.get_ident()}
        assert torch.get_num_threads() == 2  # restored after the concurrent part


class FailingPropagator:
    """Stands in for a PairPropagator whose step fails at slice ``fail_at`` (or never)."""

    device = torch.device("cpu")

    def __init__(self, fail_at=None, seen=None):
        self.fail_at, self.seen = fail_at, seen
        self.verification = PropagationConfig().verification
        self.slices = {i: np.ones((4, 4), np.float32) for i in range(-20, 40)}

    def step(self, i, j, mask, anchor_sample=None):
        if self.seen is not None:
            self.seen.append(j)
        if j == self.fail_at:
            raise ValueError(f"step to slice {j} failed")
        threading.Event().wait(0.002)
        return (slice(0, 4), slice(0, 4)), np.ones((4, 4), np.float32), np.ones((4, 4), bool)


def test_a_workers_error_is_raised_as_itself_and_stops_the_other(two_threads, monkeypatch):
    monkeypatch.setattr("sli2vol.engine.directions.paste", lambda kept, roi, shape: kept)
    seen = []
    makers = iter([lambda: FailingPropagator(seen=seen), lambda: FailingPropagator(fail_at=13)])
    runner = DirectionRunner(total=60, progress=None, cancel=None)
    mask = np.ones((4, 4), bool)
    with pytest.raises(ValueError, match="slice 13 failed"):
        runner.run([Direction(10, mask, -1, 30), Direction(10, mask, +1, 30)], lambda: next(makers)())
    assert len(seen) < 30  # the healthy direction stopped early


def test_cancel_from_the_calling_thread_stops_both_workers(two_threads, monkeypatch):
    monkeypatch.setattr("sli2vol.engine.directions.paste", lambda kept, roi, shape: kept)
    seen = []
    runner = DirectionRunner(total=400, progress=None, cancel=lambda: len(seen) >= 10)
    mask = np.ones((4, 4), bool)
    with pytest.raises(PropagationCancelled):
        runner.run([Direction(10, mask, -1, 200), Direction(10, mask, +1, 200)],
                   lambda: FailingPropagator(seen=seen))
    assert len(seen) < 400 and torch.get_num_threads() == 2

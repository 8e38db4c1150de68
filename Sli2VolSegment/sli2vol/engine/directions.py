"""The propagation directions of one label, one after the other or two at a time.

A label propagates outward from its first and last annotated slices, and both ways between
consecutive annotated slices. These directions share nothing, so on a CPU with two or more torch
threads they run on two Python threads, each with half of the torch threads (per-step work is too
small to keep many torch threads busy: on 2 cores, one thread per direction propagates a
liver-size structure ~1.25x faster than two threads on one direction at a time). Each direction has its own slice source and :class:`PairPropagator`, in both modes, so
the modes differ at most by floating-point rounding. Progress and cancellation are handled on the
calling thread only (Slicer's progress dialog lives there); the workers just count their steps.
"""
from __future__ import annotations

import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
import torch
from scipy import ndimage

from sli2vol.engine.pair_propagator import PairPropagator
from sli2vol.engine.region import paste
from sli2vol.errors import PropagationCancelled

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]
POLL_SECONDS = 0.05  # how often the calling thread reports progress while directions run concurrently


@dataclass(frozen=True)
class Direction:
    """Propagate ``mask`` (H, W) bool from slice ``start`` for at most ``steps`` slices towards ``sign``."""

    start: int
    mask: np.ndarray
    sign: int
    steps: int


def recover_boundary(kept: np.ndarray, prob: np.ndarray, pixels: int, min_prob: float) -> np.ndarray:
    """``kept`` (h, w) bool plus the pixels within ``pixels`` of it whose warped value ``prob`` exceeds
    ``min_prob``: the rim that the 0.5 threshold and the verification shave off every slice, which
    otherwise leaves each slice's mask about a pixel short of the structure's edge."""
    if pixels <= 0 or not kept.any():
        return kept
    return kept | (ndimage.binary_dilation(kept, iterations=pixels) & (prob > min_prob))


class DirectionRunner:
    """Runs directions with progress (steps done, steps planned) and cancellation.

    Args:
        total: steps planned for the whole propagation.
        progress, cancel: the caller's callbacks, only ever called on the thread that built the runner.
        boundary: (pixels, minimum warped value) of :func:`recover_boundary`.
        concurrent: run two directions at a time when torch has two or more threads on a CPU (the
            torch thread count is halved meanwhile, and restored).
    """

    def __init__(self, total: int, progress: Optional[ProgressCallback], cancel: Optional[CancelCheck],
                 boundary: tuple = (0, 0.0), concurrent: bool = True):
        self.total = max(total, 1)
        self.done = 0
        self._reported = 0
        self.progress = progress
        self.cancel = cancel
        self.boundary = boundary
        self.concurrent = concurrent
        self._caller = threading.get_ident()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def tick(self, n: int = 1) -> None:
        """Count ``n`` steps; on the calling thread also report them and poll for cancellation."""
        with self._lock:
            self.done += n
        if threading.get_ident() == self._caller:
            self._report()
        elif self._stop.is_set():
            raise PropagationCancelled("propagation cancelled")

    def _report(self) -> None:
        if self.progress is not None and self.done != self._reported:
            self._reported = self.done
            self.progress(min(self.done, self.total), self.total)
        if self.cancel is not None and self.cancel():
            raise PropagationCancelled("propagation cancelled")

    def run(self, directions: list[Direction], new_propagator: Callable[[], PairPropagator]) -> list[dict]:
        """Each direction's {slice: (roi, probability crop, output mask crop)}, in the given order.

        ``new_propagator()`` makes a fresh propagator (own slice source) for each direction.
        """
        propagators = [new_propagator() for _ in directions]
        if not (self.concurrent and len(directions) > 1 and torch.get_num_threads() >= 2
                and all(p.device.type == "cpu" for p in propagators)):
            return [self._direction(d, p) for d, p in zip(directions, propagators)]
        threads = torch.get_num_threads()
        torch.set_num_threads(threads // 2)  # shared by the two directions
        try:
            with ThreadPoolExecutor(max_workers=2) as pool:
                futures = [pool.submit(self._direction, d, p) for d, p in zip(directions, propagators)]
                try:
                    while True:
                        done, pending = wait(futures, timeout=POLL_SECONDS, return_when=FIRST_EXCEPTION)
                        self._report()
                        if not pending or any(f.exception() is not None for f in done):
                            break
                finally:
                    self._stop.set()  # a worker still running (error, cancel, Ctrl-C) stops at its next step
            errors = [f.exception() for f in futures if f.exception() is not None]
            if errors:  # the cause first, not the stop it made the other direction take
                raise next((e for e in errors if not isinstance(e, PropagationCancelled)), errors[0])
            return [f.result() for f in futures]
        finally:
            torch.set_num_threads(threads)
            self._stop.clear()

    def _direction(self, direction: Direction, propagator: PairPropagator) -> dict:
        """Propagate one direction; stops early when the mask vanishes. The next step starts from the
        verified mask, the output adds the recovered boundary."""
        results, current, i = {}, direction.mask, direction.start
        anchor_sample = None
        if propagator.verification.reference == "anchor":
            anchor_sample = propagator.slices[direction.start][direction.mask]
        for taken in range(direction.steps):
            j = i + direction.sign
            roi, prob, kept = propagator.step(i, j, current, anchor_sample)
            self.tick()
            if not kept.any():
                self.tick(direction.steps - taken - 1)
                break
            results[j] = (roi, prob, recover_boundary(kept, prob, *self.boundary))
            current, i = paste(kept, roi, direction.mask.shape), j
        return results

"""Incremental reading of a run's progress.jsonl while it is written (what a GUI timer polls).

:class:`ProgressReader` remembers its byte offset and consumes only complete lines, so a line being
written (or cut by a kill) is read once it is complete, or skipped when it never becomes valid JSON.
:class:`TrainingProgress` folds the events into what a progress display shows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class ProgressReader:
    """Returns the events appended to a JSON-lines file since the previous call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0

    def read_new(self) -> list[dict]:
        """Events of the complete lines added since the last call (none if the file does not exist).

        A file shorter than the offset (replaced by a new run) is read again from its start.
        """
        if not self.path.exists():
            return []
        with open(self.path, "rb") as stream:
            stream.seek(0, 2)
            if stream.tell() < self.offset:
                self.offset = 0
            stream.seek(self.offset)
            data = stream.read()
        end = data.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        events = []
        for line in data[: end + 1].splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut by a kill, completed by the writer's next newline
            if isinstance(event, dict):
                events.append(event)
        return events


@dataclass
class TrainingProgress:
    """State of a training run as told by its progress events.

    Attributes:
        generation, generations: current generation (0-based) and their number.
        step, steps: last logged step of the generation and steps per generation.
        loss, mask_rate: of the last logged step (mask rate = share of unlabelled images whose
            pseudo-label passed the threshold).
        picks_per_class: CReST pseudo-label picks per class chosen after the last finished generation.
        history: one dict per finished generation (balanced accuracy, with and without logit adjustment).
        done: the run logged its "done" event.
    """

    generation: int = 0
    generations: int = 0
    step: int = 0
    steps: int = 0
    loss: float | None = None
    mask_rate: float | None = None
    picks_per_class: list[int] | None = None
    history: list[dict] = field(default_factory=list)
    done: bool = False

    def update(self, events: list[dict]) -> None:
        for event in events:
            kind = event.get("event")
            if kind in ("start", "resume"):
                self.generation, self.generations, self.done = event["generation"], event["generations"], False
                self.history = self.history[: self.generation]
            elif kind == "step":
                self.generation, self.step, self.steps = event["generation"], event["step"], event["steps"]
                self.loss, self.mask_rate = event.get("loss"), event.get("mask_rate")
            elif kind == "generation":
                self.history = self.history[: event["generation"]] + [event]
                self.picks_per_class = event.get("picked_per_class")
            elif kind == "done":
                self.done = True

    @property
    def fraction(self) -> float:
        """Share of all training steps done, 0..1."""
        if self.done:
            return 1.0
        total = self.generations * self.steps
        return (self.generation * self.steps + self.step) / total if total else 0.0

    def text(self) -> str:
        """One line: generation, step, loss, mask rate, last balanced accuracy, picks per class."""
        if not self.generations:
            return "waiting for the first progress line"
        step = f"step {self.step}/{self.steps}" if self.steps else "starting"
        parts = [f"generation {self.generation + 1}/{self.generations}", step]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.3f}")
        if self.mask_rate is not None:
            parts.append(f"mask rate {self.mask_rate:.2f}")
        if self.history:
            last = self.history[-1]
            parts.append(
                f"balanced accuracy {100 * last['balanced_accuracy']:.1f}% "
                f"(LA {100 * last['balanced_accuracy_la']:.1f}%)"
            )
        if self.picks_per_class:
            parts.append(f"picks per class {self.picks_per_class}")
        return ", ".join(parts) + (" -- done" if self.done else "")

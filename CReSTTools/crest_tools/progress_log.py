"""JSON-lines progress log, one event per line, appended and flushed (what a GUI polls).

Every line is an object with "event" and "time" (UNIX seconds). Events written by a training run:
"start" / "resume", "step" (generation, step, steps, loss, loss_x, loss_u, mask_rate, lr),
"generation" (generation, test metrics plain and logit-adjusted with the generation's labelled prior
"la" and the original one "la_original", "labelled_prior", and the pick diagnostics of
:func:`crest_tools.pick_diagnostics.pick_diagnostics` unless it is the last generation), "warning"
(generation, message: the picks increase the labelled imbalance), "done". A kill may truncate the last line; :func:`read_progress_log` skips it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

LOG_NAME = "progress.jsonl"  # its name in a run folder; kept in this light module for the job list to import


class ProgressLog:
    """Appends events to ``path``; a no-op writer when ``enabled`` is False (non-main DDP ranks)."""

    def __init__(self, path: str | Path, enabled: bool = True) -> None:
        self.path = Path(path)
        self.enabled = enabled

    def write(self, event: str, **fields: Any) -> None:
        if not self.enabled:
            return
        line = json.dumps({"event": event, "time": round(time.time(), 3), **fields})
        with open(self.path, "a") as stream:
            if stream.tell() and not self._ends_with_newline():
                stream.write("\n")  # end a line truncated by a kill
            stream.write(line + "\n")

    def _ends_with_newline(self) -> bool:
        with open(self.path, "rb") as stream:
            stream.seek(-1, 2)
            return stream.read(1) == b"\n"


def read_progress_log(path: str | Path) -> list[dict]:
    """All complete events of a progress log, oldest first; unparseable lines are skipped."""
    events = []
    path = Path(path)
    if not path.exists():
        return events
    for line in path.read_text().splitlines():
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events

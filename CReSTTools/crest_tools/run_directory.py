"""The RUN_DIR of a CReST training run: the shared resumable run folder
(:class:`sli2vol.io.run_folder.RunFolder`) with CReST's progress log, checkpoint and generations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sli2vol.errors import InputError
from sli2vol.io.run_folder import RunFolder

from .config import RunConfig
from .progress_log import LOG_NAME

CHECKPOINT_NAME = "checkpoint.pt"
GENERATION_PATTERN = "generation_*.pt"


class RunDirectory(RunFolder):
    """Paths and atomic I/O of one run folder.

    Files: ``config.json`` (the :class:`RunConfig`), ``progress.jsonl`` (see
    :mod:`crest_tools.progress_log`), ``checkpoint.pt`` (latest state, to resume),
    ``generation_<g>.pt`` (EMA model and metrics at the end of generation g).
    """

    def __init__(self, path: str | Path) -> None:
        super().__init__(path, disposable=(LOG_NAME,), owned=(CHECKPOINT_NAME, GENERATION_PATTERN))
        self.log_path = self.path / LOG_NAME
        self.checkpoint_path = self.path / CHECKPOINT_NAME

    def generation_path(self, generation: int) -> Path:
        return self.path / f"generation_{generation}.pt"

    def load_config(self) -> RunConfig:
        try:
            return RunConfig.from_dict(self.load_config_dict())
        except (TypeError, ValueError) as exc:
            raise InputError(f"{self.config_path} is not a crest run configuration ({exc})") from None

    def load(self, path: Path, weights_only: bool = False) -> Any | None:
        """The object saved at ``path`` (numpy arrays included), or None when it does not exist."""
        return super().load(path, weights_only=weights_only)

    def last_generation(self) -> int:
        """Index of the last finished generation, or -1 when none has finished."""
        finished = [int(p.stem.split("_")[1]) for p in self.path.glob(GENERATION_PATTERN)]
        return max(finished, default=-1)

"""The RUN_DIR of a training run: its config, progress log and checkpoints, written atomically."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .config import RunConfig, config_differences


class RunDirectoryError(RuntimeError):
    """RUN_DIR cannot be used for the requested run."""


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` beside ``path``, then rename over ``path`` (os.replace)."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(Path(temporary))
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RunDirectory:
    """Paths and atomic I/O of one run folder.

    Files: ``config.json`` (the :class:`RunConfig`), ``progress.jsonl`` (see
    :mod:`crest_tools.progress_log`), ``checkpoint.pt`` (latest state, to resume),
    ``generation_<g>.pt`` (EMA model and metrics at the end of generation g).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config_path = self.path / "config.json"
        self.log_path = self.path / "progress.jsonl"
        self.checkpoint_path = self.path / "checkpoint.pt"

    def generation_path(self, generation: int) -> Path:
        return self.path / f"generation_{generation}.pt"

    def prepare(self, config: RunConfig) -> None:
        """Create the folder and write the config, or check that an existing one is identical.

        Raises:
            RunDirectoryError: the folder holds a run with a different config.
        """
        self.path.mkdir(parents=True, exist_ok=True)
        new = config.to_dict()
        if self.config_path.exists():
            differences = config_differences(json.loads(self.config_path.read_text()), new)
            if differences:
                raise RunDirectoryError(
                    f"{self.path} holds a run with a different config ({'; '.join(differences)}); "
                    "choose another RUN_DIR or repeat the original options to resume"
                )
            return
        _atomic_write(self.config_path, lambda tmp: tmp.write_text(json.dumps(new, indent=1)))

    def load_config(self) -> RunConfig:
        if not self.config_path.exists():
            raise RunDirectoryError(f"{self.path} is not a run folder: no config.json")
        return RunConfig.from_dict(json.loads(self.config_path.read_text()))

    def save(self, path: Path, state: Any) -> None:
        """torch.save ``state`` to ``path`` atomically: a kill leaves the old file or the new one."""
        _atomic_write(path, lambda tmp: torch.save(state, tmp))

    def load(self, path: Path) -> Any | None:
        """The object saved at ``path``, or None when it does not exist."""
        return torch.load(path, map_location="cpu", weights_only=False) if path.exists() else None

    def last_generation(self) -> int:
        """Index of the last finished generation, or -1 when none has finished."""
        finished = [int(p.stem.split("_")[1]) for p in self.path.glob("generation_*.pt")]
        return max(finished, default=-1)

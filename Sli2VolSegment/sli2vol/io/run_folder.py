"""A resumable run's folder (``sli2vol train --run-dir`` and ``crest train -o``): its configuration,
written once and compared on every resume, and checkpoints saved atomically.

A run started again in the same folder with the same configuration resumes; with another
configuration it is refused, naming every field that differs. A run that fails or is interrupted
before its first checkpoint leaves no folder or file behind.
"""
from __future__ import annotations

import contextlib
import json
import pickle
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from sli2vol.errors import InputError, ModelError, RunInterrupted, one_line
from sli2vol.io.atomic import atomic_path
from sli2vol.io.output_policy import check_writable_folder, created_folder

CONFIG_NAME = "config.json"


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> tuple[str, ...]:
    """Dotted names and values of the fields that differ between two nested config dicts."""
    differences = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            differences.extend(config_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            differences.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return tuple(differences)


class RunFolder:
    """Paths and atomic I/O of one run folder.

    ``disposable``: names of the files (besides ``config.json``) that mean nothing without a
    checkpoint (logs); ``owned``: glob patterns of every file the run writes, so that a folder
    holding such files but no ``config.json`` is refused rather than overwritten.
    """

    def __init__(self, path: str | Path, disposable: tuple = (), owned: tuple = ()):
        self.path = Path(path)
        self.config_path = self.path / CONFIG_NAME
        self.disposable = (CONFIG_NAME, *disposable)
        self.owned = (CONFIG_NAME, *disposable, *owned)

    def check(self, config) -> bool:
        """Whether starting ``config`` (a dict, or a config with ``to_dict()``) here resumes a run
        (True) or starts one (False); raises :class:`InputError` when the folder holds a run with
        another configuration, or files of a run without its configuration. Writes nothing."""
        if self.path.exists() and not self.path.is_dir():
            raise InputError(f"run folder {self.path} is a file")
        if not self.config_path.exists():
            strays = sorted(p.name for pattern in self.owned for p in self.path.glob(pattern))
            if strays:
                raise InputError(f"{self.path} holds {', '.join(strays)} but no {CONFIG_NAME}; "
                                 "it is not a run folder this command can resume; choose another folder")
            check_writable_folder(self.path, create=True)
            return False
        differences = config_differences(self.load_config_dict(), as_json(config))
        if differences:
            raise InputError(f"{self.path} holds a run with a different config ({'; '.join(differences)}); "
                             "choose another folder or repeat the original options to resume")
        return True

    def prepare(self, config) -> bool:
        """:meth:`check`, then create the folder and write ``config.json`` for a new run."""
        resumed = self.check(config)
        if not resumed:
            self._write_config(config)
        return resumed

    def _write_config(self, config) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.config_path) as tmp:
            tmp.write_text(json.dumps(as_json(config), indent=1))

    @contextlib.contextmanager
    def session(self, config) -> Iterator[bool]:
        """:meth:`prepare` and yield whether the run resumes. If the block fails before anything
        but the disposable files was written, those files and the folders created here are removed;
        Ctrl-C becomes :class:`RunInterrupted` saying what was kept."""
        resumed = self.check(config)  # before any folder is made: a bad RUN_DIR is one clear line
        with created_folder(self.path):
            if not resumed:
                self._write_config(config)
            try:
                yield resumed
            except BaseException as exc:
                kept = self.kept_files()
                if not kept and not resumed:
                    for name in self.disposable:
                        (self.path / name).unlink(missing_ok=True)
                if isinstance(exc, KeyboardInterrupt):
                    if kept:
                        raise RunInterrupted(f"interrupted; {self.path} keeps {', '.join(kept)}; "
                                             "run the same command again to resume") from None
                    raise RunInterrupted("interrupted before the first checkpoint; nothing was kept") \
                        from None
                if kept and isinstance(exc, (InputError, ModelError, OSError)):
                    raise type(exc)(f"{one_line(exc)}; {self.path} keeps {', '.join(kept)} "
                                    "(the same command resumes from there)") from exc
                raise

    def kept_files(self) -> list[str]:
        """Names of the run's files worth keeping (everything it owns except the disposable ones)."""
        names = {p.name for pattern in self.owned for p in self.path.glob(pattern)}
        return sorted(names - set(self.disposable))

    def load_config_dict(self) -> dict:
        if not self.config_path.is_file():
            raise InputError(f"{self.path} is not a run folder: no {CONFIG_NAME}")
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"{self.config_path} is unreadable or not JSON ({exc})") from None
        if not isinstance(config, dict):
            raise InputError(f"{self.config_path} does not hold a configuration object")
        return config

    def save(self, path: Path, state: Any) -> None:
        """torch.save ``state`` to ``path`` atomically: a kill leaves the old file or the new one."""
        with atomic_path(path) as tmp:
            torch.save(state, tmp)

    def load(self, path: Path, weights_only: bool = True) -> Any | None:
        """The object saved at ``path``, or None when it does not exist; :class:`ModelError` when the
        file is corrupt or not a checkpoint."""
        path = Path(path)
        if not path.exists():
            return None
        try:
            return torch.load(path, map_location="cpu", weights_only=weights_only)
        except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError, AttributeError, OSError) as exc:
            reason = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else type(exc).__name__
            raise ModelError(f"checkpoint {path} is unreadable: corrupt or not a checkpoint ({reason})") \
                from None


def as_json(config) -> dict:
    """``config`` (a dict, or a dataclass config with ``to_dict()``) as it reads back from JSON
    (tuples become lists), so comparisons are exact."""
    return json.loads(json.dumps(config.to_dict() if hasattr(config, "to_dict") else config))

"""The one overwrite policy of every command that writes (``sli2vol`` and ``crest``).

- an existing file is replaced only with ``--force``;
- an output is never one of the command's inputs, even with ``--force``;
- the folder to write into must exist (or be creatable) and be writable, checked before any work by
  creating and removing a uniquely named temporary file (never a fixed name);
- files are written atomically (:mod:`sli2vol.io.atomic`); folders a failed command created are removed.

Every check raises :class:`~sli2vol.errors.InputError` with one line naming the path and the reason.
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from sli2vol.errors import InputError


def same_file(a: str | Path, b: str | Path) -> bool:
    """True when ``a`` and ``b`` name the same file (same resolved path, or the same inode via links)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _nearest_existing(path: Path) -> Path:
    for candidate in (path, *path.parents):
        if candidate.exists():
            return candidate
    return Path(".")


def check_writable_folder(folder: str | Path, create: bool = False) -> Path:
    """``folder`` exists and accepts new files; with ``create``, it may be missing as long as its
    nearest existing ancestor is a writable folder (nothing is created here)."""
    folder = Path(folder) if str(folder) else Path(".")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder} is a file, not a folder")
    if not folder.exists():
        if not create:
            raise InputError(f"output folder {folder} does not exist")
        folder = _nearest_existing(folder)
        if not folder.is_dir():
            raise InputError(f"cannot create a folder inside {folder}: it is a file")
    try:
        fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
    except OSError as exc:
        raise InputError(f"cannot write to folder {folder}: {exc.strerror}") from None
    os.close(fd)
    os.unlink(probe)
    return folder


def check_output_file(path: str | Path, force: bool, inputs: Iterable[str | Path] = (),
                      suffixes: tuple | None = None, create_folder: bool = False) -> Path:
    """Refuse, before any work, an output file the command must not write.

    Args:
        path: the file to write.
        force: ``--force`` was given (an existing file may be replaced).
        inputs: files and folders the command reads; the output may be none of them.
        suffixes: accepted name endings (lower case, e.g. ``(".nii.gz", ".nrrd")``); None: any.
        create_folder: the command will create the file's folder if missing.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"output {path} is a folder; give a file name")
    for source in inputs:
        if source is not None and same_file(path, source):
            raise InputError(f"output {path} is also an input of this command; give another output name")
    if suffixes and not path.name.lower().endswith(tuple(suffixes)):
        raise InputError(f"output {path}: unsupported file type; use a name ending in {', '.join(suffixes)}")
    if path.exists() and not force:
        raise InputError(f"output {path} exists; use --force to replace it")
    check_writable_folder(path.parent, create=create_folder)
    return path


def check_output_folder(folder: str | Path, names: Iterable[str], force: bool,
                        inputs: Iterable[str | Path] = ()) -> Path:
    """A folder the command will create if needed and fill with files ``names``: each checked with
    :func:`check_output_file` (so existing ones need ``force`` and none may be an input)."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"output folder {folder} is a file; give a folder")
    inputs, names = list(inputs), list(names)
    for name in names:
        check_output_file(folder / name, force, inputs, create_folder=True)
    if not names:  # each file check above has already checked the folder
        check_writable_folder(folder, create=True)
    return folder


@contextlib.contextmanager
def created_folder(folder: str | Path, all_or_nothing: bool = False) -> Iterator[Path]:
    """Create ``folder`` (and missing parents); if the block fails, remove the folders created here
    that are then empty, so a failed command leaves no empty folder behind. With ``all_or_nothing``
    the files that appeared in ``folder`` during the block are removed first (a set of outputs that
    is only useful whole, such as the demo's)."""
    folder = Path(folder)
    new = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    folder.mkdir(parents=True, exist_ok=True)
    before = {p.name for p in folder.iterdir()}
    try:
        yield folder
    except BaseException:
        if all_or_nothing:
            for path in folder.iterdir():
                if path.name not in before and path.is_file():
                    path.unlink()
        for path in new:
            try:
                path.rmdir()
            except OSError:
                break
        raise

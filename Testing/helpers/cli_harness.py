"""Harness for the bad-input tables of both command lines (``sli2vol`` and ``crest``).

A refused command must: exit with the expected status, print exactly one line on stderr naming the
thing and the reason, leave every input byte-for-byte unchanged, and leave nothing behind (no new,
removed or changed file or folder under the watched roots). ``assert_refused`` checks all four.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Callable


@dataclass
class Outcome:
    status: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if line.strip()]


def run_cli(main: Callable[[list], int], argv: Iterable) -> Outcome:
    """Run a command line's ``main`` in this process, capturing stdout and stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([str(a) for a in argv])
    return Outcome(status, out.getvalue(), err.getvalue())


def snapshot(*roots: str | Path) -> dict[str, str]:
    """{path: sha256 of the content, or "<folder>"} for every file and folder under (and including)
    ``roots``."""
    found = {}
    for root in map(Path, roots):
        for path in [root, *sorted(root.rglob("*"))] if root.is_dir() else [root]:
            if path.is_dir():
                found[str(path)] = "<folder>"
            elif path.exists():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def assert_refused(main: Callable[[list], int], argv: Iterable, roots: Iterable[str | Path], status: int,
                   message: str, prog: str) -> Outcome:
    """Run ``argv`` and check the four promises of a refused command (see the module docstring)."""
    roots = list(roots)
    before = snapshot(*roots)
    outcome = run_cli(main, argv)
    lines = outcome.error_lines
    assert outcome.status == status, (outcome.status, outcome.stderr)
    assert len(lines) == 1, f"expected one line on stderr, got {lines}"
    assert lines[0].startswith(prog) and message in lines[0], lines[0]
    after = snapshot(*roots)
    assert after == before, {
        "new": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": sorted(k for k in set(before) & set(after) if before[k] != after[k]),
    }
    return outcome

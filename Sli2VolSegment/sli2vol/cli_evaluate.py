"""``sli2vol evaluate``: the paper's protocol on labelled volumes (filled in by the evaluation module)."""
from __future__ import annotations


def add_parsers(sub) -> None:
    return None

"""Rewrite one marked section of a markdown results file (``<!-- name:begin -->`` ... ``<!-- name:end -->``)."""
from __future__ import annotations

from pathlib import Path


def replace_section(path: str | Path, name: str, body: str) -> None:
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)

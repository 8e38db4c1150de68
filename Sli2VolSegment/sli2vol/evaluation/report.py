"""Evaluation summaries (Dice mean +- std per structure, dataset and target group; timings), their
markdown tables, and the results files of an evaluation folder."""
from __future__ import annotations

import json
import os
import platform
from pathlib import Path

import numpy as np
import torch

from sli2vol.errors import InputError
from sli2vol.evaluation.cases import HALVES, TARGET_GROUPS
from sli2vol.evaluation.overlays import OVERLAY_PATTERN, write_overlays
from sli2vol.io.atomic import atomic_path

RESULT_FILES = ("results.json", "results.md")


def _stats(values: list) -> dict:
    return {"n": len(values), "mean": float(np.mean(values)), "std": float(np.std(values))}


def _grouped(records: list, key) -> dict:
    """{key(record): {method: [dice, ...]}} in first-seen order; records whose key is None are left out."""
    out: dict = {}
    for r in records:
        k = key(r)
        if k is not None:
            out.setdefault(k, {}).setdefault(r["method"], []).append(r["dice"])
    return out


def _rows(grouped: dict) -> list:
    return [{"key": list(k) if isinstance(k, tuple) else k, "methods": {m: _stats(v) for m, v in by_m.items()}}
            for k, by_m in grouped.items()]


def _mean_of_means(rows: list, methods: list) -> dict:
    """Per method: mean and std over the rows' means (each structure or group counts once); methods
    without any row are left out."""
    means = {m: [row["methods"][m]["mean"] for row in rows if m in row["methods"]] for m in methods}
    return {m: _stats(v) for m, v in means.items() if v}


def summarise(records: list) -> dict:
    """Dice statistics of the records (one per case, structure and method) and per-method timings."""
    methods = list(dict.fromkeys(r["method"] for r in records))
    structures = _rows(_grouped(records, lambda r: (r["dataset"], r["structure"])))
    groups = _rows(_grouped(records, lambda r: r["group"]))
    groups.sort(key=lambda row: list(TARGET_GROUPS).index(row["key"]))
    seconds = {m: [r["seconds"] for r in records if r["method"] == m] for m in methods}
    return {
        "methods": methods,
        "per_structure": structures,
        "per_dataset": _rows(_grouped(records, lambda r: r["dataset"])),
        "target_groups": groups,
        "mean_over_structures": _mean_of_means(structures, methods),
        "mean_over_target_groups": _mean_of_means(groups, methods),
        "timings": {m: {"volumes": len(s), "mean_seconds": float(np.mean(s)), "total_seconds": float(np.sum(s))}
                    for m, s in seconds.items()},
    }


def by_half(records: list) -> dict:
    """{half: its records} for the halves of the dev-set split present in ``records``, in split order."""
    return {h: rs for h in HALVES if (rs := [r for r in records if r.get("half") == h])}


def _cell(stats: dict | None) -> str:
    return "-" if stats is None else f"{100 * stats['mean']:.1f} ± {100 * stats['std']:.1f}"


def _table(header: list, rows: list, methods: list, footer: tuple | None = None) -> list:
    """Markdown lines: one row per summary row (its key split over the header's leading columns)."""
    lines = ["| " + " | ".join(header + ["n"] + methods) + " |", "|" + "---|" * (len(header) + 1 + len(methods))]
    for row in rows:
        keys = row["key"] if isinstance(row["key"], list) else [row["key"]]
        n = max(s["n"] for s in row["methods"].values())
        lines.append("| " + " | ".join([*keys, str(n)] + [_cell(row["methods"].get(m)) for m in methods]) + " |")
    if footer is not None:
        label, stats = footer
        n = max((s["n"] for s in stats.values()), default=0)
        lines.append("| " + " | ".join([f"**{label}**"] + [""] * (len(header) - 1) + [str(n)]
                                       + [_cell(stats.get(m)) for m in methods]) + " |")
    return lines


def markdown_tables(summary: dict) -> str:
    """The summary as markdown: per structure, per dataset, target groups (Dice x 100), timings."""
    methods = summary["methods"]
    lines = [("Dice x 100, mean ± std over volumes (n = volumes; for the means over structures or groups, "
             "n = structures or groups and ± is their spread)."), "", "### Per structure", ""]
    lines += _table(["dataset", "structure"], summary["per_structure"], methods,
                    ("mean over structures", summary["mean_over_structures"]))
    lines += ["", "### Per dataset (all structures pooled)", ""]
    lines += _table(["dataset"], summary["per_dataset"], methods)
    lines += ["", "### Target groups (kidney = left + right kidney, adrenal = left + right adrenal)", ""]
    lines += _table(["group"], summary["target_groups"], methods,
                    ("mean over target groups", summary["mean_over_target_groups"]))
    lines += ["", "### Time per volume and structure", "", "| method | volumes | mean (s) | total (s) |", "|---|---|---|---|"]
    for m, t in summary["timings"].items():
        lines.append(f"| {m} | {t['volumes']} | {t['mean_seconds']:.2f} | {t['total_seconds']:.1f} |")
    return "\n".join(lines)


def machine_description() -> str:
    """CPU / GPU, core count and torch threads of this machine, in one line."""
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    cpu = platform.processor() or platform.machine()
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} threads, {gpu}"


def existing_overlays(folder: Path) -> list:
    """The overlays already in ``folder`` (an evaluation replaces them only with force; the result files
    themselves are checked by the output policy)."""
    return [f"overlays/{p.name}" for p in sorted((folder / "overlays").glob(OVERLAY_PATTERN))]


def write_json(folder: Path, meta: dict, records: list, complete: bool, overlays: list = ()) -> None:
    """results.json: meta, completion flag, summary, every record and the overlay file names."""
    body = {"meta": meta, "complete": complete, "summary": summarise(records) if records else None,
            "summary_by_half": {h: summarise(rs) for h, rs in by_half(records).items()},
            "records": records, "overlays": list(overlays)}
    with atomic_path(folder / "results.json") as tmp:
        tmp.write_text(json.dumps(body, indent=1), encoding="utf-8")


def results_markdown(meta: dict, records: list, overlays: list) -> str:
    """results.md: how the run was made, the tables (all cases, then each half of the split when
    both are present), links to the overlays."""
    summary = summarise(records)
    models = [f"- `{name}`: {m['path']} (sha256 {m['sha256']}, info {json.dumps(m['info'])})"
              for name, m in meta["models"].items()]
    lines = ["# Sli2Vol evaluation", "", f"Command: `{meta['command']}`", "",
             f"Started {meta['started']}, {meta['wall_seconds']:.0f} s; machine: {meta['machine']}.",
             f"Seed {meta['seed']}, slice axis {meta['axis']}; methods: "
             + ", ".join(f"`{m['name']}`" for m in meta["methods"]) + ".", "", "Models:", *models, "",
             markdown_tables(summary), ""]
    halves = by_half(records)
    if len(halves) > 1:
        for half, part in halves.items():
            cases = len({(r["dataset"], r["case_id"]) for r in part})
            lines += [f"## {half.capitalize()} half ({cases} cases)", "", markdown_tables(summarise(part)), ""]
    lines += ["### Worst cases (slice with the largest error)", ""]
    lines += [f"- [{name}](overlays/{name})" for name in overlays]
    return "\n".join(lines) + "\n"


def write_results(folder: Path, meta: dict, evaluation) -> None:
    """Write results.json, results.md and overlays/*.png of a finished evaluation into ``folder``."""
    if not evaluation.records:
        raise InputError("no structure was evaluated: no selected structure occurs in the cases' labels")
    overlays = write_overlays(evaluation.worst, folder / "overlays")
    write_json(folder, meta, evaluation.records, True, overlays)
    with atomic_path(folder / "results.md") as tmp:
        tmp.write_text(results_markdown(meta, evaluation.records, overlays), encoding="utf-8")

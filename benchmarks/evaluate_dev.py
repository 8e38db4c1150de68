"""Sli2Vol on the dev set (paper protocol): optical flow, ablations and the full method, into RESULTS.md.

Runs ``sli2vol evaluate`` on the labelled dev datasets of DATA_DIR (the shared manifest format; the
data stay where they are), writes the evaluation folder (default benchmarks/output/evaluate_dev,
not tracked; overwritten) and rewrites the sli2vol-eval section of benchmarks/RESULTS.md: tables
for all cases and for each half of the tuning / checking split, and the targets of issue 13 checked
on the checking half.

Usage: python benchmarks/evaluate_dev.py DATA_DIR [--model edge=EDGE.pt --model raw=RAW.pt]
       [--methods optical_flow improved] [--split all|tuning|checking] [--max-cases N] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from results_section import replace_section
from sli2vol.cli import main as sli2vol_main
from sli2vol.evaluation.cases import SPLITS
from sli2vol.evaluation.report import by_half, markdown_tables, summarise

HERE = Path(__file__).resolve().parent
DEV_DATASETS = ["btcv", "chaos_t2", "la2018", "mscmr_bssfp"]
TARGET_METHOD = "improved"  # the method (engine defaults) the targets are checked on
BASELINE = "optical_flow"
STRUCTURE_TARGETS = (  # (description, dataset or None for any, structure or target group, minimum Dice x 100)
    ("CHAOS T2 liver", "chaos_t2", "liver", 88), ("CHAOS T2 spleen", "chaos_t2", "spleen", 88),
    ("CHAOS T2 right kidney", "chaos_t2", "right kidney", 88), ("CHAOS T2 left kidney", "chaos_t2", "left kidney", 88),
    ("left atrium", None, "left atrium", 82), ("myocardium", None, "left ventricular myocardium", 65),
    ("pancreas", None, "pancreas", 60), ("gallbladder", None, "gallbladder", 72),
)
MEAN_TARGET = 82
MARGIN_OVER_BASELINE = 3


def _mean(row: dict, method: str) -> float | None:
    stats = row["methods"].get(method)
    return None if stats is None else 100 * stats["mean"]


def _verdict(value: float | None, ok: bool) -> str:
    return "not measured" if value is None else ("met" if ok else "**not met**")


def target_lines(summary: dict, method: str = TARGET_METHOD) -> list:
    """Issue 13's targets on ``summary`` for ``method``: one markdown bullet per target, marked met / not met."""
    rows = summary["per_structure"]
    lines = []
    behind = [(f"{d} {s}", _mean(r, method) - _mean(r, BASELINE)) for r in rows for d, s in [r["key"]]
              if _mean(r, method) is not None and _mean(r, BASELINE) is not None]
    short = [f"{name} {gap:+.1f}" for name, gap in behind if gap < MARGIN_OVER_BASELINE]
    lines.append(f"- every structure >= {MARGIN_OVER_BASELINE} points ahead of optical flow: "
                 f"{_verdict(behind and 0.0, not short)} ({len(behind) - len(short)} of {len(behind)} structures"
                 + (f"; short: {', '.join(short)}" if short else "") + ")")
    for description, dataset, name, minimum in STRUCTURE_TARGETS:
        found = [_mean(r, method) for r in rows for d, s in [r["key"]]
                 if (dataset is None or d == dataset) and s.lower().startswith(name)]
        value = None if not found or None in found else sum(found) / len(found)
        shown = "-" if value is None else f"{value:.1f}"
        lines.append(f"- {description} >= {minimum}: {shown} ({_verdict(value, value is not None and value >= minimum)})")
    mean = summary["mean_over_structures"].get(method)
    value = None if mean is None else 100 * mean["mean"]
    shown = "-" if value is None else f"{value:.1f}"
    lines.append(f"- mean over all structures >= {MEAN_TARGET}: {shown} "
                 f"({_verdict(value, value is not None and value >= MEAN_TARGET)})")
    return lines


def model_line(identity: dict) -> str:
    """File, hash, input and architecture, training steps and export notes of one model."""
    net, info = identity["network"], dict(identity["info"])
    planned = info.pop("train", {}).get("steps")
    notes = ", ".join(f"{k} {v}" for k, v in info.items())
    return (f"`{Path(identity['path']).name}` (sha256 {identity['sha256']}): {net.get('input_mode')} input, "
            f"{net.get('arch')} encoder, {planned} training steps planned; {notes or 'no export notes'}")


def _run_line(meta: dict, records: int) -> str:
    took = "was stopped early" if meta.get("wall_seconds") is None else f"took {meta['wall_seconds'] / 60:.0f} min"
    return f"`{meta['command']}`: started {meta['started']}, {took}, {records} results on {meta['machine']}."


def merged_results(paths: list) -> dict:
    """One result from several results.json files made with the same models: the records of each file
    replace those of the earlier files for the (dataset, structure, method) triples it covers (so a
    structure rerun with changed defaults, or a run stopped early and finished by another, gives one
    table). ``meta["runs"]`` lists every run with the number of results taken from it."""
    parts = [json.loads(Path(path).read_text(encoding="utf-8")) for path in paths]

    def key(record: dict) -> tuple:
        return record["dataset"], record["structure"], record["method"]

    records: list = []
    for k, part in enumerate(parts):
        covered = {key(r) for r in part["records"]}
        records = [r for r in records if key(r) not in covered] + [dict(r, run=k) for r in part["records"]]
    meta = dict(parts[-1]["meta"])
    meta["methods"] = list({m["name"]: m for part in parts for m in part["meta"]["methods"]}.values())
    meta["runs"] = [(part["meta"], sum(r["run"] == k for r in records)) for k, part in enumerate(parts)]
    meta["cases"] = sorted({f"{r['dataset']}/{r['case_id']}" for r in records})
    return {"meta": meta, "records": records}


def section(result: dict, command: str) -> str:
    """The RESULTS.md section: command(s), models, machine and time, targets, then the tables."""
    meta = result["meta"]
    models = [f"- `{name}`: {model_line(m)}" for name, m in meta["models"].items()]
    datasets = sorted({c.split("/")[0] for c in meta["cases"]})
    runs = meta.get("runs") or [(dict(meta, command=command), len(result["records"]))]
    lines = [
        "## Sli2Vol evaluation on the dev set (paper protocol)", "",
        f"`{command}`", "",
        (f"{len(meta['cases'])} labelled volumes ({', '.join(datasets)}); annotated slice drawn with seed "
        f"{meta['seed']} among the +-3 slices around the largest one along array axis {meta['axis']}; "
        "3-D Dice per volume."), "",
        *(f"- {_run_line(run, n)}" for run, n in runs if n), "",
        "Methods: " + ", ".join(f"`{m['name']}` ({m['model'] or 'OpenCV DIS optical flow'}"
                                + (", verification" if m["verification"] else "") + ")" for m in meta["methods"]) + ".",
        "", "Models:", *models, "",
    ]
    halves = by_half(result["records"])
    checked = halves.get("checking")
    lines += [f"### Targets (issue 13) on the checking half, method `{TARGET_METHOD}`", ""]
    lines += target_lines(summarise(checked)) if checked else ["(the checking half was not evaluated)"]
    for half, records in halves.items():
        cases = len({(r["dataset"], r["case_id"]) for r in records})
        lines += ["", f"### {half.capitalize()} half ({cases} cases, split seed {meta.get('split_seed', 0)})", "",
                  markdown_tables(summarise(records)).replace("\n### ", "\n#### ")]
    if len(halves) > 1:
        lines += ["", "### Both halves", "", markdown_tables(summarise(result["records"])).replace("\n### ", "\n#### ")]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", help="folder with manifest.json (e.g. ../shared/data)")
    p.add_argument("--from-results", nargs="+", metavar="RESULTS_JSON",
                   help="do not evaluate: rebuild the section from these results.json files (see merged_results)")
    p.add_argument("--model", action="append", metavar="NAME=PATH",
                   help="edge=... and raw=... for the paper's ablation (default: the bundled model)")
    p.add_argument("--methods", nargs="+", help="methods to run (default: those the models allow)")
    p.add_argument("--split", choices=SPLITS, default="all", help="half of the dev set to evaluate")
    p.add_argument("--max-cases", type=int, help="at most this many cases per dataset")
    p.add_argument("--datasets", nargs="+", default=DEV_DATASETS)
    p.add_argument("--structures", nargs="+", help="label ids, structure or group names (default: all)")
    p.add_argument("--out", default=str(HERE / "output" / "evaluate_dev"), help="evaluation folder (overwritten)")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file whose section is rewritten")
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (per worker)")
    p.add_argument("--workers", type=int, help="cases evaluated at once in separate processes")
    args = p.parse_args()
    command = shlex.join(["python", "benchmarks/evaluate_dev.py", *sys.argv[1:]])
    if args.from_results:
        replace_section(args.results, "sli2vol-eval", section(merged_results(args.from_results), command))
        print(f"rewrote the sli2vol-eval section of {args.results}")
        return 0
    if args.data is None:
        p.error("give DATA_DIR (or --from-results)")
    argv = ["evaluate", args.data, "-o", args.out, "--force", "--datasets", *args.datasets, "--split", args.split]
    for value in args.model or []:
        argv += ["--model", value]
    for flag, values in (("--structures", args.structures), ("--methods", args.methods)):
        if values:
            argv += [flag, *values]
    for flag, value in (("--max-cases", args.max_cases), ("--device", args.device), ("--threads", args.threads),
                        ("--workers", args.workers)):
        if value is not None:
            argv += [flag, str(value)]
    rc = sli2vol_main(argv)
    if rc:
        return rc
    result = json.loads((Path(args.out) / "results.json").read_text(encoding="utf-8"))
    replace_section(args.results, "sli2vol-eval", section(result, command))
    print(f"rewrote the sli2vol-eval section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

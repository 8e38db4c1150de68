"""Sli2Vol on the dev set (paper protocol): optical flow, ablations and the full method, into RESULTS.md.

Runs ``sli2vol evaluate`` on the labelled dev datasets of DATA_DIR (the shared manifest format; the
data stay where they are), writes the evaluation folder (default benchmarks/output/evaluate_dev,
not tracked; overwritten) and rewrites the sli2vol-eval section of benchmarks/RESULTS.md.

Usage: python benchmarks/evaluate_dev.py DATA_DIR --model edge=EDGE.pt --model raw=RAW.pt [--max-cases N] [--workers N]
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from results_section import replace_section
from sli2vol.cli import main as sli2vol_main
from sli2vol.evaluation.report import markdown_tables

HERE = Path(__file__).resolve().parent
DEV_DATASETS = ["btcv", "chaos_t2", "la2018", "mscmr_bssfp"]
TARGETS = ("Targets (issue 3, Dice x 100): liver >= 91, spleen >= 90, kidney >= 91, pancreas >= 58, "
           "gallbladder >= 69, adrenal >= 49, left atrium >= 81, mean over structures >= 80; paper (Table 1, "
           "full method) mean 78.2, optical flow 48.6.")


def model_line(identity: dict) -> str:
    """File, hash, input and architecture, training steps and export notes of one model."""
    net, info = identity["network"], dict(identity["info"])
    planned = info.pop("train", {}).get("steps")
    notes = ", ".join(f"{k} {v}" for k, v in info.items())
    return (f"`{Path(identity['path']).name}` (sha256 {identity['sha256']}): {net.get('input_mode')} input, "
            f"{net.get('arch')} encoder, {planned} training steps planned; {notes or 'no export notes'}")


def section(result: dict, command: str) -> str:
    """The RESULTS.md section: command, models, machine and time, then the tables."""
    meta = result["meta"]
    models = [f"- `{name}`: {model_line(m)}" for name, m in meta["models"].items()]
    datasets = sorted({c.split("/")[0] for c in meta["cases"]})
    lines = [
        "## Sli2Vol evaluation on the dev set (paper protocol)", "",
        f"`{command}`", "",
        (f"{len(meta['cases'])} labelled volumes ({', '.join(datasets)}); annotated slice drawn with seed "
        f"{meta['seed']} among the +-3 slices around the largest one along array axis {meta['axis']}; "
        "3-D Dice per volume."),
        f"Run started {meta['started']}, took {meta['wall_seconds'] / 60:.0f} min on {meta['machine']}.", "",
        "Methods: " + ", ".join(f"`{m['name']}` ({m['model'] or 'OpenCV DIS optical flow'}"
                                + (", verification" if m["verification"] else "") + ")" for m in meta["methods"]) + ".",
        "", "Models:", *models, "", TARGETS, "",
        markdown_tables(result["summary"]),
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="folder with manifest.json (e.g. ../shared/data)")
    p.add_argument("--model", action="append", required=True, metavar="NAME=PATH", help="edge=... and raw=...")
    p.add_argument("--max-cases", type=int, help="at most this many cases per dataset")
    p.add_argument("--datasets", nargs="+", default=DEV_DATASETS)
    p.add_argument("--structures", nargs="+", help="label ids, structure or group names (default: all)")
    p.add_argument("--out", default=str(HERE / "output" / "evaluate_dev"), help="evaluation folder (overwritten)")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"), help="markdown file whose section is rewritten")
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (per worker)")
    p.add_argument("--workers", type=int, help="cases evaluated at once in separate processes")
    args = p.parse_args()
    argv = ["evaluate", args.data, "-o", args.out, "--force", "--datasets", *args.datasets]
    for value in args.model:
        argv += ["--model", value]
    if args.structures:
        argv += ["--structures", *args.structures]
    for flag, value in (("--max-cases", args.max_cases), ("--device", args.device), ("--threads", args.threads),
                        ("--workers", args.workers)):
        if value is not None:
            argv += [flag, str(value)]
    rc = sli2vol_main(argv)
    if rc:
        return rc
    result = json.loads((Path(args.out) / "results.json").read_text(encoding="utf-8"))
    command = shlex.join(["python", "benchmarks/evaluate_dev.py", *sys.argv[1:]])
    replace_section(args.results, "sli2vol-eval", section(result, command))
    print(f"rewrote the sli2vol-eval section of {args.results}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Engine variants side by side on one half of the dev set (paper protocol): which setting helps where.

Each variant is the engine defaults with a few options changed (see VARIANTS); optical flow can be
added as the baseline. Writes results.json, results.md and worst-case overlays into --out.

Usage: python benchmarks/propagation_variants.py DATA_DIR --datasets mscmr_bssfp --split tuning
       --variants defaults fill_holes [--optical-flow] [--structures ...] [--max-cases N] --out FOLDER
"""
from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import time
from functools import partial
from pathlib import Path

import torch
from sli2vol.engine.propagation import PropagationConfig
from sli2vol.engine.verification import VerificationConfig
from sli2vol.evaluation.cases import SPLITS, cases_from_manifest
from sli2vol.evaluation.methods import (
    OPTICAL_FLOW,
    model_identity,
    optical_flow_predictor,
    propagation_predictor,
)
from sli2vol.evaluation.protocol import EvaluationConfig, evaluate
from sli2vol.evaluation.report import machine_description, markdown_tables, summarise, write_results
from sli2vol.io.model_io import load_model
from sli2vol.training.adaptation import AdaptationConfig

VARIANTS = {  # name -> PropagationConfig options changed from the defaults
    "defaults": {},
    "fill_holes": {"verification": VerificationConfig(keep_holes=False)},  # the engine before issue 13
    "no_verification": {"verification": VerificationConfig(enabled=False)},
    "no_zoom": {"min_structure_px": 0, "max_slice_step_px": 0.0},
    "adapt40": {"adaptation": AdaptationConfig(steps=40)},
    "adapt40_lr1e-3": {"adaptation": AdaptationConfig(steps=40, lr=1e-3)},
    "no_growth_test": {"verification": VerificationConfig(growth_z=0.0)},
    "no_min_zoom": {"min_structure_px": 0},
    "step2": {"max_slice_step_px": 2.0},
    "boundary2": {"boundary_px": 2},
    "ref_previous": {"verification": VerificationConfig(reference="previous")},
    "rule_mean": {"verification": VerificationConfig(rule="mean")},
    "rule_mean_previous": {"verification": VerificationConfig(rule="mean", reference="previous")},
    "ref_previous_no_growth": {"verification": VerificationConfig(reference="previous", growth_z=0.0)},
    "no_convex": {"verification": VerificationConfig(convex_solidity=0.0)},  # the defaults before convex masks
    "convex0.9": {"verification": VerificationConfig(convex_solidity=0.9)},
    "convex0.98": {"verification": VerificationConfig(convex_solidity=0.98)},
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="folder with manifest.json")
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=["defaults"])
    p.add_argument("--optical-flow", action="store_true", help="add the optical-flow baseline")
    p.add_argument("--datasets", nargs="+")
    p.add_argument("--structures", nargs="+")
    p.add_argument("--split", choices=SPLITS, default="tuning")
    p.add_argument("--max-cases", type=int)
    p.add_argument("--model", help="model file (default: the bundled model)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="output folder")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    cases = cases_from_manifest(args.data, args.datasets, args.max_cases, args.split)
    model = load_model(args.model)
    predictors = {OPTICAL_FLOW: optical_flow_predictor} if args.optical_flow else {}
    for name in args.variants:
        predictors[name] = propagation_predictor(model, partial(PropagationConfig, **VARIANTS[name]))
    meta = {"command": shlex.join(["python", "benchmarks/propagation_variants.py", *sys.argv[1:]]),
            "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "machine": machine_description(), "seed": 0, "axis": 0, "split": args.split,
            "methods": [{"name": n} for n in predictors], "models": {"model": model_identity(args.model, model)},
            "cases": [f"{c.dataset}/{c.case_id}" for c in cases]}
    start = time.perf_counter()
    result = evaluate(cases, predictors, EvaluationConfig(structures=args.structures),
                      progress=lambda description, _: print(description, flush=True))
    meta["wall_seconds"] = time.perf_counter() - start
    write_results(Path(args.out), meta, result)
    print(markdown_tables(summarise(result.records)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

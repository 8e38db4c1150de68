"""``sli2vol evaluate``: the paper's protocol on labelled volumes, baselines and ablations in one run."""
from __future__ import annotations

import datetime
import shlex
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch
from tqdm import tqdm

from sli2vol.cli.options import (
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    POSITIVE_INT,
    add_device_and_threads,
    set_threads,
)
from sli2vol.errors import InputError, ModelError, RunInterrupted, one_line
from sli2vol.evaluation.cases import (
    SPLITS,
    cases_from_manifest,
    cases_from_pairs,
    select_split,
    select_structures,
)
from sli2vol.evaluation.methods import build_predictors, method_specs
from sli2vol.evaluation.parallel import evaluate_in_workers
from sli2vol.evaluation.protocol import EvaluationConfig, count_units, evaluate
from sli2vol.evaluation.report import (
    RESULT_FILES,
    existing_overlays,
    machine_description,
    markdown_tables,
    summarise,
    write_json,
    write_results,
)
from sli2vol.io.output_policy import check_output_folder, created_folder
from sli2vol.training.adaptation import DEFAULT_ADAPT_STEPS, AdaptationConfig


def parse_models(values: list | None) -> dict:
    """{name: path} from ``NAME=PATH`` (or a bare ``PATH``, named "model"); none: the bundled default."""
    if not values:
        return {"default": None}
    models = {}
    for value in values:
        name, _, path = value.partition("=") if "=" in value else ("model", "", value)
        if not name or name in models:
            raise InputError(f"--model {value!r}: give each model once as NAME=PATH (names so far: {sorted(models)})")
        if not Path(path).is_file():
            raise InputError(f"--model {value!r}: model file not found: {path}")
        models[name] = path
    return models


def output_folder(path: str, force: bool, inputs: list) -> Path:
    """The output folder (created later); refuses one that already holds results unless ``force``,
    and one whose result files would be any of the ``inputs``."""
    folder = check_output_folder(path, RESULT_FILES, force, inputs)
    found = existing_overlays(folder)
    if found and not force:
        raise InputError(f"output folder {folder} already holds {', '.join(found[:3])}"
                         f"{' ...' if len(found) > 3 else ''}; use --force to replace them")
    return folder


def load_cases(args) -> list:
    if (args.data is None) == (not args.pair):
        raise InputError("give either a data folder with manifest.json or --pair IMAGE LABEL (one or more), not both")
    if args.data is not None:
        cases = cases_from_manifest(args.data, args.datasets, args.max_cases, args.split, args.split_seed)
    else:
        cases = select_split(cases_from_pairs(args.pair, args.split_seed), args.split, args.max_cases)
    if not cases:
        raise InputError("no labelled case to evaluate")
    return cases


def run_description(args, specs: list, identities: dict, cases: list) -> dict:
    """What results.json and results.md record about the run (``wall_seconds`` is added at the end)."""
    return {
        "command": shlex.join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_description(), "seed": args.seed, "axis": args.axis,
        "split": args.split, "split_seed": args.split_seed,
        "methods": [asdict(s) for s in specs], "models": identities,
        "cases": [f"{c.dataset}/{c.case_id}" for c in cases],
    }


def run_evaluate(args) -> int:
    config = EvaluationConfig(axis=args.axis, seed=args.seed, structures=args.structures, worst=args.worst)
    models = parse_models(args.model)
    specs = method_specs(models, args.methods)
    cases = load_cases(args)
    inputs = [p for c in cases for p in (c.image, c.label)] + [p for p in models.values() if p]
    folder = output_folder(args.output, args.force, inputs)
    units = count_units(cases, args.structures)
    if units == 0:
        raise InputError(f"no structure of the {len(cases)} cases matches --structures {args.structures}")
    set_threads(args.threads)
    adaptation = AdaptationConfig(steps=args.adapt_steps, seconds=args.adapt_seconds)
    predictors, identities = build_predictors(specs, models, args.device, adaptation)
    meta = run_description(args, specs, identities, cases)
    meta["adaptation"] = asdict(adaptation)
    bar = tqdm(total=units, unit="structure", desc="evaluating", disable=args.quiet)
    done = []  # records written to results.json so far

    def progress(description: str, so_far) -> None:
        write_json(folder, meta, so_far.records, complete=False)
        done[:] = so_far.records
        bar.set_postfix_str(description, refresh=False)
        bar.update()

    def case_done(case, records: list) -> None:
        write_json(folder, meta, records, complete=False)
        done[:] = records
        bar.set_postfix_str(case.case_id, refresh=False)
        bar.update(len(select_structures(case, args.structures)))

    start = time.perf_counter()
    with created_folder(folder):
        try:
            if args.workers == 1:
                result = evaluate(cases, predictors, config, progress)
            else:
                threads = args.threads if isinstance(args.threads, int) else \
                    max(1, torch.get_num_threads() // args.workers)
                result = evaluate_in_workers(cases, specs, models, config, args.workers, threads, args.device,
                                             case_done, adaptation)
        except KeyboardInterrupt:
            if not done:
                raise
            raise RunInterrupted(f"interrupted after {len(done)} of {units * len(specs)} results; they are kept "
                                 f"in {folder / 'results.json'} (marked incomplete)") from None
        except (InputError, ModelError, OSError) as exc:
            if not done:
                raise
            raise type(exc)(f"{one_line(exc)}; the {len(done)} results before it are kept in "
                            f"{folder / 'results.json'} (marked incomplete)") from exc
        finally:
            bar.close()
    meta["wall_seconds"] = time.perf_counter() - start
    write_results(folder, meta, result)
    if not args.quiet:
        print(markdown_tables(summarise(result.records)))
    print(f"wrote {folder / 'results.md'}, {folder / 'results.json'} and overlays/ ({len(result.records)} results)")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("evaluate", help="the paper's protocol on labelled volumes: Dice per structure and method")
    p.add_argument("data", nargs="?", help="folder with manifest.json (shared manifest format)")
    p.add_argument("--pair", nargs=2, action="append", metavar=("IMAGE", "LABEL"), help="an image and its labels")
    p.add_argument("-o", "--output", required=True, help="output folder (results.json, results.md, overlays/)")
    p.add_argument("--force", action="store_true", help="replace results already in the output folder")
    p.add_argument("--model", action="append", metavar="NAME=PATH",
                   help="a model to evaluate (repeatable; 'edge' and 'raw' give the paper's ablation)")
    p.add_argument("--methods", nargs="+", help="methods to run (default: optical_flow and the variants the models allow)")
    p.add_argument("--datasets", nargs="+", help="datasets of the manifest to use (default: all labelled)")
    p.add_argument("--structures", nargs="+", help="label ids, structure names or target groups (e.g. kidney)")
    p.add_argument("--split", choices=SPLITS, default="all",
                   help="one half of each dataset's cases (tune on one, check on the other) or all")
    p.add_argument("--split-seed", type=NON_NEGATIVE_INT, default=0, help="seed of the tuning / checking split")
    p.add_argument("--max-cases", type=POSITIVE_INT, help="at most this many cases per dataset (after --split)")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=0, help="global seed of the annotated-slice draw")
    p.add_argument("--axis", type=int, choices=(0, 1, 2), default=0, help="array axis of the annotated slice (0 = k)")
    p.add_argument("--worst", type=NON_NEGATIVE_INT, default=3,
                   help="overlay PNGs of this many lowest-Dice cases per method and dataset")
    p.add_argument("--adapt-steps", type=NON_NEGATIVE_INT, default=DEFAULT_ADAPT_STEPS,
                   help="per-scan adaptation steps of the improved+adapt method")
    p.add_argument("--adapt-seconds", type=NON_NEGATIVE_FLOAT, default=0.0,
                   help="time cap of that adaptation per structure (0: none)")
    add_device_and_threads(p, "CPU threads for torch, per worker: a number, or 'auto' (default: the idle cores, "
                              "divided among the workers)", threads_default=None)
    p.add_argument("--workers", type=POSITIVE_INT, default=1, help="cases evaluated at once in separate processes")
    p.add_argument("--quiet", action="store_true", help="no progress bar or tables on the terminal")
    p.set_defaults(run=run_evaluate)

"""Does the core's per-slice confidence point at the slices worth checking? (dev set, paper protocol)

Per labelled case and structure: annotate one slice as ``sli2vol evaluate`` does (drawn near the
largest one, axis 0), propagate it with the bundled model and the default engine, and record for
every propagated slice its confidence and its Dice against the ground truth. Prints and writes into
benchmarks/RESULTS.md (section ``sli2vol-confidence``):

- Spearman rank correlation of confidence and per-slice Dice over all propagated slices (pooled),
  and its median over structures;
- per structure (>= 10 propagated slices): how many of the 5 worst-Dice slices are among the 5
  lowest-confidence slices, next to two baselines: the 5 slices farthest from the annotation and 5
  random slices (expected value).

Per-slice records go to OUT (JSON lines, one line per structure; an existing file is resumed).

Usage: python benchmarks/confidence.py DATA_DIR [--datasets btcv ...] [--max-cases N] [--out FILE] [--threads 1]
       python benchmarks/confidence.py DATA_DIR --from-records A.jsonl B.jsonl  (summarise finished records)
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
from results_section import replace_section
from scipy.stats import spearmanr
from sli2vol import PropagationConfig, load_model, propagate_volume_with_confidence
from sli2vol.engine.confidence import check_order
from sli2vol.evaluation.cases import cases_from_manifest, load_case
from sli2vol.evaluation.protocol import annotated_slice, slice_rng
from sli2vol.metrics import dice

HERE = Path(__file__).resolve().parent
DEV_DATASETS = ["btcv", "chaos_t2", "la2018", "mscmr_bssfp"]
TOP = 5  # slices a user checks
MIN_SLICES = 10  # structures with fewer propagated slices are left out of the top-5 figures
AXIS = 0


def structure_record(case, volume, label: int, name: str, model, seed: int) -> dict:
    """Confidence and Dice of every propagated slice of one structure."""
    truth = volume.labels == label
    index, _ = annotated_slice(truth, AXIS, slice_rng(seed, case.case_id, label))
    annotation = np.zeros(truth.shape, np.uint8)
    annotation[index] = truth[index]
    result = propagate_volume_with_confidence(volume.image, annotation, volume.spacing, model,
                                              PropagationConfig(axis=AXIS, labels=[1]))
    slices = sorted(result.confidence[1])
    return {
        "case_id": case.case_id, "dataset": case.dataset, "label": label, "structure": name, "annotated": index,
        "slices": slices, "confidence": [result.confidence[1][k] for k in slices],
        "dice": [dice(result.labels[k] == 1, truth[k]) for k in slices],
    }


def top_overlap(record: dict, order: list) -> int:
    """How many of the TOP worst-Dice slices are among the first TOP slice indices of ``order``."""
    worst = {record["slices"][i] for i in np.argsort(record["dice"], kind="stable")[:TOP]}
    return len(worst & set(order[:TOP]))


def confidence_order(record: dict) -> list:
    """The record's slices in the order the Slicer logic proposes them for checking."""
    return check_order(dict(zip(record["slices"], record["confidence"])), [record["annotated"]])


def distance_order(record: dict) -> list:
    return sorted(record["slices"], key=lambda k: -abs(k - record["annotated"]))


def summarize(records: list) -> dict:
    conf = np.concatenate([r["confidence"] for r in records])
    dices = np.concatenate([r["dice"] for r in records])
    per_structure = [spearmanr(r["confidence"], r["dice"])[0] for r in records if len(r["slices"]) >= MIN_SLICES]
    ranked = [r for r in records if len(r["slices"]) >= MIN_SLICES]
    by_confidence = [top_overlap(r, confidence_order(r)) for r in ranked]
    by_distance = [top_overlap(r, distance_order(r)) for r in ranked]
    random_expected = [TOP * TOP / len(r["slices"]) for r in ranked]
    return {
        "structures": len(records), "slices": int(conf.size),
        "spearman_pooled": float(spearmanr(conf, dices)[0]),
        "spearman_per_structure_median": float(np.nanmedian(per_structure)),
        "ranked_structures": len(ranked),
        "found_by_confidence": float(np.mean(by_confidence)) / TOP,
        "found_by_distance": float(np.mean(by_distance)) / TOP,
        "found_at_random": float(np.mean(random_expected)) / TOP,
        "majority_found": float(np.mean([k >= 3 for k in by_confidence])),
    }


def section(records: list, command: str, meta: dict) -> str:
    s = summarize(records)
    datasets = sorted({r["dataset"] for r in records})
    cases = {d: sorted({r["case_id"] for r in records if r["dataset"] == d}) for d in datasets}
    rows = []
    for d in datasets:
        part = summarize([r for r in records if r["dataset"] == d])
        rows.append(f"| {d} | {len(cases[d])} | {part['structures']} | {part['slices']} | {part['spearman_pooled']:.3f} | "
                    f"{part['found_by_confidence']:.2f} | {part['found_by_distance']:.2f} | {part['found_at_random']:.2f} |")
    return "\n".join([
        "## Sli2Vol per-slice confidence (where to check)", "",
        f"`{command}`", "",
        (f"{sum(len(c) for c in cases.values())} labelled volumes ("
         + ", ".join(f"{d} {len(c)}" for d, c in cases.items())
         + f"), {s['structures']} structures, {s['slices']} propagated slices; one annotated slice per structure "
         f"drawn as in the dev-set evaluation (seed {meta['seed']}, axis 0); bundled model, default engine; top-{TOP} "
         f"figures per structure (each structure is one propagation). "
         f"{meta['time']}"), "",
        ("Confidence of a slice: the minimum, over the slices from the annotation to it, of the local confidence = "
        "sharpness of the warped probabilities (mean |2p-1| where the slice was decided) x agreement (IoU) of the "
        "output mask with the network's own mask (low when verification removed much or the two directions between "
        "anchors disagree); slices are proposed lowest first, ties farthest from the annotation first "
        "(`sli2vol.engine.confidence`). The chaining and the tie rule were chosen on the first 4 volumes (one per "
        "dataset), which are part of the figures below."), "",
        "| measure | value |", "|---|---|",
        f"| Spearman rank correlation confidence vs per-slice Dice, all propagated slices pooled | {s['spearman_pooled']:.3f} |",
        f"| same, median over structures (>= {MIN_SLICES} slices) | {s['spearman_per_structure_median']:.3f} |",
        (f"| of the {TOP} worst-Dice slices of a structure, share among its {TOP} lowest-confidence slices "
        f"({s['ranked_structures']} structures) | {s['found_by_confidence']:.2f} |"),
        f"| structures where the {TOP} lowest-confidence slices hold >= 3 of the {TOP} worst | {s['majority_found']:.2f} |",
        f"| baseline: the {TOP} slices farthest from the annotation | {s['found_by_distance']:.2f} |",
        f"| baseline: {TOP} random slices (expected) | {s['found_at_random']:.2f} |",
        "",
        (f"| dataset | volumes | structures | slices | Spearman (pooled) | worst {TOP} found by confidence | by distance | "
        "random |"),
        "|---|---|---|---|---|---|---|---|",
        *rows,
    ])


def read_records(paths: list) -> dict:
    """{(case id, label): record} of JSON-lines files (later files win)."""
    records = {}
    for path in paths:
        if Path(path).exists():
            for line in Path(path).read_text().splitlines():
                r = json.loads(line)
                records[(r["case_id"], r["label"])] = r
    return records


def run(args) -> list:
    """Records of every selected case, computing the structures not yet in ``args.out``."""
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = read_records([out])
    model = load_model(None, "cpu")
    records = []
    for case in cases_from_manifest(args.data, args.datasets, args.max_cases):
        volume = None
        for label, name in case.structures.items():
            if (case.case_id, label) in done:
                records.append(done[(case.case_id, label)])
                continue
            volume = volume or load_case(case)
            if not (volume.labels == label).any():
                continue
            start = time.time()
            record = structure_record(case, volume, label, name, model, args.seed)
            record["seconds"] = time.time() - start
            records.append(record)
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{case.case_id} {name}: {len(record['slices'])} slices, {record['seconds']:.0f} s", flush=True)
    return records


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="folder with manifest.json (e.g. ../shared/data)")
    p.add_argument("--datasets", nargs="+", default=DEV_DATASETS)
    p.add_argument("--max-cases", type=int, default=None, help="first N cases of each dataset")
    p.add_argument("--out", default=str(HERE / "output" / "confidence.jsonl"), help="per-structure records (resumed)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--from-records", nargs="+", metavar="JSONL",
                   help="only summarise these record files (e.g. of runs stopped early or run in parallel)")
    p.add_argument("--time-note", default="", help="how long the runs took, for RESULTS.md")
    p.add_argument("--no-results", action="store_true", help="do not rewrite benchmarks/RESULTS.md")
    args = p.parse_args()
    records = list(read_records(args.from_records).values()) if args.from_records else run(args)
    if not records:
        p.error(f"no records to summarise (files: {args.from_records or args.out})")
    print(json.dumps(summarize(records), indent=1))
    note = args.time_note or (f"{sum(r.get('seconds', 0) for r in records) / 60:.0f} min of propagation on "
                              f"{platform.machine()}, torch {torch.__version__} with {args.threads} thread(s), "
                              "shared with other jobs.")
    command = "python benchmarks/" + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    if not args.no_results:
        replace_section(HERE / "RESULTS.md", "sli2vol-confidence", section(records, command, {"seed": args.seed,
                                                                                            "time": note}))
    return 0


if __name__ == "__main__":
    sys.exit(main())

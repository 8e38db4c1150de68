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
"""
from __future__ import annotations

import argparse
import json
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


def section(summary: dict, command: str, meta: dict) -> str:
    s = summary
    return "\n".join([
        "## Sli2Vol per-slice confidence (where to check)", "",
        f"`{command}`", "",
        (f"{meta['cases']} labelled volumes ({', '.join(meta['datasets'])}), {s['structures']} structures, "
         f"{s['slices']} propagated slices; one annotated slice per structure drawn as in the dev-set evaluation "
         f"(seed {meta['seed']}, axis 0); bundled model, default engine; {meta['minutes']:.0f} min on "
         f"{meta['machine']} (shared with other jobs)."), "",
        "Confidence of a slice: the minimum, over the slices from the annotation to it, of the local confidence = "
        "sharpness of the warped probabilities (mean |2p-1| where the slice was decided) x agreement (IoU) of the "
        "output mask with the network's own mask (low when verification removed much or the two directions between "
        "anchors disagree); slices are proposed lowest first, ties farthest from the annotation first "
        "(`sli2vol.engine.confidence`).", "",
        "| measure | value |", "|---|---|",
        f"| Spearman rank correlation confidence vs per-slice Dice, all propagated slices pooled | {s['spearman_pooled']:.3f} |",
        f"| same, median over structures (>= {MIN_SLICES} slices) | {s['spearman_per_structure_median']:.3f} |",
        f"| of the {TOP} worst-Dice slices of a structure, share among its {TOP} lowest-confidence slices "
        f"({s['ranked_structures']} structures) | {s['found_by_confidence']:.2f} |",
        f"| structures where the {TOP} lowest-confidence slices hold >= 3 of the {TOP} worst | {s['majority_found']:.2f} |",
        f"| baseline: the {TOP} slices farthest from the annotation | {s['found_by_distance']:.2f} |",
        f"| baseline: {TOP} random slices (expected) | {s['found_at_random']:.2f} |",
    ])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", help="folder with manifest.json (e.g. ../shared/data)")
    p.add_argument("--datasets", nargs="+", default=DEV_DATASETS)
    p.add_argument("--max-cases", type=int, default=None, help="first N cases of each dataset")
    p.add_argument("--out", default=str(HERE / "output" / "confidence.jsonl"), help="per-structure records (resumed)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-results", action="store_true", help="do not rewrite benchmarks/RESULTS.md")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = {}
    if out.exists():
        for line in out.read_text().splitlines():
            r = json.loads(line)
            done[(r["case_id"], r["label"])] = r
    model = load_model(None, "cpu")
    cases = cases_from_manifest(args.data, args.datasets, args.max_cases)
    start = time.time()
    records = []
    for case in cases:
        todo = [(lab, name) for lab, name in case.structures.items() if (case.case_id, lab) not in done]
        volume = load_case(case) if todo else None
        for label, name in case.structures.items():
            if (case.case_id, label) in done:
                records.append(done[(case.case_id, label)])
                continue
            if not (volume.labels == label).any():
                continue
            record = structure_record(case, volume, label, name, model, args.seed)
            records.append(record)
            with out.open("a") as f:
                f.write(json.dumps(record) + "\n")
            print(f"{case.case_id} {name}: {len(record['slices'])} slices, {time.time() - start:.0f} s", flush=True)
    summary = summarize(records)
    print(json.dumps(summary, indent=1))
    import platform

    meta = {"cases": len(cases), "datasets": args.datasets, "seed": args.seed, "minutes": (time.time() - start) / 60,
            "machine": f"{platform.machine()}, torch {torch.__version__} with {args.threads} thread(s)"}
    command = "python benchmarks/" + " ".join(shlex.quote(a) for a in [Path(sys.argv[0]).name, *sys.argv[1:]])
    if not args.no_results:
        replace_section(HERE / "RESULTS.md", "sli2vol-confidence", section(summary, command, meta))
    return 0


if __name__ == "__main__":
    sys.exit(main())

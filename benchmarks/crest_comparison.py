"""Shared driver of the CReST benchmarks: train FixMatch / CReST / CReST+ over seeds, summarise, report.

Each run goes through the real command line (``crest_tools.cli.main``) into its own RUN_DIR under a
work folder, so an interrupted benchmark resumes where it stopped when started again.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from crest_tools.cli import main as crest_main
from crest_tools.dataset_format import load_dataset
from crest_tools.progress_log import read_progress_log
from crest_tools.run_directory import RunDirectory

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
METHODS = ("fixmatch", "crest", "crest+")
RAREST = 3  # classes averaged for the tail recall


SMALL_CNN_OPTIONS = [
    "--architecture",
    "small_cnn",
    "--width",
    "16",
    "--depth",
    "1",
    "--batch-size",
    "32",
    "--unlabelled-ratio",
    "3",
    "--checkpoint-interval",
    "200",
]


@dataclass
class Schedule:
    """Equal total training steps: FixMatch gets ``generations * steps`` steps in one generation."""

    generations: int
    steps: int
    train_options: Sequence[str]  # further ``crest train`` options (model, batch, flips...)

    def options(self, method: str) -> list[str]:
        generations, steps = (
            (1, self.generations * self.steps) if method == "fixmatch" else (self.generations, self.steps)
        )
        return [
            "--method",
            method,
            "--generations",
            str(generations),
            "--steps",
            str(steps),
            *self.train_options,
        ]


def cpu_schedule(*extra_options: str) -> Schedule:
    """The benchmarks' schedule: a small CNN, 3 generations x 800 steps (2400 for FixMatch).

    It fits the 2-core CPU budget; 6 x 400 (tried first, seed 0) left every generation too short to
    predict the rarest classes at all, so CReST could pick none of them.
    """
    return Schedule(generations=3, steps=800, train_options=[*SMALL_CNN_OPTIONS, *extra_options])


def training_seconds(events: list[dict]) -> float:
    """Time spent training: the spans from each "start" / "resume" event to the last event before
    the next one, summed (time between a kill and the resume does not count)."""
    total, segment_start, last = 0.0, None, None
    for event in events:
        if event["event"] in ("start", "resume"):
            if segment_start is not None:
                total += last - segment_start
            segment_start = event["time"]
        last = event["time"]
    return total + (last - segment_start if segment_start is not None else 0.0)


def run_comparison(
    dataset_for_seed: Callable[[int], Path], work: Path, seeds: Sequence[int], schedule: Schedule
) -> dict[str, list[dict]]:
    """Train every method for every seed (resuming finished or interrupted runs); results per method.

    Returns:
        method -> one dict per seed: "history" (per generation), "rarest" class ids, "seconds" of
        training (see :func:`training_seconds`).
    """
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    for seed in seeds:
        dataset = dataset_for_seed(seed)
        rarest = np.argsort(load_dataset(dataset).labelled_counts(), kind="stable")[:RAREST].tolist()
        for method in METHODS:
            run = work / f"seed{seed}" / method.replace("+", "_plus")
            status = crest_main(
                [
                    "train",
                    str(dataset),
                    "-o",
                    str(run),
                    "--seed",
                    str(seed),
                    "--threads",
                    "1",
                    "--no-progress",
                    *schedule.options(method),
                ]
            )
            if status:
                raise RuntimeError(f"crest train failed for {run}")
            run_dir = RunDirectory(run)
            history = [
                run_dir.load(run_dir.generation_path(g))["result"]
                for g in range(run_dir.last_generation() + 1)
            ]
            seconds = training_seconds(read_progress_log(run_dir.log_path))
            results[method].append({"history": history, "rarest": rarest, "seconds": seconds})
            print(
                f"seed {seed} {method}: balanced accuracy {100 * history[-1]['balanced_accuracy']:.1f} "
                f"(LA {100 * history[-1]['balanced_accuracy_la']:.1f}) in {seconds:.0f} s",
                flush=True,
            )
    return results


def _mean_std(values: Sequence[float]) -> str:
    return f"{100 * np.mean(values):.1f} ± {100 * np.std(values):.1f}"


def _final(run: dict, key: str) -> float:
    return run["history"][-1][key]


def _rarest_recall(run: dict, key: str) -> float:
    return float(np.mean([run["history"][-1][key][c] for c in run["rarest"]]))


def summary_table(results: dict[str, list[dict]]) -> str:
    """Markdown table: balanced accuracy and rarest-3 recall, plain and logit-adjusted, mean ± std."""
    lines = [
        "| method | balanced acc. | balanced acc. + LA | rarest-3 recall | rarest-3 recall + LA |",
        "|---|---|---|---|---|",
    ]
    names = {"fixmatch": "FixMatch", "crest": "CReST", "crest+": "CReST+"}
    for method, runs in results.items():
        cells = [
            _mean_std([_final(r, "balanced_accuracy") for r in runs]),
            _mean_std([_final(r, "balanced_accuracy_la") for r in runs]),
            _mean_std([_rarest_recall(r, "recall") for r in runs]),
            _mean_std([_rarest_recall(r, "recall_la") for r in runs]),
        ]
        lines.append(f"| {names[method]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def per_generation_table(results: dict[str, list[dict]]) -> str:
    """Markdown table of mean test balanced accuracy per generation for the multi-generation methods."""
    rows = []
    for method in ("crest", "crest+"):
        curves = np.array([[g["balanced_accuracy"] for g in r["history"]] for r in results[method]])
        rows.append(f"| {method} | " + " | ".join(f"{100 * v:.1f}" for v in curves.mean(axis=0)) + " |")
    generations = len(results["crest"][0]["history"])
    header = "| method | " + " | ".join(f"gen {g}" for g in range(generations)) + " |"
    return "\n".join([header, "|---" * (generations + 1) + "|", *rows])


def _gain(results: dict[str, list[dict]], metric: Callable[[dict, str], float], key: str) -> float:
    """Mean over seeds of CReST+ minus mean of FixMatch, in points."""
    return 100 * (
        np.mean([metric(r, key) for r in results["crest+"]])
        - np.mean([metric(r, key) for r in results["fixmatch"]])
    )


def target_lines(results: dict[str, list[dict]]) -> str:
    """Whether CReST+ beats FixMatch by >= 8 balanced-accuracy points and >= 20 rarest-3 recall points."""
    lines = []
    for suffix, label in (("", "plain"), ("_la", "both with LA")):
        accuracy = _gain(results, _final, "balanced_accuracy" + suffix)
        rarest = _gain(results, _rarest_recall, "recall" + suffix)
        lines.append(
            f"- CReST+ minus FixMatch ({label}): balanced accuracy {accuracy:+.1f} points "
            f"(target +8: {'met' if accuracy >= 8 else 'not met'}), rarest-3 recall {rarest:+.1f} points "
            f"(target +20: {'met' if rarest >= 20 else 'not met'})"
        )
    return "\n".join(lines)


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        model = re.search(r"model name\s*:\s*(.*)", Path("/proc/cpuinfo").read_text())
        cpu = model.group(1) if model else cpu
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, torch {torch.__version__}, 1 torch thread per run"


def write_report(
    name: str,
    heading: str,
    command: str,
    setup: str,
    results: dict[str, list[dict]],
    seeds: Sequence[int],
    schedule: Schedule,
) -> None:
    """Write a benchmark's section: settings, summary table, targets, accuracy per generation."""
    minutes = sum(r["seconds"] for runs in results.values() for r in runs) / 60
    write_section(
        name,
        f"""
### {heading}

Command: `{command}` ({minutes:.0f} min of training in all, runs one after another, on
{machine_description()}; the cores were shared with other jobs, so this is an upper bound).
{setup.strip()}
Seeds {list(seeds)} (a seed draws the data subset and the labelled split, and seeds training).
CReST and CReST+: {schedule.generations} generations x {schedule.steps} steps; FixMatch: one run of
{schedule.generations * schedule.steps} steps (equal total). Options: `{" ".join(schedule.train_options)}`;
threshold 0.95, alpha 1/3, t_min 0.5. Test metrics of the last generation's EMA model, mean ± std
over seeds, in %; LA = logit adjustment with the labelled prior; rarest-3 = the three classes with
the fewest labelled images.

{summary_table(results)}

{target_lines(results)}

Mean test balanced accuracy (plain) per generation:

{per_generation_table(results)}
""",
    )


def write_section(name: str, text: str) -> None:
    """Replace the ``<!-- crest-NAME -->`` section inside the crest block of RESULTS.md (added if absent)."""
    content = RESULTS.read_text()
    begin, end = "<!-- crest:begin -->", "<!-- crest:end -->"
    if begin not in content or end not in content:
        raise RuntimeError(f"{RESULTS} lacks the markers {begin} / {end}")
    head, rest = content.split(begin, 1)
    block, tail = rest.split(end, 1)
    start, stop = f"<!-- crest-{name}:begin -->", f"<!-- crest-{name}:end -->"
    section = f"{start}\n{text.strip()}\n{stop}"
    if start in block:
        before, after = block.split(start, 1)
        block = before + section + after.split(stop, 1)[1]
    else:
        block = block.rstrip("\n") + "\n" + section + "\n"
    RESULTS.write_text(head + begin + block + end + tail)

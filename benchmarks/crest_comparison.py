"""Shared driver of the CReST benchmarks: train FixMatch / CReST / CReST+ over seeds, summarise, report.

Each run goes through the real command line (``crest_tools.cli.main``) into its own RUN_DIR under a
work folder, so an interrupted benchmark resumes where it stopped when started again.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import crest_report as report
import numpy as np
import torch
from crest_tools.cli import main as crest_main
from crest_tools.dataset_format import load_dataset
from crest_tools.progress_log import read_progress_log
from crest_tools.run_directory import RunDirectory

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
RAREST = 3  # classes averaged for the tail recall
PAPER_GENERATIONS = 6  # CReST+ in the paper (t from 1 to 0.5 over the generations)


def small_cnn_options(width: int = 16, depth: int = 1) -> list[str]:
    """``crest train`` options of the benchmarks: the small CNN (``width`` channels in the first stage,
    ``depth`` convolutions per stage), batch 32, 3 unlabelled per labelled, a checkpoint every 200 steps."""
    return ["--architecture", "small_cnn", "--width", str(width), "--depth", str(depth),
            "--batch-size", "32", "--unlabelled-ratio", "3", "--checkpoint-interval", "200"]


@dataclass(frozen=True)
class Row:
    """One line of the comparison: a ``crest train`` run per seed in ``work/seed<s>/<folder>``."""

    name: str
    folder: str
    method: str
    generations: int
    steps: int  # per generation
    extra_options: tuple[str, ...] = ()
    deviation: bool = False  # not in the paper

    @property
    def compute(self) -> int:
        """Training steps in all (generations x steps)."""
        return self.generations * self.steps

    def options(self, train_options: Sequence[str]) -> list[str]:
        return [
            "--method",
            self.method,
            "--generations",
            str(self.generations),
            "--steps",
            str(self.steps),
            *train_options,
            *self.extra_options,
        ]


@dataclass
class Protocol:
    """The paper's protocol: FixMatch(S) against CReST / CReST+ with S steps in EVERY generation.

    Controls at equal compute: FixMatch(G x S) (and both FixMatch rows with logit adjustment, the
    "+ LA" columns). ``evidence_steps``: further FixMatch lengths, trained only when asked, that
    show whether the generation-0 model recalls the rarest classes at all for a given S.
    """

    steps: int
    generations: int
    train_options: Sequence[str]  # further ``crest train`` options (model, batch, flips...)
    evidence_steps: Sequence[int] = ()

    def rows(self) -> list[Row]:
        """The rows in training order (most important first, so a partial benchmark says most)."""
        s, g = self.steps, self.generations
        la_picks = ("--pick-from", "logit-adjusted")
        return [
            Row("FixMatch(S)", "fixmatch_S", "fixmatch", 1, s),
            Row("CReST+", "crest_plus", "crest+", g, s),
            Row(f"FixMatch({g}xS)", "fixmatch_GxS", "fixmatch", 1, g * s),
            Row("CReST+, picks from LA predictions", "crest_plus_la_picks", "crest+", g, s, la_picks, True),
            Row("CReST", "crest", "crest", g, s),
            Row(f"CReST+ ({PAPER_GENERATIONS} generations, as the paper)", "crest_plus_6g", "crest+",
                PAPER_GENERATIONS, s),
            Row("CReST+, warm start from the previous EMA model", "crest_plus_warm", "crest+", g, s,
                ("--warm-start",), True),
        ]

    def evidence_rows(self) -> list[Row]:
        return [Row(f"FixMatch({n})", f"fixmatch_{n}", "fixmatch", 1, n) for n in self.evidence_steps]


def cpu_protocol(*extra_options: str, width: int = 16, depth: int = 1) -> Protocol:
    """The benchmarks' protocol on the CPU: a small CNN, S = 2400 steps, CReST / CReST+ 3 generations.

    S: on Fashion-MNIST-LT (seed 0) FixMatch(800) recalls the rarest class (Ankle boot) 2% and
    FixMatch(2400) 24%, the three rarest 19% and 54% on average (RESULTS.md); CReST can only pick
    classes the generation-0 model predicts. G = 3 (the paper: 6) to fit the CPU budget: an earlier
    3 x 2400 CReST+ curve had flattened (71.0 -> 72.5 -> 72.6, seed 0, another class order); the
    natural-order one has not (68.3 -> 70.5 -> 71.7, seeds 0 and 1). ``width`` and ``depth``: the CNN's
    size (see :func:`small_cnn_options`).
    """
    options = [*small_cnn_options(width, depth), *extra_options]
    return Protocol(steps=2400, generations=3, train_options=options)


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


def train_seed(
    dataset: Path, work: Path, seed: int, rows: Sequence[Row], train_options: Sequence[str]
) -> None:
    """Train (or resume, or skip when finished) every row for one seed, in order."""
    for row in rows:
        run = work / f"seed{seed}" / row.folder
        command = [
            "train",
            str(dataset),
            "-o",
            str(run),
            "--seed",
            str(seed),
            "--threads",
            "1",
            "--no-progress",
        ]
        if crest_main([*command, *row.options(train_options)]):
            raise RuntimeError(f"crest train failed for {run}")
        print(f"seed {seed} {row.name}: done", flush=True)


def collect(
    dataset_for_seed: Callable[[int], Path], work: Path, seeds: Sequence[int], rows: Sequence[Row]
) -> dict:
    """What has finished: row name -> list of per-seed dicts ("seed", "history" of the finished
    generations, "complete", "rarest" class ids, "seconds" of training). Seeds without a run are left out."""
    results: dict[str, list[dict]] = {row.name: [] for row in rows}
    for seed in seeds:
        run_dirs = {row.name: RunDirectory(work / f"seed{seed}" / row.folder) for row in rows}
        if not any(r.last_generation() >= 0 for r in run_dirs.values()):
            continue
        rarest = np.argsort(load_dataset(dataset_for_seed(seed)).labelled_counts(), kind="stable")[:RAREST]
        for row in rows:
            run_dir = run_dirs[row.name]
            last = run_dir.last_generation()
            if last < 0:
                continue
            history = [run_dir.load(run_dir.generation_path(g))["result"] for g in range(last + 1)]
            results[row.name].append(
                {
                    "seed": seed,
                    "history": history,
                    "complete": last == row.generations - 1,
                    "rarest": rarest.tolist(),
                    "seconds": training_seconds(read_progress_log(run_dir.log_path)),
                }
            )
    return results


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
    dataset_for_seed: Callable[[int], Path],
    args: argparse.Namespace,
    protocol: Protocol,
) -> None:
    """Write a benchmark's RESULTS.md section and figure from the runs finished under ``args.work``."""
    rows, evidence = protocol.rows(), protocol.evidence_rows()
    baseline = next(row for row in rows if row.folder == "fixmatch_S")
    results = collect(dataset_for_seed, args.work, args.seeds, [*rows, *evidence])
    seeds = sorted({r["seed"] for runs in results.values() for r in runs})
    first = load_dataset(dataset_for_seed(seeds[0])) if seeds else None
    class_names = first.class_names if first else []
    order = np.argsort(-first.labelled_counts(), kind="stable").tolist() if first else []
    minutes = sum(r["seconds"] for runs in results.values() for r in runs) / 60
    figure = RESULTS.parent / "figures" / f"crest_{name}_generations.png"
    drawn = report.save_generation_figure(results, rows, figure)
    g, s = protocol.generations, protocol.steps
    train = " ".join(protocol.train_options)
    work = f" --work {args.work}"
    write_section(
        name,
        f"""
### {heading}

Commands (one background process per seed, or per seed and row with `--rows FOLDER ...`; re-running
one resumes it): `{command} --seeds 0 --evidence-steps {" ".join(map(str, protocol.evidence_steps)) or "800"}{work}`,
`{command} --seeds 1{work}`, `{command} --seeds 2{work}`, then `{command} --report --seeds 0 1 2{work}`.
{minutes:.0f} min of training in all so far (summed over the runs; report written on {machine_description()});
where each run trained is stated below the section. {setup.strip()} Seeds {seeds} have runs (a seed
draws the data subset and the labelled split, and seeds training).

Protocol of the paper: FixMatch(S) is the baseline; CReST and CReST+ train {g} generations of S = {s}
steps EACH (fresh model per generation), so they cost {g}x FixMatch(S); FixMatch({g}xS) is the
compute-matched control. Options `{train}`; threshold 0.95, alpha 1/3, CReST+ t from 1 to 0.5 over
the {g} generations. Test metrics of the last generation's EMA model in %, mean ± std over the seeds
whose run is complete; LA = logit adjustment with the class distribution of the labelled set the
generation trained on (original + picks, as the reference does); rarest-3 = the three classes with
the fewest labelled images.

{report.summary_table(results, rows)}

{report.target_lines(results, rows)}

Logit adjustment with the generation's labelled prior (the reference) against the original prior:

{report.la_prior_table(results, rows)}

Per-class test recall (plain), classes from most to least frequent (labelled counts of seed {seeds[:1]}):

{report.recall_table(results, [*rows, *evidence], class_names, order, "recall")}

Per-class test recall with LA:

{report.recall_table(results, rows, class_names, order, "recall_la")}

Per generation (mean over the seeds that finished it; picks = those chosen after the generation for
the next one; labelled imbalance = largest / smallest class count):

{report.generation_table(results, rows)}

{f"![balanced accuracy per generation](figures/{figure.name})" if drawn else "(no figure yet)"}

Choice of S (generation 0 must predict the rarest classes for CReST to pick any):

{report.evidence_table(results, [baseline, *evidence], class_names)}
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


def run_benchmark(
    description: str,
    default_work: Path,
    dataset_for_seed: Callable[[argparse.Namespace, int], Path],
    protocol: Protocol,
    name: str,
    heading: str,
    command: str,
    setup: str,
    extra_arguments: Callable[[argparse.ArgumentParser], None] = lambda parser: None,
) -> None:
    """Command line of a benchmark script: train the given seeds (resumable), or ``--report``."""
    parser = argparse.ArgumentParser(description=description)
    extra_arguments(parser)
    parser.add_argument("--work", type=Path, default=default_work, help="run folders and datasets")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument(
        "--evidence-steps", type=int, nargs="*", default=[], help="also train FixMatch for these S, first"
    )
    parser.add_argument(
        "--rows", nargs="+", metavar="FOLDER", help="train only these rows (run folder names, e.g. crest_plus)"
    )
    parser.add_argument("--report", action="store_true", help="write the RESULTS.md section, train nothing")
    args = parser.parse_args()
    protocol.evidence_steps = args.evidence_steps
    rows = [*protocol.evidence_rows(), *protocol.rows()]
    unknown = sorted(set(args.rows or []) - {row.folder for row in rows})
    if unknown:
        parser.error(f"unknown --rows {unknown}; choose from {[row.folder for row in rows]}")
    if args.rows:
        rows = [row for row in rows if row.folder in args.rows]
    if args.report:
        write_report(name, heading, command, setup, lambda seed: dataset_for_seed(args, seed), args, protocol)
        return
    for seed in args.seeds:
        dataset = dataset_for_seed(args, seed)
        train_seed(dataset, args.work, seed, rows, protocol.train_options)

"""Command line: ``crest train``, ``crest evaluate`` and ``crest predict``.

Run ``crest <command> --help`` for the options. Several GPUs: ``torchrun --nproc_per_node N -m
crest_tools.cli train ...`` (each process takes one GPU; only the first writes files).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import sys
from pathlib import Path

import numpy as np
from sli2vol.cli.boundary import OneLineParser, run_command
from sli2vol.cli.options import (
    FINITE_FLOAT,
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    UNIT_INTERVAL,
    Window,
    add_device_and_threads,
    number,
    set_threads,
)
from sli2vol.engine.device import select_device
from sli2vol.io.atomic import atomic_path
from sli2vol.io.output_policy import check_output_file, check_output_folder, created_folder

from .config import ARCHITECTURES, METHODS, PICK_SOURCES, CrestConfig, FixMatchConfig, ModelConfig, RunConfig
from .crest import CrestRun, evaluate_on_test
from .dataset_format import DatasetError, load_arrays, load_dataset, manifest_path, normalised_images
from .distributed import barrier, setup_placement
from .inference import LA_PRIORS, load_trained_model, predict_logits, softmax
from .metrics import logit_adjusted
from .plots import require_pyplot, save_accuracy_per_generation, save_confusion_matrix
from .run_directory import RunDirectory

UNIT_INTERVAL_OPEN_TOP = number(minimum=0.0, below=1.0)  # [0, 1)
EVALUATION_FILES = (
    "metrics.json",
    "confusion_matrix_plain.png",
    "confusion_matrix_la.png",
    "accuracy_per_generation.png",
)


def _train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train FixMatch / CReST / CReST+ on a dataset; resumes an interrupted RUN_DIR"
    )
    parser.add_argument("dataset", help="dataset folder or its manifest.json")
    parser.add_argument("-o", "--output", required=True, help="RUN_DIR: config, progress.jsonl, checkpoints")
    parser.add_argument("--method", choices=METHODS, default=CrestConfig.method)
    parser.add_argument(
        "--generations",
        type=POSITIVE_INT,
        default=CrestConfig.generations,
        help="CReST generations (fixmatch: 1)",
    )
    parser.add_argument(
        "--alpha", type=NON_NEGATIVE_FLOAT, default=CrestConfig.alpha, help="sampling-rate exponent"
    )
    parser.add_argument(
        "--t-min", type=UNIT_INTERVAL, default=CrestConfig.t_min, help="CReST+ final alignment temperature"
    )
    parser.add_argument(
        "--pick-from",
        choices=PICK_SOURCES,
        default=CrestConfig.pick_from,
        help="deviation from the paper: 'logit-adjusted' ranks picks on predictions adjusted by the labelled prior",
    )
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="deviation from the paper: a generation starts from the previous generation's EMA weights",
    )
    parser.add_argument(
        "--steps", type=POSITIVE_INT, default=FixMatchConfig.steps, help="training steps per generation"
    )
    parser.add_argument(
        "--batch-size", type=POSITIVE_INT, default=FixMatchConfig.batch_size, help="labelled images per step"
    )
    parser.add_argument(
        "--unlabelled-ratio",
        type=NON_NEGATIVE_INT,
        default=FixMatchConfig.unlabelled_ratio,
        help="mu: unlabelled per labelled image",
    )
    parser.add_argument(
        "--threshold",
        type=number(above=0.0, maximum=1.0),
        default=FixMatchConfig.threshold,
        help="pseudo-label confidence threshold",
    )
    parser.add_argument("--lr", type=POSITIVE_FLOAT, default=FixMatchConfig.lr)
    parser.add_argument("--weight-decay", type=NON_NEGATIVE_FLOAT, default=FixMatchConfig.weight_decay)
    parser.add_argument("--ema-decay", type=UNIT_INTERVAL_OPEN_TOP, default=FixMatchConfig.ema_decay)
    parser.add_argument("--da-momentum", type=UNIT_INTERVAL_OPEN_TOP, default=FixMatchConfig.da_momentum)
    parser.add_argument("--no-flip", action="store_true", help="no horizontal flips (lateralised anatomy)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default=ModelConfig.architecture)
    parser.add_argument("--width", type=POSITIVE_INT, default=ModelConfig.width)
    parser.add_argument("--depth", type=POSITIVE_INT, default=ModelConfig.depth)
    parser.add_argument("--seed", type=NON_NEGATIVE_INT, default=0)
    parser.add_argument(
        "--checkpoint-interval",
        type=POSITIVE_INT,
        default=RunConfig.checkpoint_interval,
        help="steps between checkpoints",
    )
    parser.add_argument(
        "--log-interval",
        type=POSITIVE_INT,
        default=RunConfig.log_interval,
        help="steps between progress-log lines",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_device_and_threads(parser)
    parser.set_defaults(run=command_train)


def _evaluate_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="test metrics, confusion matrices and accuracy per generation"
    )
    parser.add_argument("run_dir")
    parser.add_argument(
        "--generation", type=NON_NEGATIVE_INT, default=None, help="default: the last finished one"
    )
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        help="folder for metrics.json and figures (default RUN_DIR/evaluation)",
    )
    parser.add_argument("--force", action="store_true", help="replace an earlier evaluation's files")
    _add_la_prior_option(parser)
    add_device_and_threads(parser)
    parser.set_defaults(run=command_evaluate)


def _add_la_prior_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--la-prior",
        choices=LA_PRIORS,
        default=LA_PRIORS[0],
        help="logit-adjustment prior: the labelled set the generation trained on, original + picks "
        "(the reference), or the original labelled set",
    )


def _predict_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("predict", help="classify new images with a trained run")
    parser.add_argument("run_dir")
    parser.add_argument(
        "arrays", help="npz with 'images' (N, C, H, W), uint8 or float in [0, 1] (or see --window)"
    )
    parser.add_argument(
        "-o", "--output", required=True, help="CSV: index, class_id, class_name, confidence, p_<class>..."
    )
    parser.add_argument("--force", action="store_true", help="replace an existing CSV file (never an input)")
    parser.add_argument(
        "--window",
        type=FINITE_FLOAT,
        nargs=2,
        action=Window,
        metavar=("LO", "HI"),
        help="map float intensities LO..HI (LO < HI) to 0..1",
    )
    parser.add_argument(
        "--logit-adjustment", action="store_true", help="subtract log(labelled prior) from the logits"
    )
    parser.add_argument("--generation", type=NON_NEGATIVE_INT, default=None)
    _add_la_prior_option(parser)
    add_device_and_threads(parser)
    parser.set_defaults(run=command_predict)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="crest", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    _train_parser(commands)
    _evaluate_parser(commands)
    _predict_parser(commands)
    return parser


def run_config_from_args(args: argparse.Namespace) -> RunConfig:
    """The :class:`RunConfig` described by ``crest train`` arguments."""
    return RunConfig(
        dataset=str(manifest_path(args.dataset).resolve()),
        seed=args.seed,
        model=ModelConfig(args.architecture, args.width, args.depth),
        fixmatch=FixMatchConfig(
            steps=args.steps,
            batch_size=args.batch_size,
            unlabelled_ratio=args.unlabelled_ratio,
            threshold=args.threshold,
            lr=args.lr,
            weight_decay=args.weight_decay,
            ema_decay=args.ema_decay,
            da_momentum=args.da_momentum,
            flip=not args.no_flip,
        ),
        crest=CrestConfig(
            args.method, args.generations, args.alpha, args.t_min, args.pick_from, args.warm_start
        ),
        checkpoint_interval=args.checkpoint_interval,
        log_interval=args.log_interval,
    )


def command_train(args: argparse.Namespace) -> None:
    config = run_config_from_args(args)
    run_dir = RunDirectory(args.output)
    run_dir.check(config.to_dict())
    dataset = load_dataset(config.dataset)
    placement = setup_placement(args.device)
    set_threads(args.threads)
    with run_dir.session(config.to_dict()) if placement.is_main else contextlib.nullcontext():
        barrier(placement)
        history = CrestRun(config, dataset, run_dir, placement, show_progress=not args.no_progress).run()
    if placement.is_main:
        final = history[-1]
        print(
            f"balanced accuracy {100 * final['balanced_accuracy']:.1f}% "
            f"(logit-adjusted {100 * final['balanced_accuracy_la']:.1f}%) after {len(history)} generation(s)"
        )


def command_evaluate(args: argparse.Namespace) -> None:
    run_dir = RunDirectory(args.run_dir)
    config = run_dir.load_config()
    output = Path(args.output) if args.output else run_dir.path / "evaluation"
    inputs = [run_dir.config_path, config.dataset, *run_dir.path.glob("generation_*.pt")]
    check_output_folder(output, EVALUATION_FILES, args.force, inputs)
    require_pyplot()
    device = select_device(args.device)
    set_threads(args.threads)
    trained = load_trained_model(run_dir, device, args.generation)
    dataset = load_dataset(config.dataset)
    metrics = evaluate_on_test(
        trained.model, dataset, {"la": trained.logit_adjustment_prior(args.la_prior)}, device
    )
    history = [run_dir.load(run_dir.generation_path(g))["result"] for g in range(trained.generation + 1)]
    report = {
        "generation": trained.generation,
        "class_names": dataset.class_names,
        "la_prior": args.la_prior,
        **metrics,
        "history": history,
    }
    with created_folder(output):
        with atomic_path(output / EVALUATION_FILES[0]) as tmp:
            tmp.write_text(json.dumps(report, indent=1))
        for name, result in metrics.items():
            save_confusion_matrix(
                np.array(result["confusion"]),
                dataset.class_names,
                output / f"confusion_matrix_{name}.png",
                f"generation {trained.generation}, {'logit-adjusted' if name == 'la' else 'plain'}",
            )
        save_accuracy_per_generation(history, output / EVALUATION_FILES[3])
    _print_report(metrics, dataset.class_names)
    _print_picks(history[-1], dataset.class_names)
    print(f"figures and metrics.json in {output}")


def _print_report(metrics: dict, class_names: list[str]) -> None:
    plain, adjusted = metrics["plain"], metrics["la"]
    print(f"{'class':<28} {'recall':>7} {'precision':>9} {'recall LA':>9} {'prec. LA':>9}")
    for i, name in enumerate(class_names):
        values = (plain["recall"][i], plain["precision"][i], adjusted["recall"][i], adjusted["precision"][i])
        print(f"{name[:28]:<28} " + " ".join(f"{100 * v:>{w}.1f}" for v, w in zip(values, (7, 9, 9, 9))))
    print(
        f"balanced accuracy {100 * plain['balanced_accuracy']:.1f}% (logit-adjusted "
        f"{100 * adjusted['balanced_accuracy']:.1f}%), accuracy {100 * plain['accuracy']:.1f}% "
        f"({100 * adjusted['accuracy']:.1f}%)"
    )


def _print_picks(result: dict, class_names: list[str]) -> None:
    """The pick diagnostics of a generation (none after the last one of a run)."""
    if "predicted_per_class" not in result:
        return
    print(f"picks after generation {result['generation']}:")
    print(f"{'class':<28} {'predicted':>9} {'picked':>7} {'precision':>9}")
    for i, name in enumerate(class_names):
        precision = result["pick_precision_per_class"][i]
        shown = "-" if precision is None else f"{100 * precision:.1f}"
        print(
            f"{name[:28]:<28} {result['predicted_per_class'][i]:>9} {result['picked_per_class'][i]:>7} {shown:>9}"
        )
    print(
        f"labelled imbalance (largest / smallest class) {result['imbalance_before']:.0f} before the picks, "
        f"{result['imbalance_after']:.0f} after"
    )


def command_predict(args: argparse.Namespace) -> None:
    output = check_output_file(args.output, args.force, inputs=[args.arrays], suffixes=(".csv",))
    device = select_device(args.device)
    set_threads(args.threads)
    trained = load_trained_model(RunDirectory(args.run_dir), device, args.generation)
    arrays = load_arrays(args.arrays, required=("images",))
    images = normalised_images(arrays["images"], args.window, args.arrays)
    trained.check_images(images, args.arrays)
    logits = predict_logits(trained.model, images, device)
    if args.logit_adjustment:
        logits = logit_adjusted(logits, trained.logit_adjustment_prior(args.la_prior))
    probabilities = softmax(logits)
    with atomic_path(output) as tmp, open(tmp, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["index", "class_id", "class_name", "confidence"] + [f"p_{n}" for n in trained.class_names]
        )
        for index, row in enumerate(probabilities):
            best = int(row.argmax())
            writer.writerow(
                [index, best, trained.class_names[best], f"{row[best]:.4f}"] + [f"{p:.4f}" for p in row]
            )
    print(f"{len(probabilities)} predictions written to {output}")


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crest`` console script; returns the exit status (:mod:`sli2vol.errors`)."""
    return run_command("crest", build_parser(), argv, expected=(DatasetError,))


if __name__ == "__main__":
    sys.exit(main())

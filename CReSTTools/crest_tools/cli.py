"""Command line: ``crest train``, ``crest evaluate`` and ``crest predict``.

Run ``crest <command> --help`` for the options. Several GPUs: ``torchrun --nproc_per_node N -m
crest_tools.cli train ...`` (each process takes one GPU; only the first writes files).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import torch

from .config import ARCHITECTURES, METHODS, CrestConfig, FixMatchConfig, ModelConfig, RunConfig
from .crest import CrestRun, evaluate_on_test
from .dataset_format import DatasetError, load_arrays, load_dataset, manifest_path, normalised_images
from .distributed import barrier, resolve_device, setup_placement
from .inference import load_trained_model, predict_logits, softmax
from .metrics import logit_adjusted
from .plots import save_accuracy_per_generation, save_confusion_matrix
from .run_directory import RunDirectory, RunDirectoryError


def _add_device_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device", default="auto", help="'auto' (CUDA if present, else CPU), 'cpu', 'cuda', 'cuda:1'..."
    )
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's choice)"
    )


def _train_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train", help="train FixMatch / CReST / CReST+ on a dataset; resumes an interrupted RUN_DIR"
    )
    parser.add_argument("dataset", help="dataset folder or its manifest.json")
    parser.add_argument("-o", "--output", required=True, help="RUN_DIR: config, progress.jsonl, checkpoints")
    parser.add_argument("--method", choices=METHODS, default=CrestConfig.method)
    parser.add_argument(
        "--generations", type=int, default=CrestConfig.generations, help="CReST generations (fixmatch: 1)"
    )
    parser.add_argument("--alpha", type=float, default=CrestConfig.alpha, help="sampling-rate exponent")
    parser.add_argument(
        "--t-min", type=float, default=CrestConfig.t_min, help="CReST+ final alignment temperature"
    )
    parser.add_argument(
        "--steps", type=int, default=FixMatchConfig.steps, help="training steps per generation"
    )
    parser.add_argument(
        "--batch-size", type=int, default=FixMatchConfig.batch_size, help="labelled images per step"
    )
    parser.add_argument(
        "--unlabelled-ratio",
        type=int,
        default=FixMatchConfig.unlabelled_ratio,
        help="mu: unlabelled per labelled image",
    )
    parser.add_argument(
        "--threshold", type=float, default=FixMatchConfig.threshold, help="pseudo-label confidence threshold"
    )
    parser.add_argument("--lr", type=float, default=FixMatchConfig.lr)
    parser.add_argument("--weight-decay", type=float, default=FixMatchConfig.weight_decay)
    parser.add_argument("--ema-decay", type=float, default=FixMatchConfig.ema_decay)
    parser.add_argument("--da-momentum", type=float, default=FixMatchConfig.da_momentum)
    parser.add_argument("--no-flip", action="store_true", help="no horizontal flips (lateralised anatomy)")
    parser.add_argument("--architecture", choices=ARCHITECTURES, default=ModelConfig.architecture)
    parser.add_argument("--width", type=int, default=ModelConfig.width)
    parser.add_argument("--depth", type=int, default=ModelConfig.depth)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--checkpoint-interval",
        type=int,
        default=RunConfig.checkpoint_interval,
        help="steps between checkpoints",
    )
    parser.add_argument(
        "--log-interval", type=int, default=RunConfig.log_interval, help="steps between progress-log lines"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    _add_device_options(parser)


def _evaluate_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "evaluate", help="test metrics, confusion matrices and accuracy per generation"
    )
    parser.add_argument("run_dir")
    parser.add_argument("--generation", type=int, default=None, help="default: the last finished one")
    parser.add_argument(
        "-o",
        "--output",
        default=None,
        help="folder for metrics.json and figures (default RUN_DIR/evaluation)",
    )
    _add_device_options(parser)


def _predict_parser(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("predict", help="classify new images with a trained run")
    parser.add_argument("run_dir")
    parser.add_argument(
        "arrays", help="npz with 'images' (N, C, H, W), uint8 or float in [0, 1] (or see --window)"
    )
    parser.add_argument(
        "-o", "--output", required=True, help="CSV: index, class_id, class_name, confidence, p_<class>..."
    )
    parser.add_argument(
        "--window", type=float, nargs=2, metavar=("LO", "HI"), help="map float intensities LO..HI to 0..1"
    )
    parser.add_argument(
        "--logit-adjustment", action="store_true", help="subtract log(labelled prior) from the logits"
    )
    parser.add_argument("--generation", type=int, default=None)
    _add_device_options(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crest", description=__doc__.splitlines()[0])
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
        crest=CrestConfig(args.method, args.generations, args.alpha, args.t_min),
        checkpoint_interval=args.checkpoint_interval,
        log_interval=args.log_interval,
    )


def command_train(args: argparse.Namespace) -> None:
    config = run_config_from_args(args)
    dataset = load_dataset(config.dataset)
    placement = setup_placement(args.device)
    run_dir = RunDirectory(args.output)
    if placement.is_main:
        run_dir.prepare(config)
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
    device = resolve_device(args.device)
    trained = load_trained_model(run_dir, device, args.generation)
    dataset = load_dataset(config.dataset)
    metrics = evaluate_on_test(trained.model, dataset, trained.prior, device)
    output = Path(args.output) if args.output else run_dir.path / "evaluation"
    output.mkdir(parents=True, exist_ok=True)
    history = [run_dir.load(run_dir.generation_path(g))["result"] for g in range(trained.generation + 1)]
    (output / "metrics.json").write_text(
        json.dumps(
            {
                "generation": trained.generation,
                "class_names": dataset.class_names,
                **metrics,
                "history": history,
            },
            indent=1,
        )
    )
    for name, report in metrics.items():
        save_confusion_matrix(
            np.array(report["confusion"]),
            dataset.class_names,
            output / f"confusion_matrix_{name}.png",
            f"generation {trained.generation}, {'logit-adjusted' if name == 'la' else 'plain'}",
        )
    save_accuracy_per_generation(history, output / "accuracy_per_generation.png")
    _print_report(metrics, dataset.class_names)
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


def command_predict(args: argparse.Namespace) -> None:
    device = resolve_device(args.device)
    trained = load_trained_model(RunDirectory(args.run_dir), device, args.generation)
    images = normalised_images(load_arrays(args.arrays, required=("images",))["images"], args.window, args.arrays)
    logits = predict_logits(trained.model, images, device)
    if args.logit_adjustment:
        logits = logit_adjusted(logits, trained.prior)
    probabilities = softmax(logits)
    with open(args.output, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            ["index", "class_id", "class_name", "confidence"] + [f"p_{n}" for n in trained.class_names]
        )
        for index, row in enumerate(probabilities):
            best = int(row.argmax())
            writer.writerow(
                [index, best, trained.class_names[best], f"{row[best]:.4f}"] + [f"{p:.4f}" for p in row]
            )
    print(f"{len(probabilities)} predictions written to {args.output}")


COMMANDS = {"train": command_train, "evaluate": command_evaluate, "predict": command_predict}


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``crest`` console script; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        COMMANDS[args.command](args)
    except (DatasetError, RunDirectoryError, ValueError) as error:
        print(f"crest {args.command}: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

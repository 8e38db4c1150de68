"""``sli2vol train``: self-supervised training on unlabelled volumes, with checkpoints and resume;
``sli2vol export``: a run's checkpoint as a model file."""
from __future__ import annotations

import contextlib
import json
import os
import time

import torch
from tqdm import tqdm

from sli2vol.cli.options import (
    NON_NEGATIVE_INT,
    POSITIVE_FLOAT,
    POSITIVE_INT,
    add_device_and_threads,
    set_threads,
)
from sli2vol.engine.device import select_device
from sli2vol.engine.network import NetworkConfig
from sli2vol.io.output_policy import check_output_file
from sli2vol.training.pair_sampling import BALANCES, PairSamplingConfig
from sli2vol.training.trainer import TrainConfig, TrainingRun, export, load_checkpoint_encoder, train
from sli2vol.training.volumes import find_training_images, load_training_volume

MODEL_NAME = "model.pt"


def config_from_args(args) -> TrainConfig:
    network = NetworkConfig(arch=args.arch, input_mode=args.input, edge_kind=args.edge_kind, width=args.width,
                            feature_dim=args.feature_dim, window_radius_px=args.window_radius_px)
    sampling = PairSamplingConfig(crop=args.crop, balance=args.balance)
    return TrainConfig(
        network=network, sampling=sampling, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, checkpoint_every=args.checkpoint_every,
    )


def run_train(args) -> int:
    cfg = config_from_args(args)
    device = select_device(args.device)
    run = TrainingRun(args.run_dir)
    run.check(cfg.to_dict())
    paths = find_training_images(args.sources)
    # the run folder is created below; the folder of an explicit -o must exist
    output = check_output_file(args.output or run.path / MODEL_NAME, args.force, inputs=paths,
                               create_folder=args.output is None)
    main_process = os.environ.get("RANK", "0") == "0"
    torch.manual_seed(cfg.seed)
    set_threads(args.threads)
    loading = tqdm(paths, desc="loading", unit="volume", disable=args.quiet, leave=False)
    volumes = [load_training_volume(p) for p in loading]
    bar = tqdm(total=cfg.steps, desc="training", unit="step", disable=args.quiet or not main_process)

    def on_step(step: int, loss: float) -> None:
        bar.n = step
        bar.set_postfix(loss=f"{loss:.4f}")
        if step % 10 == 0:
            with run.loss_log.open("a") as f:
                f.write(json.dumps({"step": step, "loss": loss, "time": time.time()}) + "\n")

    with run.session(cfg.to_dict()) if main_process else contextlib.nullcontext():  # torchrun: rank 0 writes
        try:
            encoder = train(volumes, cfg, run.path, device, on_step)
        finally:
            bar.close()
    if not main_process:  # torchrun: rank 0 exports
        return 0
    state = run.load_state()  # step and time totals over every session of the run
    info = {"step": int(state["step"]), "train_seconds": float(state["elapsed"]),
            "volumes": [p.name for p in paths], "device": str(device)}
    export(encoder, cfg, output, info)
    print(f"exported {output}")
    return 0


def run_export(args) -> int:
    run = TrainingRun(args.run_dir)
    inputs = [run.config_path, args.checkpoint or run.checkpoint_path]
    output = check_output_file(args.output, args.force, inputs=inputs)
    encoder, cfg, step, elapsed = load_checkpoint_encoder(args.run_dir, args.checkpoint)
    export(encoder, cfg, output, {"step": step, "train_seconds": elapsed})
    print(f"exported {output} (step {step} of {cfg.steps})")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="self-supervised training on unlabelled volumes (resumable)")
    p.add_argument("sources", nargs="+",
                   help="volume files, folders, or a data manifest.json (labels unused)")
    p.add_argument("--run-dir", required=True,
                   help="folder for checkpoints; a run there with the same options is resumed, one with "
                        "other options refused")
    p.add_argument("-o", "--output", help=f"TorchScript model to export (default RUN_DIR/{MODEL_NAME})")
    p.add_argument("--force", action="store_true", help="replace an existing model file")
    p.add_argument("--steps", type=POSITIVE_INT, default=TrainConfig.steps)
    p.add_argument("--batch-size", type=POSITIVE_INT, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=POSITIVE_FLOAT, default=TrainConfig.lr)
    p.add_argument("--crop", type=POSITIVE_INT, default=PairSamplingConfig.crop,
                   help="training crop side in pixels (>= 16; even for the fast encoder)")
    p.add_argument("--seed", type=NON_NEGATIVE_INT, default=TrainConfig.seed)
    p.add_argument("--checkpoint-every", type=POSITIVE_INT, default=TrainConfig.checkpoint_every)
    p.add_argument("--arch", choices=("fast", "reference"), default="fast")
    p.add_argument("--input", choices=("edge", "raw"), default="edge", help="edge profile or raw intensity")
    p.add_argument("--edge-kind", choices=("paper", "reference"), default="paper")
    p.add_argument("--width", type=POSITIVE_INT, default=NetworkConfig.width, help="channels of the fast encoder")
    p.add_argument("--feature-dim", type=POSITIVE_INT, default=NetworkConfig.feature_dim,
                   help="feature channels of the fast encoder")
    p.add_argument("--window-radius-px", type=POSITIVE_INT, default=NetworkConfig.window_radius_px,
                   help="affinity window radius in full-resolution pixels")
    p.add_argument("--balance", choices=BALANCES, default=PairSamplingConfig.balance,
                   help="draw pairs from every volume equally often (volume) or from every folder, e.g. dataset, "
                        "equally often (folder)")
    add_device_and_threads(p)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run_train)

    e = sub.add_parser("export", help="export a training run's latest (or a given) checkpoint as a model")
    e.add_argument("run_dir", help="training run folder")
    e.add_argument("-o", "--output", required=True, help="TorchScript model file to write")
    e.add_argument("--force", action="store_true", help="replace an existing model file")
    e.add_argument("--checkpoint", help="a checkpoint file of that run (default RUN_DIR/checkpoint.pt)")
    e.set_defaults(run=run_export)

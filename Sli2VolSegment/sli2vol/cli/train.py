"""``sli2vol train``: self-supervised training on unlabelled volumes, with checkpoints and resume."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import torch
from tqdm import tqdm

from sli2vol.cli.options import set_threads
from sli2vol.engine.network import NetworkConfig
from sli2vol.training.pair_sampling import PairSamplingConfig
from sli2vol.training.trainer import Checkpoint, TrainConfig, export, load_checkpoint_encoder, train
from sli2vol.training.volumes import find_training_images, load_training_volume


def config_from_args(args) -> TrainConfig:
    network = NetworkConfig(arch=args.arch, input_mode=args.input, edge_kind=args.edge_kind)
    sampling = PairSamplingConfig(crop=args.crop)
    return TrainConfig(
        network=network, sampling=sampling, steps=args.steps, batch_size=args.batch_size, lr=args.lr,
        seed=args.seed, checkpoint_every=args.checkpoint_every,
    )


def run_train(args) -> int:
    cfg = config_from_args(args)
    torch.manual_seed(cfg.seed)
    set_threads(args.threads)
    paths = find_training_images(args.sources)
    volumes = [load_training_volume(p) for p in tqdm(paths, desc="loading", unit="volume", disable=args.quiet)]
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    run_dir = Path(args.run_dir)
    bar = tqdm(total=cfg.steps, desc="training", unit="step", disable=args.quiet or os.environ.get("RANK", "0") != "0")
    log = run_dir / "loss.jsonl"

    def on_step(step: int, loss: float) -> None:
        bar.n = step
        bar.set_postfix(loss=f"{loss:.4f}")
        if step % 10 == 0:
            with log.open("a") as f:
                f.write(json.dumps({"step": step, "loss": loss, "time": time.time()}) + "\n")

    run_dir.mkdir(parents=True, exist_ok=True)
    encoder = train(volumes, cfg, run_dir, device, on_step)
    bar.close()
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 exports
        return 0
    state = Checkpoint(run_dir, cfg).load()  # step and time totals over every session of the run
    info = {"step": int(state["step"]), "train_seconds": float(state["elapsed"]),
            "volumes": [p.name for p in paths], "device": str(device)}
    export(encoder, cfg, args.output or run_dir / "model.pt", info)
    print(f"exported {args.output or run_dir / 'model.pt'}")
    return 0


def run_export(args) -> int:
    encoder, cfg, step, elapsed = load_checkpoint_encoder(args.run_dir, args.checkpoint)
    export(encoder, cfg, args.output, {"step": step, "train_seconds": elapsed})
    print(f"exported {args.output} (step {step} of {cfg.steps})")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="self-supervised training on unlabelled volumes (resumable)")
    p.add_argument("sources", nargs="+", help="volume files, folders, or a data manifest.json (labels unused)")
    p.add_argument("--run-dir", required=True, help="folder for checkpoints; an existing run there is resumed")
    p.add_argument("-o", "--output", help="TorchScript model to export (default RUN_DIR/model.pt)")
    p.add_argument("--steps", type=int, default=TrainConfig.steps)
    p.add_argument("--batch-size", type=int, default=TrainConfig.batch_size)
    p.add_argument("--lr", type=float, default=TrainConfig.lr)
    p.add_argument("--crop", type=int, default=PairSamplingConfig.crop, help="training crop side in pixels")
    p.add_argument("--seed", type=int, default=TrainConfig.seed)
    p.add_argument("--checkpoint-every", type=int, default=TrainConfig.checkpoint_every)
    p.add_argument("--arch", choices=("fast", "reference"), default="fast")
    p.add_argument("--input", choices=("edge", "raw"), default="edge", help="edge profile or raw intensity")
    p.add_argument("--edge-kind", choices=("paper", "reference"), default="paper")
    p.add_argument("--device", help="cpu, cuda, ... (default: CUDA when available)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=run_train)

    e = sub.add_parser("export", help="export a training run's latest (or a given) checkpoint as a model")
    e.add_argument("run_dir", help="training run folder")
    e.add_argument("-o", "--output", required=True, help="TorchScript model file to write")
    e.add_argument("--checkpoint", help="a checkpoint file of that run (default RUN_DIR/checkpoint.pt)")
    e.set_defaults(run=run_export)

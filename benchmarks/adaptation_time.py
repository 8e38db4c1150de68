"""Time of propagation with per-scan adaptation: a liver-size structure over 100 slices of 512 x 512.

Uses the speed benchmark's volume (propagation_speed.structure_volume) and the bundled model;
prints wall-clock and process CPU seconds for each number of adaptation steps (0 = off).

Usage: python benchmarks/adaptation_time.py [--threads 2] [--size 512] [--steps 0 40 100]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from propagation_speed import SIZES, SPACING, peak_rss_gb, structure_volume
from sli2vol.engine.propagation import PropagationConfig, propagate_volume
from sli2vol.io.model_io import load_model
from sli2vol.metrics import dice, largest_slice
from sli2vol.training.adaptation import AdaptationConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, nargs="+", default=[0, 40, 100])
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    image, labels = structure_volume(SIZES["liver"], args.size)
    k = largest_slice(labels == 1, True, 0)
    mask = np.zeros_like(labels)
    mask[k] = labels[k]
    model = load_model()
    print(f"| adaptation steps | wall (s) | CPU (s) | peak RSS (GB) | Dice | volume {image.shape}, {args.threads} threads |")
    print("|---|---|---|---|---|---|")
    for steps in args.steps:
        wall, cpu = time.perf_counter(), time.process_time()
        out = propagate_volume(image, mask, SPACING, model, PropagationConfig(adaptation=AdaptationConfig(steps=steps)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        print(f"| {steps} | {wall:.1f} | {cpu:.1f} | {peak_rss_gb():.2f} | {100 * dice(out == 1, labels == 1):.1f} | |", flush=True)


if __name__ == "__main__":
    main()

"""Propagation speed and peak memory on CPU: Sli2Vol engine vs a full-frame reference computation.

Each measurement runs in its own process (peak RSS = that process's maximum resident memory,
including ~0.3-0.4 GB for Python + torch themselves). The baseline is the straightforward
full-frame computation of the reference: the reference encoder (stride 1, 16-128 channels, 64-d
features) on whole slices and the local affinity over the whole image (no Python loop over window
offsets; unfolded in bands of at most 1.2 GB, the reference's own stacked-shift footprint; border
candidates see zero padding as in the reference).

Usage: python benchmarks/propagation_speed.py [--threads 2] [--model PATH] [--sizes 256 512]
Prints a markdown table; with --results FILE it also rewrites that file's speed section.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import numpy as np

SLICES = 100  # slices the structure spans
BASELINE_STEPS = {256: 4, 512: 2}


def structure_volume(size: int, seed: int = 0):
    """A CT-like (SLICES + 20, size, size) volume with one drifting blob ~30% of the width across."""
    from sli2vol.phantom import make_phantom

    image, labels, spacing = make_phantom(shape=(int((SLICES + 2) / 0.7), size, size), n_structures=1, seed=seed)
    return image, labels, spacing


def run_engine(size: int, model: str | None) -> dict:
    from sli2vol.engine.propagation import PropagationConfig, propagate_volume
    from sli2vol.io.model_io import load_model
    from sli2vol.metrics import largest_slice

    image, labels, spacing = structure_volume(size)
    mask = np.zeros_like(labels)
    k = largest_slice(labels, 1)
    mask[k] = labels[k]
    model = load_model(model)  # loaded once per session, as in Slicer; not part of the timing
    steps = []
    start = time.perf_counter()
    out = propagate_volume(image, mask, spacing, model, PropagationConfig(device="cpu"),
                           progress=lambda d, t: steps.append(d))
    seconds = time.perf_counter() - start
    extent = np.flatnonzero(out.any(axis=(1, 2)))
    rows = np.flatnonzero(labels[k].any(axis=1))
    return {"seconds": seconds, "steps": len(steps), "slices": int(extent.size),
            "structure_px": int(rows[-1] - rows[0] + 1)}


def straightforward_affinity(f1, f2, radius: int, band_bytes: int = int(1.2 * 2**30)):
    """The reference computation written plainly: unfold every window of the source features and
    take dot products with the target features, softmax over the window; bands of rows keep the
    unfolded copies within the reference's ~1.2 GB. (B, C, H, W) x 2 -> (B, D, H, W)."""
    import torch
    import torch.nn.functional as F

    b, c, h, w = f1.shape
    k = 2 * radius + 1
    padded = F.pad(f1, (radius, radius, radius, radius))
    rows = max(1, band_bytes // (4 * b * c * k * k * w))
    bands = []
    for y0 in range(0, h, rows):
        y1 = min(h, y0 + rows)
        window = F.unfold(padded[:, :, y0 : y1 + 2 * radius], k).view(b, c, k * k, (y1 - y0) * w)
        logits = (window * f2[:, :, y0:y1].reshape(b, c, 1, -1)).sum(1)
        bands.append(torch.softmax(logits, dim=1).view(b, k * k, y1 - y0, w))
    return torch.cat(bands, dim=2)


def run_baseline(size: int) -> dict:
    import torch
    from sli2vol.engine.affinity import warp
    from sli2vol.engine.network import NetworkConfig
    from sli2vol.io.model_io import build_encoder

    encoder = build_encoder(NetworkConfig(arch="reference", edge_kind="reference")).eval()
    image, labels, _ = structure_volume(size)
    from sli2vol.engine.normalization import intensity_window, normalize_intensity

    vol = normalize_intensity(image, intensity_window(image))
    k = int(np.argmax(labels.sum(axis=(1, 2))))
    times = []
    with torch.inference_mode():
        for step in range(BASELINE_STEPS[size]):
            t = time.perf_counter()
            pair = torch.from_numpy(vol[k + step : k + step + 2])[:, None]
            feats = encoder(pair)
            weights = straightforward_affinity(feats[:1], feats[1:], encoder.window_radius)
            mask = torch.from_numpy((labels[k + step] > 0).astype(np.float32))[None, None]
            warp(weights, mask, encoder.window_radius, encoder.stride)
            times.append(time.perf_counter() - t)
    per_step = float(np.median(times))
    return {"seconds": per_step * SLICES, "steps": SLICES, "per_step": per_step, "measured_steps": len(times)}


def worker(kind: str, size: int, model: str | None, threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    result = run_engine(size, model) if kind == "engine" else run_baseline(size)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(json.dumps(result))


def measure(kind: str, size: int, model: str | None, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", kind, "--size", str(size), "--threads", str(threads)]
    if model:
        cmd += ["--model", model]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def report(rows: list, threads: int) -> str:
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, torch threads = {threads}, CPU only.",
        f"Structure spanning {SLICES} slices; engine: model loaded beforehand, whole `propagate_volume` call timed; baseline per-volume time = median step x {SLICES}.",
        "",
        "| slice size | method | per slice step (s) | per volume (s) | peak RSS (GB) | speed-up |",
        "|---|---|---|---|---|---|",
    ]
    for size, engine, base in rows:
        per_step = engine["seconds"] / max(engine["steps"], 1)
        lines.append(f"| {size}x{size} | Sli2Vol engine (ROI, stride-2 features; {engine['slices']} slices, "
                     f"structure {engine['structure_px']} px) | {per_step:.4f} | {engine['seconds']:.2f} | "
                     f"{engine['peak_rss_gb']:.2f} | {base['per_step'] / per_step:.0f}x |")
        lines.append(f"| {size}x{size} | full-frame reference computation ({base['measured_steps']} steps timed) | "
                     f"{base['per_step']:.3f} | {base['seconds']:.1f} | {base['peak_rss_gb']:.2f} | 1x |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", help="model file (default: the bundled model)")
    p.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    p.add_argument("--results", help="markdown file whose sli2vol-speed section is rewritten")
    p.add_argument("--worker", choices=("engine", "baseline"), help=argparse.SUPPRESS)
    p.add_argument("--size", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.size, args.model, args.threads)
        return
    rows = [(s, measure("engine", s, args.model, args.threads), measure("baseline", s, args.model, args.threads))
            for s in args.sizes]
    table = report(rows, args.threads)
    print(table)
    if args.results:
        from results_section import replace_section

        replace_section(args.results, "sli2vol-speed",
                        "## Sli2Vol propagation speed\n\n`python benchmarks/propagation_speed.py "
                        "--results benchmarks/RESULTS.md`\n\n" + table)


if __name__ == "__main__":
    main()

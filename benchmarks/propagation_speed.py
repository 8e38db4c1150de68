"""Propagation speed and peak memory on CPU: structure sizes, thread settings, an idle or a busy core.

Cases (every measurement in its own process; peak RSS = that process's maximum resident memory,
including ~0.3-0.4 GB for Python + torch themselves):
- synthetic CT (int16 HU, 512 x 512 x 100 slices, 0.75 mm pixels, 2 mm slices) with one structure
  of about 30 (adrenal), 80 (kidney), 128 or 250 (liver) pixels across, spanning 96 slices, one slice
  annotated (the largest); ``propagate_volume`` timed with the model already loaded;
- the same for the liver-size case end to end through ``sli2vol propagate`` (process start, reading
  the .nii.gz files, propagating, writing the result), and a 600-slice volume for memory;
- a real volume (``DATA``: a folder in the shared manifest format): the BTCV case with the widest
  liver, one slice annotated at the liver's largest, end to end through ``sli2vol propagate``;
- the paper's full-frame computation (reference encoder on whole slices, affinity over the whole
  image) for a few slice steps, extrapolated per slice to the 100-slice volume.
Each with torch threads 1, 2 and auto (the default), on an idle machine and with one core kept busy
by a spinning process the benchmark starts. "2 spin" is the previous default: 2 threads whose
OpenMP workers spin while waiting (the collapse on a busy core); the others wait passively.

Usage: python benchmarks/propagation_speed.py [DATA] [--quick] [--results benchmarks/RESULTS.md]
       python benchmarks/propagation_speed.py --profile [--results ...]   (per-phase breakdown)
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SPACING = (2.0, 0.75, 0.75)  # mm along (slices, rows, columns)
SIZES = {"adrenal": 30, "kidney": 80, "128 px": 128, "liver": 250}
THREADS = ("1", "2", "auto", "2 spin")
BASELINE_STEPS = 2


def structure_volume(structure_px: int, size: int = 512, slices: int = 100, span: int = 96, seed: int = 0):
    """(image int16 HU, labels uint8) with one drifting, swelling ellipse ``structure_px`` across at
    its largest, on ``span`` slices in the middle of ``slices``; textured background plus noise."""
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    coarse = ndimage.gaussian_filter(rng.standard_normal((slices, size // 8, size // 8), dtype=np.float32), 1.0)
    coarse /= np.abs(coarse).max()
    image = np.empty((slices, size, size), np.int16)
    labels = np.zeros((slices, size, size), np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    z0 = (slices - span) // 2
    for i in range(slices):
        texture = ndimage.zoom(coarse[i], 8, order=1)
        plane = 40.0 + 60.0 * texture
        phase = (i - z0 + 0.5) / span
        if 0 < phase < 1:
            swell = 0.3 + 0.7 * np.sin(np.pi * phase) ** 0.5
            cy, cx = size / 2 + 0.06 * size * (phase - 0.5), size / 2 + 0.04 * size * np.sin(3 * phase)
            ry, rx = structure_px / 2 * swell, 0.85 * structure_px / 2 * swell
            inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
            labels[i] = inside
            plane[inside] = 150.0 + 25.0 * texture[inside]
        image[i] = np.round(plane + 8.0 * rng.standard_normal((size, size), dtype=np.float32))
    return image, labels


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def import_torch(policy: str):
    """torch, loaded after sli2vol (passive OpenMP waiting, the default) or before it ("spin": the
    previous default, OpenMP's own spin-then-sleep waiting)."""
    if policy == "passive":
        import sli2vol  # noqa: F401  (sets OMP_WAIT_POLICY before torch loads)
    import torch

    return torch


def worker_engine(folder: Path, threads: str, policy: str, model: str | None) -> dict:
    torch = import_torch(policy)
    from sli2vol.engine.propagation import PropagationConfig, propagate_volume
    from sli2vol.engine.threads import apply_thread_policy
    from sli2vol.io.model_io import load_model
    from sli2vol.metrics import dice

    image, labels = np.load(folder / "image.npy"), np.load(folder / "labels.npy")
    mask = np.load(folder / "annotation.npy")
    apply_thread_policy(threads)
    model = load_model(model)  # loaded once per session, as in Slicer; not part of the timing
    done = [0]  # steps done at the last report (concurrent directions report every few steps)
    start = time.perf_counter()
    out = propagate_volume(image, mask, SPACING, model, PropagationConfig(device="cpu"),
                           progress=lambda d, t: done.__setitem__(0, d))
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": done[0], "torch_threads": torch.get_num_threads(),
            "dice": 100 * dice(out > 0, labels > 0), "peak_rss_gb": peak_rss_gb()}


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


def worker_baseline(folder: Path, threads: str, policy: str) -> dict:
    """The paper's computation on whole slices for BASELINE_STEPS steps; per-step median x slices."""
    torch = import_torch(policy)
    from sli2vol.engine.affinity import warp
    from sli2vol.engine.network import NetworkConfig
    from sli2vol.engine.normalization import CT_WINDOW_HU, normalize_intensity
    from sli2vol.engine.threads import apply_thread_policy
    from sli2vol.io.model_io import build_encoder

    count = apply_thread_policy(threads)
    encoder = build_encoder(NetworkConfig(arch="reference", edge_kind="reference")).eval()
    image, labels = np.load(folder / "image.npy"), np.load(folder / "labels.npy")
    k = int(np.argmax(labels.sum(axis=(1, 2))))
    times = []
    with torch.inference_mode():
        for step in range(BASELINE_STEPS):
            t = time.perf_counter()
            pair = torch.from_numpy(normalize_intensity(image[k + step : k + step + 2], CT_WINDOW_HU))[:, None]
            feats = encoder(pair)
            weights = straightforward_affinity(feats[:1], feats[1:], encoder.window_radius)
            mask = torch.from_numpy((labels[k + step] > 0).astype(np.float32))[None, None]
            warp(weights, mask, encoder.window_radius, encoder.stride)
            times.append(time.perf_counter() - t)
    per_step = float(np.median(times))
    steps = int((labels.any(axis=(1, 2))).sum()) - 1
    return {"seconds": per_step * steps, "steps": steps, "per_step": per_step, "torch_threads": count,
            "peak_rss_gb": peak_rss_gb()}


PHASES = ("feature extraction", "affinity", "warp", "verification", "resampling")


def worker_profile(folder: Path, model: str | None) -> dict:
    """CPU time per phase of one propagation with 1 thread: each phase's own time, nested phases
    excluded ("region bookkeeping and the rest" = the remainder of the whole call)."""
    import sli2vol  # noqa: F401
    import torch
    from sli2vol.engine import affinity, pair_propagator, propagation, slice_source
    from sli2vol.io.model_io import load_model

    torch.set_num_threads(1)
    own = dict.fromkeys(PHASES, 0.0)
    stack = []

    def timed(phase, fn):
        def wrapper(*args, **kwargs):
            stack.append(0.0)
            start = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = time.process_time() - start
                nested = stack.pop()
                own[phase] += spent - nested
                if stack:
                    stack[-1] += spent
        return wrapper

    targets = [(pair_propagator.PairPropagator, "features", PHASES[0]), (affinity, "_window_weights", PHASES[1]),
               (pair_propagator, "warp_mask", PHASES[2]), (pair_propagator, "verify_mask", PHASES[3]),
               (slice_source.SliceSource, "__getitem__", PHASES[4]), (propagation, "resize_plane", PHASES[4]),
               (propagation, "resample_labels", PHASES[4])]
    for owner, name, phase in targets:
        setattr(owner, name, timed(phase, getattr(owner, name)))
    image, mask = np.load(folder / "image.npy"), np.load(folder / "annotation.npy")
    model = load_model(model)
    start = time.process_time()
    propagation.propagate_volume(image, mask, SPACING, model, propagation.PropagationConfig(device="cpu"))
    total = time.process_time() - start
    return {"total": total, **own, "region bookkeeping and the rest": total - sum(own.values())}


def worker(args) -> None:
    folder = Path(args.folder)
    if args.worker == "engine":
        result = worker_engine(folder, args.threads, args.policy, args.model)
    elif args.worker == "baseline":
        result = worker_baseline(folder, args.threads, args.policy)
    else:
        result = worker_profile(folder, args.model)
    print(json.dumps(result))


def run_cli(args_list: list, threads: str) -> dict:
    """``sli2vol propagate`` in a fresh process: wall time from process start to exit, the thread count
    it used, and that process's peak RSS (from wait4)."""
    cmd = [sys.executable, "-m", "sli2vol.cli", "propagate", *map(str, args_list), "--force", "--quiet",
           "--threads", threads]
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0), err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError(f"sli2vol propagate failed: {err.read()[-2000:]}")
        return {"seconds": wall, "peak_rss_gb": usage.ru_maxrss / 2**20, "torch_threads": out.read().split()[-2]}


def measure(kind: str, folder: Path, threads: str, model: str | None) -> dict:
    policy = "spin" if threads.endswith("spin") else "passive"
    cmd = [sys.executable, __file__, "--worker", kind, "--folder", str(folder), "--threads", threads.split()[0],
           "--policy", policy]
    if model:
        cmd += ["--model", model]
    env = dict(os.environ)
    env.pop("OMP_WAIT_POLICY", None)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


class BusyCore:
    """A process spinning on one core while the ``with`` block runs (``busy=False``: nothing)."""

    def __init__(self, busy: bool):
        self.busy = busy
        self.proc = None

    def __enter__(self):
        if self.busy:
            spin = "import os\nparent = os.getppid()\nwhile os.getppid() == parent: pass"  # ends with the benchmark
            self.proc = subprocess.Popen([sys.executable, "-c", spin])
            time.sleep(0.5)
        return self

    def __exit__(self, *exc):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def save_case(folder: Path, image: np.ndarray, labels: np.ndarray, annotated: int, files: bool) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    mask = np.zeros_like(labels)
    mask[annotated] = labels[annotated]
    np.save(folder / "image.npy", image)
    np.save(folder / "labels.npy", labels)
    np.save(folder / "annotation.npy", mask)
    if files:
        import SimpleITK as sitk

        for name, array in (("image.nii.gz", image), ("annotation.nii.gz", mask)):
            itk = sitk.GetImageFromArray(array)
            itk.SetSpacing(tuple(reversed(SPACING)))
            sitk.WriteImage(itk, str(folder / name))


def widest_btcv_liver(data: Path) -> tuple[Path, Path, int]:
    """(image, label file, liver label id) of the BTCV case whose liver is widest on its largest slice."""
    import SimpleITK as sitk

    manifest = json.loads((data / "manifest.json").read_text())
    best = None
    for case in manifest["cases"]:
        if case["dataset"] != "btcv":
            continue
        ids = [int(k) for k, v in case["labels"].items() if v == "liver"]
        if not ids:
            continue
        liver = sitk.GetArrayFromImage(sitk.ReadImage(str(data / case["label"]))) == ids[0]
        k = int(np.argmax(liver.sum(axis=(1, 2))))
        cols = np.flatnonzero(liver[k].any(axis=0))
        width = int(cols[-1] - cols[0] + 1) if cols.size else 0
        if best is None or width > best[0]:
            best = (width, case, ids[0])
    _, case, label = best
    return data / case["image"], data / case["label"], label


def real_case(data: Path, work: Path) -> tuple[Path, Path, np.ndarray, str]:
    """(image path, annotation path written under ``work``, liver truth, description)."""
    import SimpleITK as sitk
    from sli2vol.metrics import largest_slice

    image_path, label_path, label = widest_btcv_liver(data)
    labels = sitk.ReadImage(str(label_path))
    truth = sitk.GetArrayFromImage(labels) == label
    k = largest_slice(truth.astype(np.uint8), 1)
    mask = np.zeros(truth.shape, np.uint8)
    mask[k] = truth[k]
    annotation = sitk.GetImageFromArray(mask)
    annotation.CopyInformation(labels)
    path = work / "real_annotation.nii.gz"
    sitk.WriteImage(annotation, str(path))
    cols = np.flatnonzero(truth[k].any(axis=0))
    return image_path, path, truth, (f"{image_path.name} liver ({cols[-1] - cols[0] + 1} px wide, "
                                     f"{truth.shape[0]} slices of {truth.shape[1]}x{truth.shape[2]}, slice {k} annotated)")


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run_all(args) -> list[dict]:
    rows = []
    size, slices = (256, 24) if args.quick else (512, 100)
    sizes = {"adrenal": 30, "kidney": 64} if args.quick else SIZES
    threads = ("1", "auto") if args.quick else THREADS
    conditions = (False, True)
    with tempfile.TemporaryDirectory(prefix="sli2vol-speed-") as tmp:
        work = Path(tmp)
        for name, px in sizes.items():
            image, labels = structure_volume(px, size, slices, span=slices - 4)
            folder = work / name
            save_case(folder, image, labels, int(np.argmax(labels.sum(axis=(1, 2)))), files=name == "liver" or args.quick)
            for busy in conditions:
                with BusyCore(busy):
                    for t in threads:
                        before = load()
                        r = measure("engine", folder, t, args.model)
                        rows.append({"case": f"{name} ({px} px), {size}x{size}x{slices}", "what": "propagate_volume",
                                     "busy": busy, "threads": t, "load": before, **r})
                        print(rows[-1], flush=True)
                    if name == list(sizes)[-1]:
                        for t in (t for t in threads if "spin" not in t):
                            before = load()
                            r = run_cli([folder / "image.nii.gz", folder / "annotation.nii.gz", "-o",
                                         folder / "out.nii.gz"], t)
                            rows.append({"case": f"{name} ({px} px), {size}x{size}x{slices}",
                                         "what": "`sli2vol propagate` end to end", "busy": busy, "threads": t,
                                         "load": before, **r})
                            print(rows[-1], flush=True)
                        if not args.quick:
                            before = load()
                            r = measure("baseline", folder, "auto", None)
                            rows.append({"case": f"{size}x{size} slices (any structure size)",
                                         "what": f"paper's full-frame computation ({BASELINE_STEPS} steps timed, "
                                                 f"x {r['steps']})", "busy": busy, "threads": "auto", "load": before,
                                         **r})
                            print(rows[-1], flush=True)
        if not args.quick:
            image, labels = structure_volume(SIZES["liver"], 512, 600, span=100)
            folder = work / "tall"
            save_case(folder, image, labels, int(np.argmax(labels.sum(axis=(1, 2)))), files=True)
            del image, labels
            before = load()
            r = run_cli([folder / "image.nii.gz", folder / "annotation.nii.gz", "-o", folder / "out.nii.gz"], "auto")
            rows.append({"case": "liver (250 px) on 100 of 600 slices, 512x512x600 int16 (300 MB)",
                         "what": "`sli2vol propagate` end to end", "busy": False, "threads": "auto", "load": before,
                         **r})
            print(rows[-1], flush=True)
        if args.data:
            import SimpleITK as sitk
            from sli2vol.metrics import dice

            image_path, annotation, truth, description = real_case(Path(args.data), work)
            for busy in conditions:
                with BusyCore(busy):
                    for t in ("1", "auto"):
                        before = load()
                        r = run_cli([image_path, annotation, "-o", work / "real_out.nii.gz"], t)
                        out = sitk.GetArrayFromImage(sitk.ReadImage(str(work / "real_out.nii.gz"))) > 0
                        rows.append({"case": description, "what": "`sli2vol propagate` end to end", "busy": busy,
                                     "threads": t, "load": before, "dice": 100 * dice(out, truth), **r})
                        print(rows[-1], flush=True)
    return rows


def table(rows: list) -> str:
    header = "| case | what is timed | other core | threads | load before | seconds | s per slice | peak RSS (GB) | Dice |"
    lines = [header, "|---" * 9 + "|"]
    for r in rows:
        threads = f"auto -> {r['torch_threads']}" if r["threads"] == "auto" else r["threads"]
        per_step = r.get("per_step") or (r["seconds"] / r["steps"] if r.get("steps") else None)
        per_step = "" if per_step is None else f"{per_step:.4f}"
        dice = f"{r['dice']:.1f}" if "dice" in r else ""
        lines.append(f"| {r['case']} | {r['what']} | {'busy' if r['busy'] else 'idle'} | {threads} | {r['load']} | "
                     f"{r['seconds']:.2f} | {per_step} | {r['peak_rss_gb']:.2f} | {dice} |")
    return "\n".join(lines)


def profile_table(args) -> str:
    lines = ["| structure | total CPU (s) | " + " | ".join(PHASES) + " | region bookkeeping and the rest |",
             "|---" * (len(PHASES) + 3) + "|"]
    with tempfile.TemporaryDirectory(prefix="sli2vol-profile-") as tmp:
        for name, px in SIZES.items():
            image, labels = structure_volume(px)
            folder = Path(tmp) / name
            save_case(folder, image, labels, int(np.argmax(labels.sum(axis=(1, 2)))), files=False)
            r = measure("profile", folder, "1", args.model)
            shares = [r[p] / r["total"] for p in (*PHASES, "region bookkeeping and the rest")]
            lines.append(f"| {name} ({px} px) | {r['total']:.2f} | " + " | ".join(f"{100 * s:.0f}%" for s in shares)
                         + " |")
            print(lines[-1], flush=True)
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("data", nargs="?", help="data folder with manifest.json (adds the real BTCV liver case)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 256x256x24, two sizes, threads 1 and auto, no baseline or 600-slice case")
    p.add_argument("--profile", action="store_true", help="per-phase CPU breakdown (1 thread) instead")
    p.add_argument("--model", help="model file (default: the bundled model)")
    p.add_argument("--results", help="markdown file whose speed section is rewritten")
    p.add_argument("--worker", choices=("engine", "baseline", "profile"), help=argparse.SUPPRESS)
    p.add_argument("--folder", help=argparse.SUPPRESS)
    p.add_argument("--threads", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--policy", default="passive", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
        return
    command = "python benchmarks/propagation_speed.py " + " ".join(sys.argv[1:])
    import torch

    machine = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
               f"CPU only; 1-min load average {load()} at the start")
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    if args.profile:
        body = profile_table(args)
        name, title = "sli2vol-speed-profile", "Sli2Vol propagation: CPU time per phase (1 thread)"
        note = ("Synthetic 512x512x100 CT, one structure spanning 96 slices, default options; CPU time of each "
                "phase's own work (nested phases excluded), share of the whole `propagate_volume` call. "
                "CPU time, not wall time, so the shares hold on a loaded machine.")
    else:
        body = table(run_all(args))
        name, title = "sli2vol-speed", "Sli2Vol propagation speed"
        note = __doc__.split("\n\n")[1]
    text = f"## {title}\n\n`{command}` ({started}; {machine})\n\n{note}\n\n{body}"
    print(text)
    if args.results:
        sys.path.insert(0, str(HERE))
        from results_section import replace_section

        replace_section(args.results, name, text)


if __name__ == "__main__":
    main()

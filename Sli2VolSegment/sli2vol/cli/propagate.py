"""``sli2vol propagate`` and ``sli2vol demo``."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from sli2vol.cli.options import set_threads
from sli2vol.engine.propagation import PropagationConfig, paper_config, propagate_volume
from sli2vol.engine.verification import VERIFICATION_RULES, VerificationConfig
from sli2vol.errors import InputError
from sli2vol.io.segmentation_file import check_segment_labels, is_segmentation_file
from sli2vol.io.volume_io import (
    check_output_path,
    mask_on_image_grid,
    read_image,
    read_mask,
    write_image,
    write_labels,
)
from sli2vol.metrics import dice, largest_slice
from sli2vol.phantom import make_phantom
from sli2vol.training.adaptation import DEFAULT_ADAPT_STEPS, AdaptationConfig

AXIS_CHOICES = ("k", "j", "i", "axial", "coronal", "sagittal", "0", "1", "2")


def resolve_axis(name: str | None, image: sitk.Image) -> int | None:
    """Array axis (0 = k, 1 = j, 2 = i) for an axis name; anatomical names use the image direction
    (the index axis most aligned with S, A or R respectively)."""
    if name is None:
        return None
    if name in ("0", "1", "2"):
        return int(name)
    if name in ("k", "j", "i"):
        return "kji".index(name)
    direction = np.array(image.GetDirection()).reshape(3, 3)  # columns: physical direction of i, j, k
    physical = {"sagittal": 0, "coronal": 1, "axial": 2}[name]  # LPS row: x, y, z
    index_axis = int(np.argmax(np.abs(direction[physical])))  # 0 = i, 1 = j, 2 = k
    return 2 - index_axis


def add_propagation_options(p) -> None:
    p.add_argument("--model", help="TorchScript model file (default: the bundled model)")
    p.add_argument("--axis", choices=AXIS_CHOICES, help="axis the annotation lies on (default: detected)")
    p.add_argument("--labels", help="comma-separated label ids to propagate (default: all annotated)")
    p.add_argument("--backward", type=int, help="at most this many slices towards lower slice indices")
    p.add_argument("--forward", type=int, help="at most this many slices towards higher slice indices")
    p.add_argument("--no-verification", action="store_true", help="switch the verification module off")
    p.add_argument("--verification-rule", choices=VERIFICATION_RULES, default=VerificationConfig.rule,
                   help="gaussian: likelihood ratio (default); mean: the paper's nearest-mean test")
    p.add_argument("--verification-reference", choices=("anchor", "previous"), default=VerificationConfig.reference,
                   help="foreground intensities from the annotated slice (default) or the previous slice (paper)")
    p.add_argument("--growth-z", type=float, default=VerificationConfig.growth_z,
                   help="pixels the mask grows into must lie within this many SDs of the annotated intensities "
                        "(0: off, as the paper)")
    p.add_argument("--min-structure-px", type=int, default=PropagationConfig.min_structure_px,
                   help="zoom in so the annotation spans at least this many pixels (0: off, as the paper)")
    p.add_argument("--max-structure-px", type=int, default=PropagationConfig.max_structure_px,
                   help="zoom large structures out so the annotation spans at most this many pixels "
                        "(0: off, as the paper)")
    p.add_argument("--max-slice-step-px", type=float, default=PropagationConfig.max_slice_step_px,
                   help="zoom out so one slice gap spans at most this many pixels (0: off, as the paper)")
    p.add_argument("--boundary-px", type=int, default=PropagationConfig.boundary_px,
                   help="add the pixels this close to each slice's mask whose warped value exceeds 0.25 "
                        "(0: off, as the paper)")
    p.add_argument("--fill-holes", action="store_true",
                   help="fill holes of ring-shaped masks too (the paper; default: a ring such as the myocardium "
                        "keeps its hole)")
    p.add_argument("--adapt-steps", type=int, default=0,
                   help=f"fine-tune a copy of the model on this scan for this many steps first (0: off; "
                        f"{DEFAULT_ADAPT_STEPS} is a typical value)")
    p.add_argument("--adapt-seconds", type=float, default=0.0, help="time cap of that fine-tuning per label (0: none)")
    p.add_argument("--adapt-seed", type=int, default=0, help="seed of the fine-tuning's slice-pair draw")
    p.add_argument("--paper-engine", action="store_true",
                   help="the paper's engine: nearest-mean verification on the previous slice, no growth test, "
                        "holes always filled, no zoom, no boundary recovery")
    p.add_argument("--full-frame", action="store_true", help="process whole slices instead of a region")
    p.add_argument("--no-isotropic", action="store_true", help="do not resample slices to square pixels")
    p.add_argument("--normalization", choices=("auto", "ct", "percentile"), default="auto")
    p.add_argument("--window", type=float, nargs=2, metavar=("LOW", "HIGH"), help="explicit intensity window")
    p.add_argument("--device", help="cpu, cuda, cuda:1 ... (default: CUDA when available)")
    p.add_argument("--threads", default="auto", help="CPU threads for torch: a number, or 'auto' (default): the "
                   "cores idle when the run starts")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args, axis: int | None) -> PropagationConfig:
    labels = None
    if args.labels:
        try:
            labels = [int(v) for v in args.labels.split(",") if v.strip()]
        except ValueError as exc:
            raise InputError(f"--labels must be comma-separated integers, got {args.labels!r}") from exc
    verification = VerificationConfig(enabled=not args.no_verification, rule=args.verification_rule,
                                      reference=args.verification_reference, growth_z=args.growth_z,
                                      keep_holes=not args.fill_holes)
    options = {
        "axis": axis,
        "labels": labels,
        "max_slices_backward": args.backward,
        "max_slices_forward": args.forward,
        "verification": verification,
        "normalization": args.normalization,
        "intensity_window": tuple(args.window) if args.window else None,
        "use_roi": not args.full_frame,
        "isotropic": not args.no_isotropic,
        "min_structure_px": args.min_structure_px,
        "max_structure_px": args.max_structure_px,
        "max_slice_step_px": args.max_slice_step_px,
        "boundary_px": args.boundary_px,
        "adaptation": AdaptationConfig(steps=args.adapt_steps, seconds=args.adapt_seconds, seed=args.adapt_seed),
        "device": args.device,
    }
    return paper_config(**options) if args.paper_engine else PropagationConfig(**options)


def _progress_bar(quiet: bool):
    if quiet:
        return None, lambda: None
    bar = tqdm(total=1, unit="slice", desc="propagating", leave=False)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def run_propagate(args) -> int:
    output = check_output_path(args.output, args.force)
    image = read_image(args.image)
    mask_volume = read_mask(args.mask)
    if is_segmentation_file(output):
        check_segment_labels(int(mask_volume.array.max(initial=0)), output)
    mask, segments = mask_on_image_grid(image.image, mask_volume), mask_volume.segments
    del mask_volume  # only the array is needed; large volumes: one copy less in memory
    config = config_from_args(args, resolve_axis(args.axis, image.image))
    threads = set_threads(args.threads)
    update, close = _progress_bar(args.quiet)
    start = time.perf_counter()
    try:
        result = propagate_volume(image.array, mask, image.spacing_kji, args.model, config, progress=update)
    finally:
        close()
    del mask  # freed before writing, which copies the result
    write_labels(result, image.image, output, segments)
    labels = [int(v) for v in np.unique(result) if v]
    print(f"wrote {output} (labels {labels}) in {time.perf_counter() - start:.1f} s with {threads} threads")
    return 0


def run_demo(args) -> int:
    """Propagate one annotated slice of a generated phantom and report Dice per structure."""
    set_threads(args.threads)
    folder = Path(args.output)
    names = ("image.nii.gz", "annotation.nii.gz", "result.nii.gz", "truth.nii.gz")
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        check_output_path(folder / name, args.force)
    image, truth, spacing = make_phantom(shape=(64, 128, 128), seed=args.seed)
    annotation = np.zeros_like(truth)
    k = largest_slice(truth, 1)
    annotation[k] = truth[k]
    reference = sitk.GetImageFromArray(image)
    reference.SetSpacing(tuple(reversed(spacing)))
    update, close = _progress_bar(args.quiet)
    start = time.perf_counter()
    try:
        result = propagate_volume(image, annotation, spacing, args.model, config_from_args(args, None), progress=update)
    finally:
        close()
    seconds = time.perf_counter() - start
    write_image(reference, folder / names[0])
    for name, labels in zip(names[1:], (annotation, result, truth)):
        write_labels(labels, reference, folder / name)
    print(f"annotated slice {k} of {image.shape[0]}; propagated in {seconds:.2f} s; files in {folder}/")
    for label in sorted(int(v) for v in np.unique(truth) if v):
        print(f"  structure {label}: Dice {dice(result == label, truth == label):.3f}")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("propagate", help="propagate annotated slice(s) of MASK through IMAGE")
    p.add_argument("image", help="image file (NIfTI, NRRD, MHA, ...) or DICOM series folder")
    p.add_argument("mask", help="label volume or Slicer .seg.nrrd with the annotated slice(s)")
    p.add_argument("-o", "--output", required=True, help="output label file (image geometry)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_propagation_options(p)
    p.set_defaults(run=run_propagate)

    d = sub.add_parser("demo", help="propagate one slice of a generated phantom with the default model")
    d.add_argument("-o", "--output", default="sli2vol-demo", help="folder for the demo files")
    d.add_argument("--seed", type=int, default=3, help="phantom seed")
    d.add_argument("--force", action="store_true", help="overwrite existing demo files")
    add_propagation_options(d)
    d.set_defaults(run=run_demo)

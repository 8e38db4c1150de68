"""``sli2vol propagate`` and ``sli2vol demo``."""
from __future__ import annotations

import argparse
import time
from dataclasses import replace

import numpy as np
import SimpleITK as sitk
from tqdm import tqdm

from sli2vol.cli.options import (
    FINITE_FLOAT,
    NON_NEGATIVE_FLOAT,
    NON_NEGATIVE_INT,
    UNIT_INTERVAL,
    Window,
    add_device_and_threads,
    set_threads,
)
from sli2vol.engine.device import select_device
from sli2vol.engine.normalization import NORMALIZATIONS, intensity_window
from sli2vol.engine.propagation import PropagationConfig, paper_config, propagate_volume
from sli2vol.engine.verification import VERIFICATION_REFERENCES, VERIFICATION_RULES, VerificationConfig
from sli2vol.errors import InputError
from sli2vol.evaluation.montage import montage, montage_slices
from sli2vol.io.model_io import load_model
from sli2vol.io.output_policy import check_output_file, check_output_folder, created_folder, same_file
from sli2vol.io.png import write_png
from sli2vol.io.segmentation_file import check_segment_labels, is_segmentation_file
from sli2vol.io.volume_io import (
    LABEL_SUFFIXES,
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


def label_list(text: str) -> list[int]:
    """An argparse ``type=`` for ``--labels``: comma-separated label ids >= 1."""
    try:
        labels = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"comma-separated integer label ids are needed, got {text!r}") from None
    if not labels or min(labels) < 1:
        raise argparse.ArgumentTypeError(f"label ids must be integers >= 1, got {text!r}")
    return labels


def add_propagation_options(p) -> None:
    p.add_argument("--model", help="TorchScript model file (default: the bundled model)")
    p.add_argument("--axis", choices=AXIS_CHOICES, help="axis the annotation lies on (default: detected)")
    p.add_argument("--labels", type=label_list, help="comma-separated label ids to propagate (default: all annotated)")
    p.add_argument("--backward", type=NON_NEGATIVE_INT, help="at most this many slices towards lower slice indices")
    p.add_argument("--forward", type=NON_NEGATIVE_INT, help="at most this many slices towards higher slice indices")
    p.add_argument("--no-verification", action="store_true", help="switch the verification module off")
    p.add_argument("--verification-rule", choices=VERIFICATION_RULES, default=VerificationConfig.rule,
                   help="gaussian: likelihood ratio (default); mean: the paper's nearest-mean test")
    p.add_argument("--verification-reference", choices=VERIFICATION_REFERENCES, default=VerificationConfig.reference,
                   help="foreground intensities from the annotated slice (default) or the previous slice (paper)")
    p.add_argument("--growth-z", type=NON_NEGATIVE_FLOAT, default=VerificationConfig.growth_z,
                   help="pixels the mask grows into must lie within this many SDs of the annotated intensities "
                        "(0: off, as the paper)")
    p.add_argument("--min-structure-px", type=NON_NEGATIVE_INT, default=PropagationConfig.min_structure_px,
                   help="zoom in so the annotation spans at least this many pixels (0: off, as the paper)")
    p.add_argument("--max-structure-px", type=NON_NEGATIVE_INT, default=PropagationConfig.max_structure_px,
                   help="zoom large structures out so the annotation spans at most this many pixels "
                        "(0: off, as the paper)")
    p.add_argument("--max-slice-step-px", type=NON_NEGATIVE_FLOAT, default=PropagationConfig.max_slice_step_px,
                   help="zoom out so one slice gap spans at most this many pixels (0: off, as the paper)")
    p.add_argument("--boundary-px", type=NON_NEGATIVE_INT, default=PropagationConfig.boundary_px,
                   help="add the pixels this close to each slice's mask whose warped value exceeds 0.25 "
                        "(0: off, as the paper)")
    p.add_argument("--fill-holes", action="store_true",
                   help="fill holes of ring-shaped masks too (the paper; default: a ring such as the myocardium "
                        "keeps its hole)")
    p.add_argument("--convex-solidity", type=UNIT_INTERVAL, default=VerificationConfig.convex_solidity,
                   help="a mask at least this convex (area / convex hull area; a disc is 1) stays convex from slice "
                        "to slice: a blood pool or vessel is not eaten away by what the verification rejects inside "
                        "it (0: off, as the paper)")
    p.add_argument("--adapt-steps", type=NON_NEGATIVE_INT, default=0,
                   help=f"fine-tune a copy of the model on this scan for this many steps first (0: off; "
                        f"{DEFAULT_ADAPT_STEPS} is a typical value)")
    p.add_argument("--adapt-seconds", type=NON_NEGATIVE_FLOAT, default=0.0, help="time cap of that fine-tuning per label (0: none)")
    p.add_argument("--adapt-seed", type=NON_NEGATIVE_INT, default=0, help="seed of the fine-tuning's slice-pair draw")
    p.add_argument("--paper-engine", action="store_true",
                   help="the paper's engine: nearest-mean verification on the previous slice, no growth test, "
                        "holes always filled, convex masks not kept convex, no zoom, no boundary recovery, "
                        "CT in the fixed [-300, 400] HU window")
    p.add_argument("--full-frame", action="store_true", help="process whole slices instead of a region")
    p.add_argument("--no-isotropic", action="store_true", help="do not resample slices to square pixels")
    p.add_argument("--normalization", choices=NORMALIZATIONS, default="auto")
    p.add_argument("--ct-window-hu", type=NON_NEGATIVE_FLOAT, default=PropagationConfig.ct_window_hu,
                   help="CT: an intensity window this wide (HU) centred on the median under each label's "
                        "annotation (0: the fixed [-300, 400] HU window, as the paper)")
    p.add_argument("--window", type=FINITE_FLOAT, nargs=2, action=Window, metavar=("LOW", "HIGH"),
                   help="explicit intensity window, LOW < HIGH")
    add_device_and_threads(p)
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def config_from_args(args, axis: int | None = None) -> PropagationConfig:
    verification = VerificationConfig(enabled=not args.no_verification, rule=args.verification_rule,
                                      reference=args.verification_reference, growth_z=args.growth_z,
                                      keep_holes=not args.fill_holes, convex_solidity=args.convex_solidity)
    options = {
        "axis": axis,
        "labels": args.labels,
        "max_slices_backward": args.backward,
        "max_slices_forward": args.forward,
        "verification": verification,
        "normalization": args.normalization,
        "intensity_window": args.window,
        "ct_window_hu": args.ct_window_hu,
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
    """(progress callback, close) of a bar that appears with the first finished slice, so a failure
    before any work (bad annotation, model) prints nothing but its one-line message."""
    if quiet:
        return None, lambda: None
    bars = []

    def update(done: int, total: int) -> None:
        if not bars:
            bars.append(tqdm(total=total, unit="slice", desc="propagating", leave=False))
        bars[0].total = total
        bars[0].n = done
        bars[0].refresh()

    return update, lambda: bars and bars[0].close()


def _propagate(image, mask, spacing, model, config: PropagationConfig, quiet: bool):
    """propagate_volume with a progress bar; returns (labels, seconds)."""
    update, close = _progress_bar(quiet)
    start = time.perf_counter()
    try:
        result = propagate_volume(image, mask, spacing, model, config, progress=update)
    finally:
        close()
    return result, time.perf_counter() - start


def run_propagate(args) -> int:
    config = config_from_args(args)
    output = check_output_file(args.output, args.force, inputs=[args.image, args.mask, args.model],
                               suffixes=LABEL_SUFFIXES)
    if same_file(args.image, args.mask):
        raise InputError(f"mask {args.mask} is the image itself; give the label volume with the annotated slice(s)")
    image = read_image(args.image)
    mask_volume = read_mask(args.mask)
    if is_segmentation_file(output):
        check_segment_labels(int(mask_volume.array.max(initial=0)), output)
    mask, segments = mask_on_image_grid(image.image, mask_volume), mask_volume.segments
    del mask_volume  # only the array is needed; large volumes: one copy less in memory
    threads = set_threads(args.threads)
    config = replace(config, axis=resolve_axis(args.axis, image.image))
    # the model is loaded once the annotation has been checked (propagate_volume does both)
    result, seconds = _propagate(image.array, mask, image.spacing_kji, args.model, config, args.quiet)
    del mask  # freed before writing, which copies the result
    write_labels(result, image.image, output, segments)
    labels = [int(v) for v in np.unique(result) if v]
    print(f"wrote {output} (labels {labels}) in {seconds:.1f} s with {threads} threads")
    return 0


DEMO_FILES = ("image.nii.gz", "annotation.nii.gz", "result.nii.gz", "truth.nii.gz", "montage.png")


def run_demo(args) -> int:
    """Propagate one annotated slice of a generated phantom, report Dice per structure and write the
    volumes and a PNG montage (rows: slices; columns: annotation, result, truth)."""
    config = config_from_args(args)
    folder = check_output_folder(args.output, DEMO_FILES, args.force, inputs=[args.model])
    set_threads(args.threads)
    model = load_model(args.model, select_device(args.device))
    image, truth, spacing = make_phantom(shape=(64, 128, 128), seed=args.seed)
    annotation = np.zeros_like(truth)
    k = largest_slice(truth, 1)
    annotation[k] = truth[k]
    result, seconds = _propagate(image, annotation, spacing, model, config, args.quiet)
    reference = sitk.GetImageFromArray(image)
    reference.SetSpacing(tuple(reversed(spacing)))
    slices = montage_slices(k, image.shape[0])
    picture = montage(image, intensity_window(image), [annotation, result, truth], slices)
    with created_folder(folder, all_or_nothing=True):
        write_image(reference, folder / DEMO_FILES[0])
        for name, labels in zip(DEMO_FILES[1:4], (annotation, result, truth)):
            write_labels(labels, reference, folder / name)
        write_png(picture, folder / DEMO_FILES[4])
    print(f"annotated slice {k} of {image.shape[0]}; propagated in {seconds:.2f} s; files in {folder}/")
    for label in sorted(int(v) for v in np.unique(truth) if v):
        print(f"  structure {label}: Dice {dice(result == label, truth == label):.3f}")
    print(f"montage: {folder / DEMO_FILES[4]} (rows: slices {', '.join(map(str, slices))}; "
          "columns: annotation, result, truth)")
    return 0


def add_parsers(sub) -> None:
    p = sub.add_parser("propagate", help="propagate annotated slice(s) of MASK through IMAGE")
    p.add_argument("image", help="image file (NIfTI, NRRD, MHA, ...) or DICOM series folder")
    p.add_argument("mask", help="label volume or Slicer .seg.nrrd with the annotated slice(s)")
    p.add_argument("-o", "--output", required=True, help="output label file (image geometry)")
    p.add_argument("--force", action="store_true", help="replace an existing output file (never an input)")
    add_propagation_options(p)
    p.set_defaults(run=run_propagate)

    d = sub.add_parser("demo", help="propagate one slice of a generated phantom with the default model")
    d.add_argument("-o", "--output", default="sli2vol-demo", help="folder for the demo files")
    d.add_argument("--seed", type=NON_NEGATIVE_INT, default=3, help="phantom seed")
    d.add_argument("--force", action="store_true", help="replace existing demo files")
    add_propagation_options(d)
    d.set_defaults(run=run_demo)

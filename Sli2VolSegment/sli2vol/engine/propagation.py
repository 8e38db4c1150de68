"""The propagation engine: annotated slice(s) -> labels on the whole volume."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from sli2vol.engine.affinity import DEFAULT_BAND_BYTES
from sli2vol.engine.annotation import anchors_by_label, detect_annotation_axis, validate_mask, validate_volume
from sli2vol.engine.confidence import chain_confidence, slice_confidence
from sli2vol.engine.device import select_device
from sli2vol.engine.directions import CancelCheck, Direction, DirectionRunner, ProgressCallback
from sli2vol.engine.normalization import CT_WINDOW_HU, NORMALIZATIONS, centred_window, intensity_window
from sli2vol.engine.pair_propagator import PairPropagator
from sli2vol.engine.region import paste
from sli2vol.engine.slice_source import SliceSource, isotropic_shape, resample_labels, resize_plane
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError
from sli2vol.io.model_io import load_model
from sli2vol.training.adaptation import AdaptationConfig, adapted_model, region_volume
from sli2vol.validation import require, require_choice, require_window


@dataclass
class PropagationConfig:
    axis: Optional[int] = None  # array axis the annotation lies on (0, 1, 2); None: detected
    labels: Optional[list] = None  # label ids to propagate; None: every annotated label
    max_slices_backward: Optional[int] = None  # limit towards lower indices along the axis
    max_slices_forward: Optional[int] = None  # limit towards higher indices along the axis
    verification: VerificationConfig = field(default_factory=VerificationConfig)
    normalization: str = "auto"  # "auto", "ct" ([-300, 400] HU) or "percentile"
    intensity_window: Optional[tuple] = None  # explicit (low, high), overrides normalization
    ct_window_hu: float = 700.0  # CT: window this wide (HU) centred on each annotation; 0: [-300, 400]
    use_roi: bool = True  # work on a region around the mask (False: full frame, same result)
    isotropic: bool = True  # resample slices to square pixels when in-plane spacing differs
    min_structure_px: int = 48  # zoom slices in so the annotation spans at least this many pixels (0: off)
    max_zoom: float = 3.0  # upper bound of that zoom
    max_structure_px: int = 160  # zoom large structures out so the annotation spans at most this many pixels (0: off)
    max_slice_step_px: float = 3.0  # thick slices: zoom out so one slice gap spans at most this many pixels (0: off)
    device: Optional[str] = None  # "cuda", "cpu", ...; None: CUDA when available
    band_bytes: int = DEFAULT_BAND_BYTES  # memory cap of one affinity band
    boundary_px: int = 1  # output: add the pixels this close to a slice's mask whose warped value exceeds boundary_prob (0: off)
    boundary_prob: float = 0.25
    adaptation: AdaptationConfig = field(default_factory=AdaptationConfig)  # per-scan fine-tuning (steps 0: off)
    concurrent_directions: bool = True  # CPU with >= 2 torch threads: two directions at a time, half the threads each

    def __post_init__(self) -> None:
        if self.axis is not None:
            require_choice("axis", self.axis, (0, 1, 2))
        if self.labels is not None:
            if not len(self.labels):
                raise InputError("labels must name at least one label id (None: every annotated label)")
            for label in self.labels:
                require("label id", label, integer=True, minimum=1)
        for name in ("max_slices_backward", "max_slices_forward"):
            if getattr(self, name) is not None:
                require(name, getattr(self, name), integer=True, minimum=0)
        require_choice("normalization", self.normalization, NORMALIZATIONS)
        require_window("intensity_window", self.intensity_window)
        require("ct_window_hu", self.ct_window_hu, minimum=0.0)
        require("min_structure_px", self.min_structure_px, integer=True, minimum=0)
        require("max_structure_px", self.max_structure_px, integer=True, minimum=0)
        require("max_zoom", self.max_zoom, minimum=1.0)
        require("max_slice_step_px", self.max_slice_step_px, minimum=0.0)
        require("band_bytes", self.band_bytes, integer=True, minimum=1)
        require("boundary_px", self.boundary_px, integer=True, minimum=0)
        require("boundary_prob", self.boundary_prob, minimum=0.0, below=1.0)
        if not isinstance(self.verification, VerificationConfig):
            raise InputError(f"verification must be a VerificationConfig, got {type(self.verification).__name__}")


def paper_config(**overrides) -> PropagationConfig:
    """The paper's engine: nearest-mean verification against the previous slice, no growth test, holes
    always filled, no convex shapes kept convex, no zoom, no boundary recovery, CT in the fixed
    [-300, 400] HU window (these settings are forced; every other option comes from ``overrides``).

    (The defaults add a likelihood-ratio verification against the annotated slice, a stricter test
    for pixels the mask grows into, zoom for small structures and thick slices, boundary recovery,
    and a CT window centred on each annotation; see ``PropagationConfig`` and ``VerificationConfig``.)"""
    verification = overrides.pop("verification", VerificationConfig())
    verification = VerificationConfig(**{**verification.__dict__, "rule": "mean", "reference": "previous", "growth_z": 0.0,
                                         "keep_holes": False, "convex_solidity": 0.0})
    return PropagationConfig(**{**overrides, "min_structure_px": 0, "max_structure_px": 0, "max_slice_step_px": 0.0,
                                "boundary_px": 0, "ct_window_hu": 0.0, "verification": verification})



def _validate_spacing(spacing) -> tuple[float, float, float]:
    spacing = tuple(float(s) for s in spacing)
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise InputError(f"spacing must be three positive numbers (mm per voxel along each axis), got {spacing}")
    return spacing


def _vote(result: Optional[tuple], shape_hw) -> tuple[np.ndarray, np.ndarray]:
    """(kept as float, probability) full-frame arrays for one slice of a direction's results."""
    if result is None:
        return np.zeros(shape_hw, np.float32), np.zeros(shape_hw, np.float32)
    roi, prob, kept = result
    return paste(kept.astype(np.float32), roi, shape_hw), paste(prob, roi, shape_hw)


def _label_scores(runner: DirectionRunner, new_propagator, anchor_masks: dict, anchors: list, n_slices: int,
                  limits: tuple):
    """Yield (slice, vote, prob) for one label: outward from the extreme anchors, and between
    consecutive anchors a < b the distance-weighted vote of the propagations from a and from b."""
    shape_hw = anchor_masks[anchors[0]].shape
    gaps = [(a, b) for a, b in zip(anchors[:-1], anchors[1:]) if b - a >= 2]
    last = anchors[-1]
    directions = [Direction(anchors[0], anchor_masks[anchors[0]], -1, min(anchors[0], limits[0]))]
    for a, b in gaps:
        directions += [Direction(a, anchor_masks[a], +1, b - a - 1), Direction(b, anchor_masks[b], -1, b - a - 1)]
    directions.append(Direction(last, anchor_masks[last], +1, min(n_slices - 1 - last, limits[1])))
    back, *between, fwd = runner.run(directions, new_propagator)
    for j, res in back.items():
        yield (j, *_vote(res, shape_hw))
    for (a, b), up, down in zip(gaps, between[0::2], between[1::2]):
        for k in range(a + 1, b):
            w_a = (b - k) / (b - a)
            kept_a, prob_a = _vote(up.get(k), shape_hw)
            kept_b, prob_b = _vote(down.get(k), shape_hw)
            yield k, w_a * kept_a + (1 - w_a) * kept_b, w_a * prob_a + (1 - w_a) * prob_b
    for j, res in fwd.items():
        yield (j, *_vote(res, shape_hw))


def working_shape(annotation: np.ndarray, plane_spacing: tuple, config: PropagationConfig,
                  slice_spacing: float | None = None) -> tuple[int, int]:
    """In-plane shape the label is propagated at.

    Square pixels (``config.isotropic``); for slices ``slice_spacing`` mm apart that are thicker than
    ``config.max_slice_step_px`` pixels, zoomed out so the affinity window reaches as far as the
    anatomy moves from one slice to the next; annotations (A, H, W) bool spanning more than
    ``config.max_structure_px`` pixels zoomed out to that size (the cost per slice follows the
    structure's area); but never so far that the annotation spans fewer than
    ``config.min_structure_px`` pixels; smaller annotations are zoomed in to that size (at most
    ``config.max_zoom`` times).
    """
    native_hw = annotation.shape[1:]
    shape_hw = isotropic_shape(native_hw, plane_spacing) if config.isotropic else tuple(native_hw)
    pixel_mm = plane_spacing[0] * native_hw[0] / shape_hw[0]
    rows, cols = np.flatnonzero(annotation.any(axis=(0, 2))), np.flatnonzero(annotation.any(axis=(0, 1)))
    extent = max((rows[-1] - rows[0] + 1) * shape_hw[0] / native_hw[0], (cols[-1] - cols[0] + 1) * shape_hw[1] / native_hw[1])
    zoom_out = 1.0
    if config.max_slice_step_px > 0 and slice_spacing:
        zoom_out = min(1.0, config.max_slice_step_px * pixel_mm / slice_spacing)
    if config.max_structure_px > 0:
        zoom_out = min(zoom_out, config.max_structure_px / extent)
    if config.min_structure_px <= 0:
        zoom = zoom_out
    else:
        zoom = max(zoom_out, min(config.max_zoom, config.min_structure_px / extent))
    return tuple(max(1, round(n * zoom)) for n in shape_hw)


class _BestScores:
    """Which label wins each pixel: the one whose vote is at least 0.5 with the highest score
    (vote + 0.01 x warped value). Float16 score planes are kept only when labels compete, and only for
    the slices they reach."""

    def __init__(self, shape_hw: tuple[int, int], competing: bool):
        self.shape_hw = shape_hw
        self.competing = competing
        self.planes: dict[int, np.ndarray] = {}

    def update(self, k: int, vote: np.ndarray, prob: np.ndarray) -> np.ndarray:
        """(H, W) bool: where this label now wins slice ``k``."""
        if not self.competing:
            return vote >= 0.5
        score = (vote + 0.01 * prob).astype(np.float16)
        best = self.planes.setdefault(k, np.zeros(self.shape_hw, np.float16))
        win = (vote >= 0.5) & (score > best)
        best[win] = score[win]
        return win


def _label_ids(numbers: np.ndarray, ids: list, stack_mask: np.ndarray, dtype) -> np.ndarray:
    """(Z, H, W) label ids of ``dtype`` from the numbers 1..K of ``ids`` (``numbers`` itself when they
    already are the ids, else converted plane by plane), with the annotation's voxels as drawn."""
    lookup = np.array([0, *ids], dtype=dtype)
    if numbers.dtype == lookup.dtype and np.array_equal(lookup, np.arange(lookup.size)):
        result = numbers
    else:
        result = np.empty(numbers.shape, dtype=dtype)
        for k in range(numbers.shape[0]):
            result[k] = lookup[numbers[k]]
    for k in np.flatnonzero(stack_mask.any(axis=(1, 2))):
        np.copyto(result[k], stack_mask[k], where=stack_mask[k] != 0, casting="unsafe")
    return result


def _planned_steps(anchors: list, n_slices: int, limits: tuple) -> int:
    between = sum(2 * (b - a - 1) for a, b in zip(anchors[:-1], anchors[1:]) if b - a >= 2)
    return min(anchors[0], limits[0]) + between + min(n_slices - 1 - anchors[-1], limits[1])


@dataclass
class PropagationResult:
    """Labels and per-slice confidence of one propagation."""

    labels: np.ndarray  # like the mask: see propagate_volume
    axis: int  # array axis the propagation ran along
    anchors: dict  # {label: sorted annotated slice indices along axis}
    confidence: dict  # {label: {slice index along axis: confidence in [0, 1]}} of every propagated slice


def propagate_volume(image: np.ndarray, mask: np.ndarray, *args, **kwargs) -> np.ndarray:
    """Propagate the annotated slice(s) of ``mask`` through ``image``: the labels of
    :func:`propagate_volume_with_confidence`, which takes the same arguments (``spacing``, ``model``,
    ``config``, ``progress``, ``cancel``)."""
    return propagate_volume_with_confidence(image, mask, *args, **kwargs).labels


def propagate_volume_with_confidence(
    image: np.ndarray,
    mask: np.ndarray,
    spacing=(1.0, 1.0, 1.0),
    model=None,
    config: Optional[PropagationConfig] = None,
    progress: Optional[ProgressCallback] = None,
    cancel: Optional[CancelCheck] = None,
) -> PropagationResult:
    """Propagate the annotated slice(s) of ``mask`` through ``image``.

    Args:
        image: (N0, N1, N2) intensities (CT in HU or any MR scale); never modified.
        mask: same shape, integer labels (0 = background) painted on one or more slices along one
            axis; never modified.
        spacing: voxel size in mm along the three array axes.
        model: a loaded model, a path to a TorchScript model, or None for the bundled default.
        config: options (axis, labels, limits, verification, normalisation, ROI, device, per-scan
            adaptation of a copy of the model).
        progress: called with (steps done, steps planned).
        cancel: polled after every step; returning True raises :class:`PropagationCancelled`.

    Returns:
        A :class:`PropagationResult`: ``labels``, a new label array like ``mask`` (propagated labels
        everywhere, the input's annotated voxels unchanged, and on each label's annotated slices
        exactly that label's annotation), and per label the confidence of each slice it was
        propagated to (:func:`sli2vol.engine.confidence.chain_confidence`).
    """
    config = config or PropagationConfig()
    validate_volume(image)
    labels_in = validate_mask(mask, image.shape)
    spacing = _validate_spacing(spacing)
    axis = detect_annotation_axis(labels_in) if config.axis is None else int(config.axis)
    device = select_device(config.device)
    if model is None or isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        model = load_model(model, device)
    else:
        model = model.to(device).eval()

    stack = np.moveaxis(image, axis, 0)
    stack_mask = np.moveaxis(labels_in, axis, 0)
    anchors = anchors_by_label(stack_mask, config.labels)
    plane_spacing = tuple(s for a, s in enumerate(spacing) if a != axis)
    window = tuple(config.intensity_window) if config.intensity_window else intensity_window(image, config.normalization)
    centre_ct_window = config.intensity_window is None and config.ct_window_hu > 0 and window == CT_WINDOW_HU
    n, native_hw = stack.shape[0], stack.shape[1:]
    limits = tuple(n if v is None else int(v) for v in (config.max_slices_backward, config.max_slices_forward))
    planned = sum(_planned_steps(a, n, limits) + config.adaptation.steps for a in anchors.values())
    runner = DirectionRunner(planned, progress, cancel, (config.boundary_px, config.boundary_prob),
                             config.concurrent_directions)

    # labels are numbered 1..K while propagating (any id, up to 64 bits, maps back exactly at the end)
    ids = list(anchors)
    out = np.zeros(stack.shape, dtype=np.min_scalar_type(len(ids)))  # one plane per slice, no copies
    best = _BestScores(native_hw, competing=len(anchors) > 1)
    confidence = {label: {} for label in anchors}
    for number, (label, label_anchors) in enumerate(anchors.items(), start=1):
        annotation = stack_mask[label_anchors] == label  # (A, H, W) this label's annotated slices
        shape_hw = working_shape(annotation, plane_spacing, config, spacing[axis])
        label_window = window
        if centre_ct_window:
            label_window = centred_window(stack[label_anchors][annotation], config.ct_window_hu)  # HU under it
        anchor_masks = dict(zip(label_anchors, resample_labels(annotation.astype(np.uint8), shape_hw) > 0))
        label_model = model
        if config.adaptation.enabled:
            volume = region_volume(SliceSource(stack, label_window, shape_hw), anchor_masks,
                                   (spacing[axis], *plane_spacing), config.adaptation.crop)
            label_model = adapted_model(model, volume, config.adaptation, device, runner.tick)

        def new_propagator(label_model=label_model, window=label_window, shape_hw=shape_hw) -> PairPropagator:
            return PairPropagator(label_model, SliceSource(stack, window, shape_hw), device, config.verification,
                                  config.use_roi, config.band_bytes)

        for k, vote, prob in _label_scores(runner, new_propagator, anchor_masks, label_anchors, n, limits):
            confidence[label][k] = slice_confidence(vote, prob)
            vote, prob = resize_plane(vote, native_hw), resize_plane(prob, native_hw)
            win = best.update(k, vote, prob)
            out[k][win] = number
        on_anchor = out[label_anchors]
        on_anchor[on_anchor == number] = 0  # a label's annotated slices hold exactly its annotation
        out[label_anchors] = on_anchor
    labels = np.moveaxis(_label_ids(out, ids, stack_mask, mask.dtype if mask.dtype != bool else np.uint8), 0, axis)
    confidence = {label: chain_confidence(confidence[label], anchors[label]) for label in anchors}
    return PropagationResult(labels, axis, anchors, confidence)

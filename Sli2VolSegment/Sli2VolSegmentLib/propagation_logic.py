"""Sli2VolLogic: read segments from MRML nodes, run the core, preview and apply the result."""
from __future__ import annotations

from typing import Callable

import numpy as np
from sli2vol.engine.annotation import annotated_slice_counts, detect_annotation_axis
from sli2vol.engine.device import select_device
from sli2vol.engine.propagation import PropagationConfig, propagate_volume_with_confidence
from sli2vol.engine.threads import apply_thread_policy
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError
from sli2vol.io.model_io import default_model_path, load_model
from sli2vol.training.adaptation import AdaptationConfig

from Sli2VolSegmentLib import volume_grid
from Sli2VolSegmentLib.options import PropagationOptions
from Sli2VolSegmentLib.outcome import PropagationOutcome
from Sli2VolSegmentLib.repropagation import (
    TAG_NAME,
    PropagationRecord,
    anchor_slices,
    erased_slices,
    grid_digest,
    read_record,
)
from Sli2VolSegmentLib.segment_writer import SegmentWriter
from Sli2VolSegmentLib.slice_axis import ARRAY_AXIS_NAMES, propagation_axis

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


def _segment(segmentation_node, segment_id: str):
    segment = segmentation_node.GetSegmentation().GetSegment(segment_id)
    if segment is None:
        known = list(segmentation_node.GetSegmentation().GetSegmentIDs())
        raise InputError(f"segment '{segment_id}' is not in '{segmentation_node.GetName()}' (segments: {known})")
    return segment


def _slab(shape: tuple, axis: int, slices) -> np.ndarray:
    """(K, J, I) bool, True on ``slices`` along ``axis``."""
    on = np.zeros(shape[axis], bool)
    on[list(slices)] = True
    return np.broadcast_to(np.expand_dims(on, tuple(a for a in range(3) if a != axis)), shape)


class Sli2VolLogic:
    """Qt-free logic of the Sli2Vol module and effect; keeps the loaded model between runs."""

    def __init__(self):
        self._model_cache: dict = {}  # (model path, device) -> loaded model

    def model(self, model_path: str | None, device):
        """The loaded model for ``model_path`` (None: bundled) on ``device``, loaded once."""
        key = (str(model_path or default_model_path()), str(device))
        if key not in self._model_cache:
            self._model_cache = {key: load_model(key[0], device)}
        return self._model_cache[key]

    def propagate(
        self,
        volume_node,
        segmentation_node,
        options: PropagationOptions,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
    ) -> PropagationOutcome:
        """Propagate ``options.segment_ids`` of ``segmentation_node`` through ``volume_node``.

        Reads each segment on the source volume's voxel grid (whatever the segmentation's geometry),
        finds its anchors (painted slices; after an earlier run, the original annotation plus the
        slices edited since, see ``repropagation.py``), runs the core along the axis normal to
        ``options.view`` and returns the result. The scene is not modified (so a cancelled or failed
        run leaves it as it was).

        Raises :class:`sli2vol.InputError` (bad nodes, segment IDs, oblique view, ambiguous painting,
        nothing painted), :class:`sli2vol.ModelError`, :class:`sli2vol.PropagationCancelled`.
        """
        if volume_node is None or segmentation_node is None:
            raise InputError("choose a source volume and a segmentation")
        volume_grid.check_untransformed(volume_node, segmentation_node)
        image = volume_grid.volume_array(volume_node)
        ijk_to_ras = volume_grid.ijk_to_ras(volume_node)
        geometry = volume_grid.volume_geometry(volume_node)
        masks = {}
        for sid in options.segment_ids:
            name = _segment(segmentation_node, sid).GetName()
            masks[sid] = volume_grid.segment_on_geometry(segmentation_node, sid, geometry)
            if not masks[sid].any():
                raise InputError(f"segment '{name}' has nothing painted inside the source volume: paint at least one slice")
        grid = grid_digest(image.shape, ijk_to_ras)
        earlier = {sid: read_record(_segment(segmentation_node, sid), grid) if options.use_corrections else None
                   for sid in options.segment_ids}  # each segment's tag decoded once
        axis = self._axis(segmentation_node, options, masks, image.shape, ijk_to_ras, earlier)
        records = {sid: r if r is not None and r.axis == axis else None for sid, r in earlier.items()}
        annotation = np.zeros(image.shape, np.uint8)
        anchors, stops = {}, {}
        for label, sid in enumerate(options.segment_ids, start=1):
            anchors[sid] = anchor_slices(masks[sid], axis, records[sid])
            stops[sid] = erased_slices(masks[sid], axis, records[sid])
            if not anchors[sid]:
                raise InputError(f"segment '{_segment(segmentation_node, sid).GetName()}' has no painted slice left to "
                                 "propagate from")
            annotation[_slab(image.shape, axis, anchors[sid]) & masks[sid]] = label
        device = select_device(options.device)
        config = PropagationConfig(
            axis=axis, labels=list(range(1, len(options.segment_ids) + 1)),
            max_slices_backward=options.max_slices_backward, max_slices_forward=options.max_slices_forward,
            verification=VerificationConfig(enabled=options.verification), device=str(device),
            adaptation=AdaptationConfig(steps=options.adapt_steps),
        )
        apply_thread_policy("auto")  # the command line's choice: idle cores, threads sleep while waiting
        result = propagate_volume_with_confidence(image, annotation, volume_grid.spacing_kji(volume_node),
                                                  self.model(options.model_path, device), config, progress, cancel)
        labels, propagated, confidence = result.labels, {}, {}
        for label, sid in enumerate(options.segment_ids, start=1):
            written = self._written_slices(image.shape[axis], anchors[sid], stops[sid], options)
            off = ~_slab(image.shape, axis, written + anchors[sid])
            labels[(labels == label) & off] = 0
            propagated[sid], kept = written, set(written)
            confidence[sid] = {k: c for k, c in result.confidence[label].items() if k in kept}
        return PropagationOutcome(volume_node, segmentation_node, tuple(options.segment_ids), axis, labels, ijk_to_ras,
                                  anchors, propagated, confidence, str(device))

    @staticmethod
    def _axis(segmentation_node, options: PropagationOptions, masks: dict, shape: tuple, ijk_to_ras,
              earlier: dict) -> int:
        """The propagation axis: normal to the view, else the one of an earlier run, else detected.
        ``earlier``: segment ID -> record of an earlier run on this grid (or None)."""
        if options.view is None:
            for record in earlier.values():
                if record is not None:
                    return record.axis
            union = np.zeros(shape, np.uint8)
            for mask in masks.values():
                union |= mask
            return detect_annotation_axis(union)
        axis = propagation_axis(ijk_to_ras, options.view)
        for sid, mask in masks.items():
            if earlier[sid] is not None and earlier[sid].axis == axis:  # painted in an earlier run's plane
                continue
            counts = annotated_slice_counts(mask)
            if 2 * min(counts) <= counts[axis] and counts[axis] > 1:
                view = options.view if isinstance(options.view, str) else "the view"
                raise InputError(
                    f"segment '{_segment(segmentation_node, sid).GetName()}' does not look painted in {view}: it covers "
                    f"{counts[axis]} slices along the volume's {ARRAY_AXIS_NAMES[axis]} axis but only {min(counts)} along "
                    "another; paint single slices in the view you propagate from"
                )
        return axis

    @staticmethod
    def _written_slices(n: int, anchors: list, stops: list, options: PropagationOptions) -> list:
        """Slices a run replaces: from the first anchor back and the last anchor forward (within the
        limits, ending before an erased slice), and between anchors, without anchors and erased slices."""
        back = anchors[0] if options.max_slices_backward is None else min(anchors[0], options.max_slices_backward)
        fwd = n - 1 - anchors[-1] if options.max_slices_forward is None else min(n - 1 - anchors[-1],
                                                                                   options.max_slices_forward)
        lo, hi = anchors[0] - back, anchors[-1] + fwd
        lo = max([lo] + [s + 1 for s in stops if s < anchors[0]])
        hi = min([hi] + [s - 1 for s in stops if s > anchors[-1]])
        skip = set(anchors) | set(stops)
        return [k for k in range(lo, hi + 1) if k not in skip]

    def write_preview(self, outcome: PropagationOutcome, preview_segmentation_node) -> None:
        """Show ``outcome`` in ``preview_segmentation_node`` (replaced content): one segment per
        propagated segment with the same ID, name and colour, on the source volume's grid: the
        segment as :meth:`apply` would leave it without masking."""
        slicer = volume_grid._slicer()
        preview_segmentation_node.SetReferenceImageGeometryParameterFromVolumeNode(outcome.volume_node)
        segmentation = preview_segmentation_node.GetSegmentation()
        segmentation.RemoveAllSegments()
        geometry = volume_grid.volume_geometry(outcome.volume_node)
        for sid in outcome.segment_ids:
            source = _segment(outcome.segmentation_node, sid)
            segmentation.AddEmptySegment(sid, source.GetName(), source.GetColor())
            mask = self._result_on(outcome, sid, geometry)
            slicer.vtkSlicerSegmentationsModuleLogic.SetBinaryLabelmapToSegment(
                volume_grid.oriented_image_from_array(mask, geometry), preview_segmentation_node, sid,
                slicer.vtkSlicerSegmentationsModuleLogic.MODE_REPLACE)

    @staticmethod
    def _result_on(outcome: PropagationOutcome, segment_id: str, geometry) -> np.ndarray:
        """(K, J, I) uint8 on ``geometry``'s grid: the propagated slices from ``outcome``, the segment's
        current content everywhere else."""
        volume_geometry = volume_grid.volume_geometry(outcome.volume_node)
        shape = outcome.labels.shape
        written = _slab(shape, outcome.axis, outcome.propagated[segment_id]).astype(np.uint8)
        result = outcome.segment_mask(segment_id).astype(np.uint8)
        in_run = volume_grid.resample_to_geometry(volume_grid.oriented_image_from_array(written, volume_geometry), geometry)
        new = volume_grid.resample_to_geometry(volume_grid.oriented_image_from_array(result, volume_geometry), geometry)
        current = volume_grid.segment_on_geometry(outcome.segmentation_node, segment_id, geometry)
        return np.where(in_run > 0, new, current).astype(np.uint8)

    def apply(self, outcome: PropagationOutcome, writer: SegmentWriter) -> None:
        """Write ``outcome`` into its segmentation node as ONE undo step.

        ``writer.save_state_for_undo()`` once, then per segment ``writer.set_segment`` with
        ModificationModeSet and masking not bypassed: the segment is replaced on the propagated
        slices only (anchors and slices outside the run keep their content); the editable area,
        intensity range and overwrite mode of the segment editor node apply. Then the segment's
        re-propagation tag records what was written. Raises :class:`sli2vol.InputError` when the
        segmentation or a segment was removed since ``propagate``.
        """
        node = outcome.segmentation_node
        if node.GetScene() is None:
            raise InputError(f"the segmentation '{node.GetName()}' was removed from the scene since the propagation")
        for sid in outcome.segment_ids:
            _segment(node, sid)
        geometry = writer.reference_geometry()
        if geometry is None or min(geometry.GetDimensions()) <= 0:
            raise InputError(f"the segmentation '{node.GetName()}' has no reference geometry: select the source volume "
                             "in the Segment Editor first")
        images = {sid: volume_grid.oriented_image_from_array(self._result_on(outcome, sid, geometry), geometry)
                  for sid in outcome.segment_ids}
        writer.save_state_for_undo()
        for sid in outcome.segment_ids:
            writer.set_segment(node, sid, images[sid])
        volume_geometry = volume_grid.volume_geometry(outcome.volume_node)
        grid = grid_digest(outcome.labels.shape, outcome.ijk_to_ras)
        for sid in outcome.segment_ids:
            written = volume_grid.segment_on_geometry(node, sid, volume_geometry)
            record = PropagationRecord.of_segment(written, grid, outcome.axis, outcome.anchors[sid], outcome.propagated[sid])
            _segment(node, sid).SetTag(TAG_NAME, record.to_tag())

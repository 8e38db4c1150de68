"""Sli2VolLogic: read segments from MRML nodes, run the core, preview and apply the result."""
from __future__ import annotations

from typing import Callable

from Sli2VolSegmentLib.options import PropagationOptions
from Sli2VolSegmentLib.outcome import PropagationOutcome
from Sli2VolSegmentLib.segment_writer import SegmentWriter

ProgressCallback = Callable[[int, int], None]
CancelCheck = Callable[[], bool]


class Sli2VolLogic:
    """Qt-free logic of the Sli2Vol module and effect; keeps the loaded model between runs."""

    def __init__(self):
        self._model_cache: dict = {}  # (model path, device) -> loaded model

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
        raise NotImplementedError

    def write_preview(self, outcome: PropagationOutcome, preview_segmentation_node) -> None:
        """Show ``outcome`` in ``preview_segmentation_node`` (replaced content): one segment per
        propagated segment with the same ID, name and colour, on the source volume's grid."""
        raise NotImplementedError

    def apply(self, outcome: PropagationOutcome, writer: SegmentWriter) -> None:
        """Write ``outcome`` into its segmentation node as ONE undo step.

        ``writer.save_state_for_undo()`` once, then per segment ``writer.set_segment`` with
        ModificationModeSet and masking not bypassed: the segment is replaced on the propagated
        slices only (anchors and slices outside the run keep their content); the editable area,
        intensity range and overwrite mode of the segment editor node apply. Then the segment's
        re-propagation tag records what was written. Raises :class:`sli2vol.InputError` when the
        segmentation or a segment was removed since ``propagate``.
        """
        raise NotImplementedError

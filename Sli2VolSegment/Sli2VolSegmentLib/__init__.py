"""Sli2Vol MRML logic: the Qt-free layer between Slicer nodes and the ``sli2vol`` core.

Contract for the Qt layer (module widget, Segment Editor effect); every name below is stable:

- :class:`PropagationOptions` (``options.py``): what to propagate (segment IDs), the painted view
  (``"Red"``/``"Yellow"``/``"Green"`` or its SliceToRAS 4x4), slice limits each way, verification,
  model file (None: bundled), device (None: automatic, ``"cpu"``, ``"cuda"``), re-propagation on/off.
  Built once; bad values raise :class:`sli2vol.InputError` with a one-line message.
- :class:`Sli2VolLogic` (``propagation_logic.py``):
    * ``propagate(volume_node, segmentation_node, options, progress=None, cancel=None)`` ->
      :class:`PropagationOutcome`. Computes only; the scene is never modified. ``progress(done, total)``
      is called after every slice step, ``cancel()`` is polled as often and returning True raises
      :class:`sli2vol.PropagationCancelled`.
    * ``write_preview(outcome, preview_segmentation_node)``: the resulting segments (same IDs, names,
      colours) in a separate preview node on the source volume's grid.
    * ``apply(outcome, writer)``: writes the result as ONE undo step through a
      :class:`SegmentWriter` (``segment_writer.py``): :class:`EditorLogicWriter` around a
      ``vtkSlicerSegmentEditorLogic`` (module panel, tests) or :class:`ScriptedEffectWriter` around the
      effect's ``scriptedEffect`` (Segment Editor effect: the editor's own Undo/Redo then work).
      Masking (editable area, intensity range) and the overwrite mode of the segment editor node are
      honoured; annotated slices are never changed; re-propagation tags are stored in the segments.
- :class:`PropagationOutcome` (``outcome.py``): ``volume_node``, ``segmentation_node``, ``segment_ids``,
  ``axis``, ``labels`` (K, J, I) result on the source volume grid, ``anchors`` / ``propagated``
  ({segment ID: slice indices}), ``confidence`` ({segment ID: {slice: value in [0, 1]}}), ``device``;
  ``least_confident_slices(n)`` -> list of :class:`SliceToCheck` (segment_id, slice_index, ras,
  confidence), most worth a look first; jump the slice views to ``ras`` (the segment's centre on
  that slice), e.g. ``slicer.modules.markups.logic().JumpSlicesToLocation(*ras, True)``.
- Re-propagation (``repropagation.py``): after an apply, each segment's tag ``Sli2Vol.Propagation``
  records what was written; on the next run slices the user edited become anchors, unchanged
  written slices are recomputed, and a written slice the user erased ends the propagation there.
- :func:`propagation_axis` (``slice_axis.py``): the volume array axis normal to a view.

Limitations: the volume and the segmentation must not be under a transform (harden it first).

Errors: every expected failure is a :class:`sli2vol.InputError` / :class:`sli2vol.ModelError` /
:class:`sli2vol.PropagationCancelled` with a one-line message meant for the user.
Array convention: numpy arrays of a volume are indexed (K, J, I) like ``slicer.util.arrayFromVolume``;
"array axis" 0/1/2 means K/J/I.
"""
import importlib

# Names are imported on first use (PEP 562): the torch check in ``torch_environment`` and the Slicer
# layer must import from this package while torch (needed by ``sli2vol``) may still be missing.
_SOURCES = {
    "PropagationOptions": "options",
    "PropagationOutcome": "outcome",
    "SliceToCheck": "outcome",
    "Sli2VolLogic": "propagation_logic",
    "EditorLogicWriter": "segment_writer",
    "ScriptedEffectWriter": "segment_writer",
    "SegmentWriter": "segment_writer",
    "VIEW_NAMES": "slice_axis",
    "propagation_axis": "slice_axis",
    "visible_segment_ids": "segment_selection",
}


def __getattr__(name):
    if name not in _SOURCES:
        raise AttributeError(f"module 'Sli2VolSegmentLib' has no attribute {name!r}")
    return getattr(importlib.import_module(f"Sli2VolSegmentLib.{_SOURCES[name]}"), name)


__all__ = [
    "VIEW_NAMES",
    "EditorLogicWriter",
    "PropagationOptions",
    "PropagationOutcome",
    "ScriptedEffectWriter",
    "SegmentWriter",
    "Sli2VolLogic",
    "SliceToCheck",
    "propagation_axis",
    "visible_segment_ids",
]

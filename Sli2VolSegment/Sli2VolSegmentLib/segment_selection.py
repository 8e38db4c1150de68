"""Which segments a run propagates when the user asks for "all visible segments"."""
from __future__ import annotations


def visible_segment_ids(segmentation_node) -> list:
    """IDs of the segments of ``segmentation_node`` shown in the views (its display node's visibility)."""
    import vtk

    ids = vtk.vtkStringArray()
    segmentation_node.GetDisplayNode().GetVisibleSegmentIDs(ids)
    return [ids.GetValue(i) for i in range(ids.GetNumberOfValues())]

"""Export patches of segmented (and unsegmented) volumes of the scene into a crest dataset (Qt-free).

The scene is only read: segments are resampled onto their volume's grid in numpy, no node is added
or modified. Array work is done by :mod:`crest_tools.patch_export`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from crest_tools.export_settings import ClassMapping, ExportSettings
from crest_tools.patch_export import ExportPlan, VolumeSource, plan_export, volume_centres
from crest_tools.patch_sampling import resample_mask

from .node_arrays import segment_array, volume_array


def segment_classes(segmentation_node, mapping: ClassMapping) -> dict[str, str | None]:
    """segment id -> class name (None = skipped) of every segment of a segmentation."""
    segmentation = segmentation_node.GetSegmentation()
    classes = {}
    for index in range(segmentation.GetNumberOfSegments()):
        segment = segmentation.GetNthSegment(index)
        terminology = segment.GetTerminology() if segment.HasTerminology() else None
        classes[segmentation.GetNthSegmentID(index)] = mapping.class_of(segment.GetName(), terminology)
    return classes


def segment_masks_on_volume(
    volume_node, segmentation_node, segment_ids: Sequence[str]
) -> dict[str, np.ndarray]:
    """segment id -> bool mask (k, j, i) on the volume's voxel grid (nearest voxel of the segment)."""
    array, ijk_to_ras = volume_array(volume_node)
    masks = {}
    for segment_id in segment_ids:
        mask, mask_ijk_to_ras = segment_array(segmentation_node, segment_id)
        masks[segment_id] = resample_mask(mask, mask_ijk_to_ras, array.shape, ijk_to_ras)
    return masks


def volume_source(volume_node, segmentation_node, mapping: ClassMapping, volume_id: str) -> VolumeSource:
    """A volume and its segments (merged per class) as arrays; ``segmentation_node`` may be None.

    Segments without a voxel on the volume (empty, or drawn outside it) are named in
    ``empty_segments`` unless the mapping skips them.
    """
    array, ijk_to_ras = volume_array(volume_node)
    segments: dict[str | None, np.ndarray] = {}
    empty = []
    if segmentation_node is not None:
        classes = segment_classes(segmentation_node, mapping)
        for segment_id, mask in segment_masks_on_volume(volume_node, segmentation_node, list(classes)).items():
            name = classes[segment_id]
            segments[name] = segments[name] | mask if name in segments else mask
            if name is not None and not mask.any():
                empty.append(segmentation_node.GetSegmentation().GetSegment(segment_id).GetName())
    return VolumeSource(volume_id, array, ijk_to_ras, segments, empty)


def segmentation_choices(volume_node, segmentation_nodes: Sequence) -> tuple[list, bool]:
    """The segmentations to offer for ``volume_node``: those whose reference geometry is this volume
    first, then the others, in scene order; and whether the first one should be preselected (it
    references the volume)."""
    import slicer

    role = slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
    referencing = [s for s in segmentation_nodes if s.GetNodeReference(role) is volume_node]
    return referencing + [s for s in segmentation_nodes if s not in referencing], bool(referencing)


def volume_ids(volume_nodes: Sequence) -> list[str]:
    """Node names as volume ids; names used twice get the node ID appended."""
    names = [node.GetName() for node in volume_nodes]
    return [f"{n} ({node.GetID()})" if names.count(n) > 1 else n for n, node in zip(names, volume_nodes)]


def plan_scene_export(
    pairs: Sequence[tuple],
    settings: ExportSettings,
    mapping: ClassMapping | None = None,
    fixed_split: dict[str, str] | None = None,
) -> ExportPlan:
    """Plan an export from (volume node, segmentation node or None) pairs; see :func:`plan_export`.

    ``plan.summary`` holds the class counts to show before ``crest_tools.patch_export.write_export``.
    """
    mapping = mapping or ClassMapping()
    ids = volume_ids([volume for volume, _ in pairs])
    volumes = [
        volume_centres(volume_source(volume, segmentation, mapping, volume_id), settings, index)
        for index, ((volume, segmentation), volume_id) in enumerate(zip(pairs, ids))
    ]
    return plan_export(volumes, settings, fixed_split, mapping)


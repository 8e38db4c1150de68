"""The result of one propagation run, before it is written to the scene."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
from sli2vol.engine.confidence import check_order


class SliceToCheck(NamedTuple):
    """A propagated slice worth a look: ``ras`` (x, y, z mm) is the centre of the segment on that
    slice (the slice centre when the segment is empty there), for jumping the slice views."""

    segment_id: str
    slice_index: int  # index along the propagation axis of the source volume
    ras: tuple
    confidence: float  # 0 (doubtful) ... 1 (sure)


@dataclass
class PropagationOutcome:
    """What :meth:`Sli2VolLogic.propagate` computed; nothing of it is in the scene yet.

    Attributes:
        volume_node, segmentation_node: the nodes it was computed from.
        segment_ids: the propagated segments; segment ``segment_ids[k]`` has label ``k + 1`` in ``labels``.
        axis: propagation axis of the (K, J, I) volume array (0 = K, 1 = J, 2 = I).
        labels: (K, J, I) integer array on the source volume's voxel grid: each segment's anchors and
            propagated slices (0 elsewhere).
        ijk_to_ras: (4, 4) voxel -> RAS matrix of that grid.
        anchors: {segment ID: sorted slice indices used as anchors (painted or corrected)}.
        propagated: {segment ID: sorted slice indices the propagation computed (anchors excluded)};
            :meth:`Sli2VolLogic.apply` replaces the segment on exactly these slices.
        confidence: {segment ID: {slice index: confidence in [0, 1]}} for the propagated slices.
        device: the torch device the core ran on (e.g. ``"cpu"``).
    """

    volume_node: object
    segmentation_node: object
    segment_ids: tuple
    axis: int
    labels: np.ndarray
    ijk_to_ras: np.ndarray
    anchors: dict = field(default_factory=dict)
    propagated: dict = field(default_factory=dict)
    confidence: dict = field(default_factory=dict)
    device: str = "cpu"

    def segment_mask(self, segment_id: str) -> np.ndarray:
        """(K, J, I) bool: the segment's anchors and propagated slices."""
        return self.labels == self.segment_ids.index(segment_id) + 1

    def least_confident_slices(self, n: int = 5) -> list[SliceToCheck]:
        """The ``n`` propagated slices (over all segments) most worth a look: lowest confidence first,
        equal confidences farthest from the segment's anchors first (``sli2vol.engine.confidence.check_order``)."""
        ranked = []
        for sid, per_slice in self.confidence.items():
            order = check_order(per_slice, self.anchors[sid])
            ranked += [(per_slice[k], rank, sid, k) for rank, k in enumerate(order)]
        ranked.sort(key=lambda item: (item[0], item[1]))
        return [SliceToCheck(sid, int(k), self._slice_centre_ras(sid, k), float(c)) for c, _, sid, k in ranked[: max(n, 0)]]

    def _slice_centre_ras(self, segment_id: str, index: int) -> tuple:
        plane = np.take(self.labels, index, axis=self.axis) == self.segment_ids.index(segment_id) + 1
        in_plane = [a for a in range(3) if a != self.axis]
        points = np.argwhere(plane)
        centre = points.mean(axis=0) if len(points) else (np.asarray(plane.shape) - 1) / 2.0
        kji = np.zeros(3)
        kji[self.axis] = index
        kji[in_plane] = centre
        ras = self.ijk_to_ras @ np.array([kji[2], kji[1], kji[0], 1.0])
        return tuple(float(v) for v in ras[:3])

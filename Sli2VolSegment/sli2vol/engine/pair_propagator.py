"""One Sli2Vol step: propagate a mask from slice i to slice j (= i +- 1) inside a region of interest."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
import torch.nn.functional as F

from sli2vol.engine.affinity import DEFAULT_BAND_BYTES, warp_mask
from sli2vol.engine.region import ROI_SLACK_PX, Roi, full_frame, roi_around
from sli2vol.engine.slice_source import SliceSource
from sli2vol.engine.verification import VerificationConfig, verify_mask

ROI_MAX_OVERSIZE = 1.3  # a new, tighter ROI is placed when the last one is this many times larger than needed


class PairPropagator:
    """Runs the correspondence network on slice pairs of a :class:`SliceSource`.

    With ``use_roi`` the network only sees a region around the current mask, grown by a margin that
    covers twice the affinity window plus the receptive field, so the result equals the full-frame
    computation while the cost follows the structure's size.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        slices: SliceSource,
        device: torch.device,
        verification: VerificationConfig,
        use_roi: bool = True,
        band_bytes: int = DEFAULT_BAND_BYTES,
    ):
        self.model = model
        self.slices = slices
        self.device = device
        self.verification = verification
        self.use_roi = use_roi
        self.band_bytes = band_bytes
        self.stride = int(model.stride)
        self.radius = int(model.window_radius)
        reach = 2 * self.radius * self.stride + int(model.receptive_radius) + verification.ring_iterations
        self.margin = -(-reach // self.stride) * self.stride
        self._features: OrderedDict[tuple[int, Roi], torch.Tensor] = OrderedDict()
        self._last_roi: Roi | None = None

    def region(self, mask: np.ndarray) -> Roi:
        """The ROI for propagating ``mask``: the previous one while it still covers the mask's
        needs without being more than ``ROI_MAX_OVERSIZE`` times too large (so consecutive steps share
        features; a smaller ROI reuses the larger one's features, see :meth:`_cached`)."""
        if not self.use_roi:
            return full_frame(mask.shape)
        needed = roi_around(mask, self.margin)
        last = self._last_roi
        if last is None or not last.contains(needed) or last.area > ROI_MAX_OVERSIZE * needed.area:
            self._last_roi = roi_around(mask, self.margin + ROI_SLACK_PX)
        return self._last_roi

    def _padded_crop(self, index: int, roi: Roi) -> torch.Tensor:
        """(1, 1, h, w) crop, replicate-padded at its end to a multiple of the stride."""
        crop = torch.from_numpy(np.ascontiguousarray(self.slices[index][roi.slices]))[None, None]
        pad_h = -crop.shape[-2] % self.stride
        pad_w = -crop.shape[-1] % self.stride
        if pad_h or pad_w:
            crop = F.pad(crop, (0, pad_w, 0, pad_h), mode="replicate")
        return crop.to(self.device)

    def _cached(self, index: int, roi: Roi) -> torch.Tensor | None:
        """Features of slice ``index`` on ``roi`` from the cache: computed on ``roi`` itself, or cut out
        of those computed on a larger region (ROI bounds are multiples of the stride), which are at
        least as close to the full-frame features."""
        for (i, cached_roi), feats in reversed(self._features.items()):
            if i == index and cached_roi.contains(roi):
                self._features.move_to_end((i, cached_roi))
                y0, x0 = (roi.y0 - cached_roi.y0) // self.stride, (roi.x0 - cached_roi.x0) // self.stride
                h, w = -(-(roi.y1 - roi.y0) // self.stride), -(-(roi.x1 - roi.x0) // self.stride)
                return feats[:, :, y0 : y0 + h, x0 : x0 + w]
        return None

    def features(self, indices: tuple[int, ...], roi: Roi) -> list[torch.Tensor]:
        """(1, C, h, w) features of each slice in ``indices`` on ``roi``, cached for reuse."""
        found = {i: self._cached(i, roi) for i in indices}
        todo = [i for i in indices if found[i] is None]
        if todo:
            batch = torch.cat([self._padded_crop(i, roi) for i in todo])
            # the TorchScript profiling executor re-specialises for every new ROI shape: run it plain
            with torch.inference_mode(), torch.jit.optimized_execution(False):
                feats = self.model(batch)
            for k, i in enumerate(todo):
                found[i] = self._features[(i, roi)] = feats[k : k + 1]
        while len(self._features) > 4:
            self._features.popitem(last=False)
        return [found[i] for i in indices]

    def step(self, i: int, j: int, mask_i: np.ndarray, inside_sample: np.ndarray | None = None):
        """Propagate ``mask_i`` (H, W) bool from slice i to slice j; ``inside_sample``: foreground
        intensities for the verification module (default: slice i under ``mask_i``).

        Returns (roi, probability crop (h, w) float32 before verification, verified mask crop (h, w)
        bool). Pixels outside the ROI are background by construction.
        """
        roi = self.region(mask_i)
        f_i, f_j = self.features((i, j), roi)
        with torch.inference_mode():
            m = torch.zeros(1, 1, f_i.shape[-2] * self.stride, f_i.shape[-1] * self.stride, device=self.device)
            crop = mask_i[roi.slices]
            m[0, 0, : crop.shape[0], : crop.shape[1]] = torch.from_numpy(crop.astype(np.float32))
            prob = warp_mask(f_i, f_j, m, self.radius, self.stride, self.band_bytes)[0, 0, : crop.shape[0], : crop.shape[1]]
        prob = prob.float().cpu().numpy()
        kept = verify_mask(
            self.slices[i][roi.slices], crop, self.slices[j][roi.slices], prob > 0.5, self.verification, inside_sample
        )
        return roi, prob, kept

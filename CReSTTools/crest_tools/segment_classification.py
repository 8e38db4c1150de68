"""Classifying whole segments with a trained run: patches cut as at export, probabilities averaged.

A segment's patches (the same planes, size, window and count rule as the export that built the
run's dataset) are classified one by one; the segment's class probabilities are the mean of its
patches' softmax outputs, optionally after logit adjustment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .export_settings import ExportSettings
from .patch_export import export_settings_of
from .patch_sampling import choose_centres, patches_for_segment, sample_patches, volume_window


@dataclass
class SegmentPrediction:
    """Class of one segment.

    Attributes:
        probabilities: (K,) mean class probabilities over the segment's patches.
        patches: number of patches the mean is over (0 for an empty segment: no prediction).
    """

    segment_id: str
    class_names: list[str]
    probabilities: np.ndarray
    patches: int

    @property
    def class_name(self) -> str | None:
        return self.class_names[int(self.probabilities.argmax())] if self.patches else None

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max()) if self.patches else 0.0


def run_export_settings(run_dir: str | Path) -> ExportSettings:
    """The export settings of the dataset a run was trained on.

    Raises:
        ValueError: the run's dataset was not exported from segmentations (no settings in its manifest).
    """
    from .run_directory import RunDirectory

    return export_settings_of(RunDirectory(run_dir).load_config().dataset)[0]


def segment_patches(
    volume: np.ndarray,
    ijk_to_ras: np.ndarray,
    mask: np.ndarray,
    settings: ExportSettings,
    window: tuple[float, float] | None = None,
) -> np.ndarray:
    """(n, C, P, P) uint8 patches of one segment (mask on the volume grid), cut as the export does.

    ``window``: the volume's intensity window (:func:`volume_window`), when the caller cuts several
    segments of one volume and computes it once; None: computed here."""
    rng = np.random.default_rng([settings.seed, 2])
    centres = choose_centres(mask, patches_for_segment(int(mask.sum()), settings), rng)
    if len(centres) == 0:
        return np.zeros((0, settings.channels, settings.patch_px, settings.patch_px), dtype=np.uint8)
    window = volume_window(volume, settings) if window is None else window
    return np.concatenate(
        [sample_patches(volume, ijk_to_ras, centres, plane, settings, window) for plane in settings.planes]
    )


def classify_segments(
    trained, patches: dict[str, np.ndarray], device, logit_adjustment: bool = True
) -> list[SegmentPrediction]:
    """One :class:`SegmentPrediction` per segment id of ``patches`` (segment id -> (n, C, P, P) uint8).

    ``trained`` is a :class:`crest_tools.inference.TrainedModel`.
    """
    from .inference import predict_logits, softmax
    from .metrics import logit_adjusted

    predictions = []
    k = len(trained.class_names)
    for segment_id, images in patches.items():
        if len(images) == 0:
            predictions.append(SegmentPrediction(segment_id, trained.class_names, np.zeros(k), 0))
            continue
        logits = predict_logits(trained.model, images.astype(np.float32) / 255.0, device)
        if logit_adjustment:
            logits = logit_adjusted(logits, trained.prior)
        mean = softmax(logits).mean(axis=0)
        predictions.append(SegmentPrediction(segment_id, trained.class_names, mean, len(images)))
    return predictions

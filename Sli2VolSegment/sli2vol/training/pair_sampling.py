"""Self-supervised training pairs: neighbouring slices drawn along any axis of unlabelled volumes."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from sli2vol.errors import InputError
from sli2vol.validation import require, require_choice

MIN_CROP = 16  # smallest training crop side, in pixels (the affinity window must fit several times)
BALANCES = ("volume", "folder")  # what the pair draw makes equally likely: each volume, or each volume's folder


@dataclass
class PairSamplingConfig:
    crop: int = 128  # output side in pixels (square pixels of the finer in-plane spacing)
    gaps: tuple = (2, 3, 4)  # slice gaps between the two slices (reference: 2-4)
    max_gap_mm: float = 10.0  # gaps are capped so that gap * spacing <= this (at least 1 slice)
    axes: tuple = (0, 1, 2)  # axes to slice along (all three: coronal/sagittal propagation too)
    rotation_deg: float = 15.0  # random rotation range (+-)
    scale: tuple = (0.8, 1.25)  # random zoom range
    window_jitter: float = 0.1  # random shift/stretch of the intensity window (fraction of range)
    gamma: tuple = (0.7, 1.5)  # random gamma range
    min_foreground: float = 0.05  # resample crops whose mean intensity is below this (air)
    balance: str = "volume"  # "volume": every volume equally likely; "folder": every folder (e.g. dataset), then a volume in it

    def __post_init__(self) -> None:
        require("crop", self.crop, integer=True, minimum=MIN_CROP)
        require_choice("balance", self.balance, BALANCES)
        if not self.gaps or not self.axes:
            raise InputError(f"gaps and axes must not be empty, got gaps={self.gaps!r}, axes={self.axes!r}")
        for gap in self.gaps:
            require("gaps", gap, integer=True, minimum=1)
        for axis in self.axes:
            require_choice("axes", axis, (0, 1, 2))
        require("max_gap_mm", self.max_gap_mm, above=0.0)
        require("rotation_deg", self.rotation_deg, minimum=0.0)
        require("window_jitter", self.window_jitter, minimum=0.0, below=0.5)
        require("min_foreground", self.min_foreground, minimum=0.0, below=1.0)
        for name in ("scale", "gamma"):
            low, high = getattr(self, name)
            require(name, low, above=0.0)
            require(name, high, minimum=low)


class Volume:
    """A training volume: intensities normalised to [0, 1] stored as uint8 (Z, Y, X) + spacing (mm);
    ``folder``: the group it is drawn with when the sampling balances folders."""

    def __init__(self, normalised: np.ndarray, spacing: tuple[float, float, float], name: str = "", folder: str = ""):
        self.data = np.round(np.clip(normalised, 0.0, 1.0) * 255.0).astype(np.uint8)
        self.spacing = tuple(float(s) for s in spacing)
        self.name = name
        self.folder = folder


def draw_volume(volumes: list, rng: np.random.Generator, balance: str = "volume") -> Volume:
    """A random volume: uniform over ``volumes`` ("volume"), or a uniform folder, then a uniform
    volume of that folder ("folder": a dataset with many volumes is drawn as often as one with few)."""
    if balance == "volume":
        return volumes[rng.integers(len(volumes))]
    folders = sorted({v.folder for v in volumes})
    folder = folders[rng.integers(len(folders))]
    members = [v for v in volumes if v.folder == folder]
    return members[rng.integers(len(members))]


def _slice(volume: Volume, axis: int, index: int) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(np.take(volume.data, index, axis=axis))).float() / 255.0


def _crop_grid(shape_hw, spacing_hw, crop: int, rng: np.random.Generator, cfg: PairSamplingConfig) -> torch.Tensor:
    """Sampling grid (1, crop, crop, 2) for a random rotated, zoomed, square-pixel crop."""
    h, w = shape_hw
    pixel = min(spacing_hw) * rng.uniform(*cfg.scale)  # mm per output pixel
    half_mm = np.array([crop * pixel / 2.0, crop * pixel / 2.0])
    extent_mm = np.array([h * spacing_hw[0], w * spacing_hw[1]])
    centre = [rng.uniform(min(half_mm[k], extent_mm[k] / 2), max(extent_mm[k] - half_mm[k], extent_mm[k] / 2))
              for k in range(2)]
    angle = math.radians(rng.uniform(-cfg.rotation_deg, cfg.rotation_deg))
    cos, sin = math.cos(angle), math.sin(angle)
    # output normalised (x, y) -> rotated mm offset from the centre -> input normalised coords
    ax, ay = half_mm[1] / (extent_mm[1] / 2), half_mm[0] / (extent_mm[0] / 2)
    theta = torch.tensor(
        [[cos * ax, -sin * ax, centre[1] / (extent_mm[1] / 2) - 1.0],
         [sin * ay, cos * ay, centre[0] / (extent_mm[0] / 2) - 1.0]],
        dtype=torch.float32,
    )
    return F.affine_grid(theta[None], [1, 1, crop, crop], align_corners=False)


def _intensity_augment(pair: torch.Tensor, rng: np.random.Generator, cfg: PairSamplingConfig) -> torch.Tensor:
    """Same window jitter and gamma for both slices of a (2, H, W) pair."""
    lo = rng.uniform(-cfg.window_jitter, cfg.window_jitter)
    hi = 1.0 + rng.uniform(-cfg.window_jitter, cfg.window_jitter)
    out = ((pair - lo) / (hi - lo)).clamp(0.0, 1.0)
    return out ** rng.uniform(*cfg.gamma)


def sample_pair(volumes: list, rng: np.random.Generator, cfg: PairSamplingConfig) -> torch.Tensor:
    """One (2, crop, crop) pair of slices ``gap`` apart along a random axis, randomly ordered."""
    for _ in range(20):
        vol = draw_volume(volumes, rng, cfg.balance)
        axis = int(rng.choice([a for a in cfg.axes if vol.data.shape[a] > 1]))
        spacing = vol.spacing[axis]
        gaps = [g for g in cfg.gaps if g * spacing <= cfg.max_gap_mm] or [1]
        gap = min(int(rng.choice(gaps)), vol.data.shape[axis] - 1)
        i = int(rng.integers(0, vol.data.shape[axis] - gap))
        pair = torch.stack([_slice(vol, axis, i), _slice(vol, axis, i + gap)])
        plane_spacing = tuple(s for a, s in enumerate(vol.spacing) if a != axis)
        grid = _crop_grid(pair.shape[1:], plane_spacing, cfg.crop, rng, cfg)
        crop = F.grid_sample(pair[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
        if crop.mean() >= cfg.min_foreground:
            break
    if rng.random() < 0.5:
        crop = crop.flip(0)
    return _intensity_augment(crop, rng, cfg)


def sample_batch(volumes: list, batch_size: int, seed: int, step: int, rank: int, cfg: PairSamplingConfig):
    """(B, 2, crop, crop) batch determined only by (seed, step, rank): resuming reproduces it."""
    rng = np.random.default_rng([seed, step, rank])
    return torch.stack([sample_pair(volumes, rng, cfg) for _ in range(batch_size)])

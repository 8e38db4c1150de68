"""Dataclass configurations of a training run; the command line maps its flags onto these."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

METHODS = ("fixmatch", "crest", "crest+")
PICK_SOURCES = ("plain", "logit-adjusted")
ARCHITECTURES = ("small_cnn", "wide_resnet")


@dataclass
class ModelConfig:
    """Classifier network."""

    architecture: str = "small_cnn"  # "small_cnn" (fast on CPU) or "wide_resnet" (WRN-style, wider)
    width: int = 16  # channels of the first stage; later stages double it
    depth: int = 1  # convolutions (small_cnn) or residual blocks (wide_resnet) per stage

    def __post_init__(self) -> None:
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        if self.width < 1 or self.depth < 1:
            raise ValueError(f"width and depth must be >= 1, got width={self.width}, depth={self.depth}")


@dataclass
class FixMatchConfig:
    """One FixMatch training run (one CReST generation)."""

    steps: int = 500  # optimiser steps per generation
    batch_size: int = 32  # labelled images per step
    unlabelled_ratio: int = 3  # mu: unlabelled images per labelled image in a step
    threshold: float = 0.95  # confidence needed for a pseudo-label to count
    unlabelled_weight: float = 1.0  # lambda_u, weight of the unlabelled loss
    lr: float = 0.03  # SGD Nesterov learning rate, cosine-decayed over the generation
    momentum: float = 0.9
    weight_decay: float = 5e-4
    ema_decay: float = 0.999  # decay of the exponential moving average of the weights
    da_momentum: float = 0.99  # momentum of the running mean of predictions (distribution alignment)
    flip: bool = True  # horizontal flips in the weak augmentation (off for lateralised anatomy)

    def __post_init__(self) -> None:
        if not 0.0 < self.threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1], got {self.threshold}")
        if self.steps < 1 or self.batch_size < 1 or self.unlabelled_ratio < 0:
            raise ValueError(
                f"steps and batch_size must be >= 1 and unlabelled_ratio >= 0, got steps={self.steps}, "
                f"batch_size={self.batch_size}, unlabelled_ratio={self.unlabelled_ratio}"
            )
        for name in ("ema_decay", "da_momentum"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name} must be in [0, 1), got {getattr(self, name)}")


@dataclass
class CrestConfig:
    """The generation loop: which method, how many generations, how pseudo-labels are sampled."""

    method: str = "crest+"  # "fixmatch" (one generation), "crest" or "crest+"
    generations: int = 6  # reference: 6 for CReST+, 15 for CReST; forced to 1 for fixmatch
    alpha: float = 1.0 / 3.0  # sampling-rate exponent: mu_l = (N_{L+1-l} / N_1) ** alpha
    t_min: float = 0.5  # CReST+: temperature of the alignment target in the last generation
    # Deviations from the paper (off by default):
    pick_from: str = "plain"  # "logit-adjusted": rank picks on predictions adjusted by the labelled prior
    warm_start: bool = False  # generation g > 0 starts from generation g - 1's EMA weights

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.method == "fixmatch":
            self.generations = 1
        if self.generations < 1:
            raise ValueError(f"generations must be >= 1, got {self.generations}")
        if self.alpha < 0:
            raise ValueError(f"alpha must be >= 0, got {self.alpha}")
        if not 0.0 <= self.t_min <= 1.0:
            raise ValueError(f"t_min must be in [0, 1], got {self.t_min}")
        if self.pick_from not in PICK_SOURCES:
            raise ValueError(f"pick_from must be one of {PICK_SOURCES}, got {self.pick_from!r}")

    @property
    def distribution_alignment(self) -> bool:
        """True when pseudo-labels are distribution-aligned (CReST+)."""
        return self.method == "crest+"


@dataclass
class RunConfig:
    """Everything that determines a run; saved as RUN_DIR/config.json and compared on resume."""

    dataset: str = ""  # path of the dataset manifest
    seed: int = 0
    model: ModelConfig = field(default_factory=ModelConfig)
    fixmatch: FixMatchConfig = field(default_factory=FixMatchConfig)
    crest: CrestConfig = field(default_factory=CrestConfig)
    checkpoint_interval: int = 200  # steps between mid-generation checkpoints
    log_interval: int = 20  # steps between progress-log lines

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them."""
        data = dict(data)
        return cls(
            model=ModelConfig(**data.pop("model", {})),
            fixmatch=FixMatchConfig(**data.pop("fixmatch", {})),
            crest=CrestConfig(**data.pop("crest", {})),
            **data,
        )


def config_differences(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> tuple[str, ...]:
    """Dotted names of the fields whose values differ between two nested config dicts."""
    differences = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            differences.extend(config_differences(a, b, f"{prefix}{key}."))
        elif a != b:
            differences.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return tuple(differences)

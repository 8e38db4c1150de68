"""Dataclass configurations of a training run; the command line maps its flags onto these."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from sli2vol.errors import InputError
from sli2vol.validation import require, require_choice

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
        require_choice("architecture", self.architecture, ARCHITECTURES)
        require("width", self.width, integer=True, minimum=1)
        require("depth", self.depth, integer=True, minimum=1)


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
        require("threshold", self.threshold, above=0.0, maximum=1.0)
        require("steps", self.steps, integer=True, minimum=1)
        require("batch_size", self.batch_size, integer=True, minimum=1)
        require("unlabelled_ratio", self.unlabelled_ratio, integer=True, minimum=0)
        require("lr", self.lr, above=0.0)
        for name in ("unlabelled_weight", "weight_decay"):
            require(name, getattr(self, name), minimum=0.0)
        for name in ("momentum", "ema_decay", "da_momentum"):
            require(name, getattr(self, name), minimum=0.0, below=1.0)


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
        require_choice("method", self.method, METHODS)
        if self.method == "fixmatch":
            self.generations = 1
        require("generations", self.generations, integer=True, minimum=1)
        require("alpha", self.alpha, minimum=0.0)
        require("t_min", self.t_min, minimum=0.0, maximum=1.0)
        require_choice("pick_from", self.pick_from, PICK_SOURCES)
        if self.method == "fixmatch" and (self.warm_start or self.pick_from != "plain"):
            raise InputError(
                "warm_start and pick_from change how CReST generations follow each other; method 'fixmatch' "
                f"trains one generation, got warm_start={self.warm_start!r}, pick_from={self.pick_from!r}"
            )

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

    def __post_init__(self) -> None:
        require("seed", self.seed, integer=True, minimum=0)
        require("checkpoint_interval", self.checkpoint_interval, integer=True, minimum=1)
        require("log_interval", self.log_interval, integer=True, minimum=1)
        for name, part in (("model", ModelConfig), ("fixmatch", FixMatchConfig), ("crest", CrestConfig)):
            if not isinstance(getattr(self, name), part):
                raise InputError(
                    f"{name} must be a {part.__name__}, got {type(getattr(self, name)).__name__}"
                )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError`` naming them, bad values
        :class:`InputError`."""
        data = dict(data)
        return cls(
            model=ModelConfig(**data.pop("model", {})),
            fixmatch=FixMatchConfig(**data.pop("fixmatch", {})),
            crest=CrestConfig(**data.pop("crest", {})),
            **data,
        )

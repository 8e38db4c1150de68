"""The methods compared by an evaluation: the optical-flow baseline and Sli2Vol variants, each a
(model, verification on/off) pair, named after the paper's ablation when the models allow it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from sli2vol.engine.device import select_device
from sli2vol.engine.propagation import PropagationConfig, paper_config, propagate_volume
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError
from sli2vol.io.model_io import default_model_path, load_model
from sli2vol.training.adaptation import AdaptationConfig

OPTICAL_FLOW = "optical_flow"
ABLATION = {  # with an edge-profile and a raw-intensity model: the paper's ablation order (paper engine)
    "network": ("raw", False),
    "+edge": ("edge", False),
    "+verification": ("raw", True),
    "full": ("edge", True),
}
SINGLE_MODEL = {"no_verification": False, "full": True}
IMPROVED = "improved"  # the full method with this project's engine defaults (see propagation.paper_config)
ADAPTED = "improved+adapt"  # "improved" with per-scan self-supervised adaptation of the model

# predict(image (N0, N1, N2), spacing (mm, same axes), axis, index, slice_mask (H, W) bool) -> bool volume
Predictor = Callable[[np.ndarray, tuple, int, int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    model: str | None = None  # key into the models dict; None: optical flow
    verification: bool = False
    paper_engine: bool = True  # the paper's verification rule and no zoom; False: the project's defaults
    adapt: bool = False  # fine-tune a copy of the model on each scan first (the evaluation's adaptation settings)


def available_methods(models: dict) -> dict:
    """{name: MethodSpec} for ``models`` ({name: path or None}), defaults first.

    Always: "optical_flow", and "NAME" / "NAME+verification" for every model. With models named
    "edge" and "raw": also "network", "+edge", "+verification", "full" and "improved" (the
    defaults). With exactly one model: also "no_verification", "full" and "improved" (the defaults).
    With either: "improved+adapt" (the defaults plus per-scan adaptation; not run unless named).
    All but "improved" and "improved+adapt" run the paper's engine.
    """
    methods = {OPTICAL_FLOW: MethodSpec(OPTICAL_FLOW)}
    if {"edge", "raw"} <= set(models):
        methods.update({n: MethodSpec(n, m, v) for n, (m, v) in ABLATION.items()})
        methods[IMPROVED] = MethodSpec(IMPROVED, "edge", True, paper_engine=False)
        methods[ADAPTED] = MethodSpec(ADAPTED, "edge", True, paper_engine=False, adapt=True)
    elif len(models) == 1:
        (only,) = models
        methods.update({n: MethodSpec(n, only, v) for n, v in SINGLE_MODEL.items()})
        methods[IMPROVED] = MethodSpec(IMPROVED, only, True, paper_engine=False)
        methods[ADAPTED] = MethodSpec(ADAPTED, only, True, paper_engine=False, adapt=True)
    for key in models:
        for name, verification in ((key, False), (f"{key}+verification", True)):
            methods.setdefault(name, MethodSpec(name, key, verification))
    return methods


def default_method_names(models: dict) -> list:
    """The methods run when none are named."""
    if {"edge", "raw"} <= set(models):
        return [OPTICAL_FLOW, *ABLATION, IMPROVED]
    if len(models) == 1:
        return [OPTICAL_FLOW, *SINGLE_MODEL, IMPROVED]
    return [OPTICAL_FLOW, *(n for key in models for n in (key, f"{key}+verification"))]


def method_specs(models: dict, names: list | None = None) -> list:
    """The MethodSpecs for ``names`` (None: the defaults); unknown names raise :class:`InputError`."""
    available = available_methods(models)
    names = list(names) if names else default_method_names(models)
    unknown = [n for n in names if n not in available]
    if unknown:
        raise InputError(f"unknown methods {unknown}; with models {sorted(models)} choose from {list(available)}")
    return [available[n] for n in dict.fromkeys(names)]


def model_identity(path: str | None, model) -> dict:
    """Path, SHA-256 (first 16 hex digits) and the embedded description of a loaded model file."""
    path = Path(path) if path is not None else default_model_path()
    meta = getattr(model, "sli2vol_meta", {})
    return {
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest()[:16],
        "network": meta.get("network", {}),
        "info": meta.get("info", {}),
    }


def propagation_predictor(model, make_config: Callable[..., PropagationConfig]) -> Predictor:
    """Sli2Vol propagation of the one annotated slice (label 1) with ``model`` and the configuration
    ``make_config(axis=..., labels=[1])`` returns."""

    def predict(image, spacing, axis, index, slice_mask):
        annotation = np.zeros(image.shape, dtype=np.uint8)
        np.moveaxis(annotation, axis, 0)[index] = slice_mask
        return propagate_volume(image, annotation, spacing, model, make_config(axis=axis, labels=[1])) == 1

    return predict


def sli2vol_predictor(model, spec: MethodSpec, device, adaptation: AdaptationConfig | None = None) -> Predictor:
    """Sli2Vol propagation with ``model``, verification on or off, with the paper's engine or the
    project's defaults; ``adaptation`` is used when ``spec.adapt`` (None: the engine's default)."""
    options = {"verification": VerificationConfig(enabled=spec.verification), "device": device}
    if spec.adapt and adaptation is not None:
        options["adaptation"] = adaptation
    return propagation_predictor(model, partial(paper_config if spec.paper_engine else PropagationConfig, **options))


def optical_flow_predictor(image, spacing, axis, index, slice_mask) -> np.ndarray:
    """The optical-flow baseline as a :data:`Predictor` (spacing is not used)."""
    from sli2vol.evaluation.optical_flow import propagate_optical_flow  # OpenCV: the optional "eval" extra

    return propagate_optical_flow(image, slice_mask, index, axis)


def build_predictors(specs: list, models: dict, device: str | None = None,
                     adaptation: AdaptationConfig | None = None) -> tuple[dict, dict]:
    """({method name: Predictor}, {model name: identity}) with every used model loaded once;
    ``adaptation``: the settings of the methods that adapt the model to each scan."""
    dev = select_device(device)
    loaded = {key: load_model(models[key], dev) for key in dict.fromkeys(s.model for s in specs if s.model)}
    predictors = {
        s.name: optical_flow_predictor if s.model is None else sli2vol_predictor(loaded[s.model], s, dev, adaptation)
        for s in specs
    }
    return predictors, {key: model_identity(models[key], model) for key, model in loaded.items()}

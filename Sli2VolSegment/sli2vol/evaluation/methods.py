"""The methods compared by an evaluation: the optical-flow baseline and Sli2Vol variants, each a
(model, verification on/off) pair, named after the paper's ablation when the models allow it."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from sli2vol.engine.device import select_device
from sli2vol.engine.propagation import PropagationConfig, paper_config, propagate_volume
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError
from sli2vol.io.model_io import default_model_path, load_model

OPTICAL_FLOW = "optical_flow"
ABLATION = {  # with an edge-profile and a raw-intensity model: the paper's ablation order (paper engine)
    "network": ("raw", False),
    "+edge": ("edge", False),
    "+verification": ("raw", True),
    "full": ("edge", True),
}
SINGLE_MODEL = {"no_verification": False, "full": True}
IMPROVED = "improved"  # the full method with this project's engine defaults (see propagation.paper_config)

# predict(image (N0, N1, N2), spacing (mm, same axes), axis, index, slice_mask (H, W) bool) -> bool volume
Predictor = Callable[[np.ndarray, tuple, int, int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class MethodSpec:
    name: str
    model: str | None = None  # key into the models dict; None: optical flow
    verification: bool = False
    paper_engine: bool = True  # the paper's verification rule and no zoom; False: the project's defaults


def available_methods(models: dict) -> dict:
    """{name: MethodSpec} for ``models`` ({name: path or None}), defaults first.

    Always: "optical_flow", and "NAME" / "NAME+verification" for every model. With models named
    "edge" and "raw": also "network", "+edge", "+verification", "full" and "improved" (the
    defaults). With exactly one model: also "no_verification", "full" and "improved" (the defaults).
    All but "improved" run the paper's engine.
    """
    methods = {OPTICAL_FLOW: MethodSpec(OPTICAL_FLOW)}
    if {"edge", "raw"} <= set(models):
        methods.update({n: MethodSpec(n, m, v) for n, (m, v) in ABLATION.items()})
        methods[IMPROVED] = MethodSpec(IMPROVED, "edge", True, paper_engine=False)
    elif len(models) == 1:
        (only,) = models
        methods.update({n: MethodSpec(n, only, v) for n, v in SINGLE_MODEL.items()})
        methods[IMPROVED] = MethodSpec(IMPROVED, only, True, paper_engine=False)
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


def sli2vol_predictor(model, verification: bool, paper_engine: bool, device) -> Predictor:
    """Sli2Vol propagation of the one annotated slice with ``model``, verification on or off, with
    the paper's engine or the project's defaults."""

    def predict(image, spacing, axis, index, slice_mask):
        annotation = np.zeros(image.shape, dtype=np.uint8)
        np.moveaxis(annotation, axis, 0)[index] = slice_mask
        options = dict(axis=axis, labels=[1], verification=VerificationConfig(enabled=verification), device=device)
        config = paper_config(**options) if paper_engine else PropagationConfig(**options)
        return propagate_volume(image, annotation, spacing, model, config) == 1

    return predict


def optical_flow_predictor(image, spacing, axis, index, slice_mask) -> np.ndarray:
    """The optical-flow baseline as a :data:`Predictor` (spacing is not used)."""
    from sli2vol.evaluation.optical_flow import propagate_optical_flow  # OpenCV: the optional "eval" extra

    return propagate_optical_flow(image, slice_mask, index, axis)


def build_predictors(specs: list, models: dict, device: str | None = None) -> tuple[dict, dict]:
    """({method name: Predictor}, {model name: identity}) with every used model loaded once."""
    dev = select_device(device)
    loaded = {key: load_model(models[key], dev) for key in dict.fromkeys(s.model for s in specs if s.model)}
    predictors = {
        s.name: optical_flow_predictor if s.model is None else sli2vol_predictor(loaded[s.model], s.verification, s.paper_engine, dev)
        for s in specs
    }
    return predictors, {key: model_identity(models[key], model) for key, model in loaded.items()}

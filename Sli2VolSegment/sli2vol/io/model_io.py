"""Saving and loading Sli2Vol models as TorchScript files with an embedded JSON description."""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from sli2vol.engine.network import CorrespondenceEncoder, NetworkConfig
from sli2vol.errors import ModelError
from sli2vol.io.atomic import atomic_path

MODEL_FORMAT = "sli2vol-torchscript-1"
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[1] / "models" / "sli2vol_default.pt"


def default_model_path() -> Path:
    """The bundled model, overridable with the ``SLI2VOL_MODEL`` environment variable."""
    return Path(os.environ.get("SLI2VOL_MODEL", DEFAULT_MODEL_PATH))


def save_model(encoder: CorrespondenceEncoder, config: NetworkConfig, path: str | Path, info: dict | None = None):
    """Script ``encoder`` and write it atomically to ``path`` with ``config`` and ``info`` embedded."""
    meta = {"format": MODEL_FORMAT, "network": config.to_dict(), "info": info or {}}
    scripted = torch.jit.script(encoder.cpu().eval())
    with atomic_path(path) as tmp:
        torch.jit.save(scripted, str(tmp), _extra_files={"sli2vol.json": json.dumps(meta)})


def load_model(path: str | Path | None = None, device: str | torch.device = "cpu") -> torch.jit.ScriptModule:
    """Load a Sli2Vol TorchScript model (``None``: the default model) onto ``device``, in eval mode.

    The returned module has ``stride``, ``window_radius`` and ``receptive_radius`` attributes and a
    ``sli2vol_meta`` dict. Raises :class:`ModelError` with the reason for any bad file.
    """
    path = Path(path) if path is not None else default_model_path()
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    extra = {"sli2vol.json": ""}
    try:
        model = torch.jit.load(str(path), map_location=device, _extra_files=extra)
    except Exception as exc:  # torch raises RuntimeError/ValueError variants for corrupt archives
        raise ModelError(f"cannot read model file {path}: not a TorchScript archive ({type(exc).__name__})") from exc
    try:
        meta = json.loads(extra["sli2vol.json"] or "{}")
    except json.JSONDecodeError as exc:
        raise ModelError(f"model file {path} has a corrupt Sli2Vol description") from exc
    if meta.get("format") != MODEL_FORMAT:
        raise ModelError(f"{path} is a TorchScript file but not a Sli2Vol model (format {meta.get('format')!r})")
    for name in ("stride", "window_radius", "receptive_radius"):
        if not hasattr(model, name):
            raise ModelError(f"{path} lacks the model attribute {name!r}")
    model.eval()
    model.sli2vol_meta = meta
    return model


def build_encoder(config: NetworkConfig, seed: int = 0) -> CorrespondenceEncoder:
    """A freshly initialised encoder (deterministic for a given seed)."""
    generator_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    encoder = CorrespondenceEncoder(config)
    torch.random.set_rng_state(generator_state)
    return encoder

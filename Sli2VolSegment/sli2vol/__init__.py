"""Sli2Vol: propagate a single annotated slice through a 3-D volume (Qt-free core).

The public names below load on first use (PEP 562), so that importing a light part of the
package (``sli2vol.errors``, ``sli2vol.validation``, ``sli2vol.io.atomic``: what the Slicer
modules need at startup) does not load torch.
"""
from importlib import import_module

from sli2vol.engine.threads import prefer_passive_wait

prefer_passive_wait()  # before torch loads OpenMP: threads then sleep, not spin, while a busy core holds them up

_PUBLIC = {
    "InputError": "sli2vol.errors",
    "ModelError": "sli2vol.errors",
    "PropagationCancelled": "sli2vol.errors",
    "PropagationConfig": "sli2vol.engine.propagation",
    "PropagationResult": "sli2vol.engine.propagation",
    "VerificationConfig": "sli2vol.engine.verification",
    "default_model_path": "sli2vol.io.model_io",
    "load_model": "sli2vol.io.model_io",
    "propagate_volume": "sli2vol.engine.propagation",
    "propagate_volume_with_confidence": "sli2vol.engine.propagation",
}
__all__ = sorted(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'sli2vol' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)


def __dir__() -> list:
    return sorted(set(globals()) | set(_PUBLIC))

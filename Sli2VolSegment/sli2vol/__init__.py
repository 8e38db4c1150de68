"""Sli2Vol: propagate a single annotated slice through a 3-D volume (Qt-free core)."""
from sli2vol.engine.threads import prefer_passive_wait

prefer_passive_wait()  # before torch loads OpenMP: threads then sleep, not spin, while a busy core holds them up

from sli2vol.engine.propagation import (
    PropagationConfig,
    PropagationResult,
    propagate_volume,
    propagate_volume_with_confidence,
)
from sli2vol.engine.verification import VerificationConfig
from sli2vol.errors import InputError, ModelError, PropagationCancelled
from sli2vol.io.model_io import default_model_path, load_model

__all__ = [
    "InputError",
    "ModelError",
    "PropagationCancelled",
    "PropagationConfig",
    "PropagationResult",
    "VerificationConfig",
    "default_model_path",
    "load_model",
    "propagate_volume",
    "propagate_volume_with_confidence",
]

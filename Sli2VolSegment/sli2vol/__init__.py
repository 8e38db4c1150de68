"""Sli2Vol: propagate a single annotated slice through a 3-D volume (Qt-free core)."""
from .annotation import InputError
from .model_io import ModelError, default_model_path, load_model
from .propagation import PropagationCancelled, PropagationConfig, propagate_volume
from .verification import VerificationConfig

__all__ = [
    "InputError",
    "ModelError",
    "PropagationCancelled",
    "PropagationConfig",
    "VerificationConfig",
    "default_model_path",
    "load_model",
    "propagate_volume",
]

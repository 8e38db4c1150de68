"""Is PyTorch usable in this Python, and on which device? (Qt-free; the Slicer layer asks before it
imports ``sli2vol``, which needs torch.)"""
from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Callable

MINIMUM_TORCH_VERSION = (2, 0)
TORCH_REQUIREMENT = ">=2.0"  # the same minimum, in the form PyTorchUtils.installTorch expects
DEVICE_CHOICES = ("auto", "cpu", "cuda")


def parse_version(version: str) -> tuple[int, ...]:
    """Leading numeric release of a version string: "2.13.0+cpu" -> (2, 13, 0)."""
    match = re.match(r"\d+(\.\d+)*", version.strip())
    if match is None:
        raise ValueError(f"not a version number: {version!r}")
    return tuple(int(part) for part in match.group(0).split("."))


@dataclass(frozen=True)
class TorchEnvironment:
    """What the running Python offers: torch's version (None when it cannot be imported, with the reason
    in ``problem``) and whether CUDA can be used."""

    version: str | None
    cuda_available: bool = False
    cuda_device_name: str | None = None
    problem: str | None = None

    @property
    def usable(self) -> bool:
        """torch imports and is at least MINIMUM_TORCH_VERSION."""
        return self.version is not None and parse_version(self.version) >= MINIMUM_TORCH_VERSION

    @property
    def needs_install(self) -> bool:
        """True when torch must be installed or upgraded before Sli2Vol can run."""
        return not self.usable

    def device(self, choice: str = "auto") -> str:
        """The torch device a run will use for a device choice ("auto", "cpu" or "cuda")."""
        if choice not in DEVICE_CHOICES:
            raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}, got {choice!r}")
        if choice == "cuda" and not self.cuda_available:
            raise ValueError("device 'cuda' requested but this PyTorch cannot use a CUDA GPU; choose Auto or CPU")
        if choice == "auto":
            return "cuda" if self.cuda_available else "cpu"
        return choice

    def describe(self, choice: str = "auto") -> str:
        """One line for the user interface, e.g. "PyTorch 2.13.0+cpu, running on CPU"."""
        if self.version is None:
            return f"PyTorch is not installed ({self.problem})" if self.problem else "PyTorch is not installed"
        if not self.usable:
            return f"PyTorch {self.version} is too old (Sli2Vol needs {TORCH_REQUIREMENT})"
        try:
            device = self.device(choice)
        except ValueError as error:
            return f"PyTorch {self.version}: {error}"
        where = f"GPU ({self.cuda_device_name})" if device == "cuda" and self.cuda_device_name else device.upper()
        return f"PyTorch {self.version}, running on {where}"


def probe_torch(import_module: Callable = importlib.import_module) -> TorchEnvironment:
    """Import torch (through ``import_module``) and report its version and CUDA support; never raises."""
    try:
        torch = import_module("torch")
    except Exception as error:  # noqa: BLE001 -- ImportError, or a broken install raising anything (OSError for a DLL, ...)
        return TorchEnvironment(version=None, problem=f"{type(error).__name__}: {error}")
    version = str(getattr(torch, "__version__", "0"))
    try:
        cuda = bool(torch.cuda.is_available())
        name = torch.cuda.get_device_name(0) if cuda else None
    except Exception as error:  # noqa: BLE001 -- a CUDA build without a working driver
        return TorchEnvironment(version=version, problem=f"CUDA check failed: {error}")
    return TorchEnvironment(version=version, cuda_available=cuda, cuda_device_name=name)

"""The decision the Slicer layer takes before importing sli2vol: is torch usable, and on which device?"""
from __future__ import annotations

import pytest
import torch
from Sli2VolSegmentLib.torch_environment import TorchEnvironment, parse_version, probe_torch


def _missing(name):
    raise ModuleNotFoundError(f"No module named {name!r}")


def test_probe_reports_the_installed_torch():
    env = probe_torch()
    assert env.version == torch.__version__
    assert env.cuda_available == torch.cuda.is_available()
    assert env.usable and not env.needs_install
    assert env.device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert env.describe().startswith(f"PyTorch {torch.__version__}, running on ")


def test_missing_torch_asks_for_an_install_and_says_why():
    env = probe_torch(import_module=_missing)
    assert env.version is None and env.needs_install and not env.usable
    assert "ModuleNotFoundError" in env.problem
    assert env.describe() == f"PyTorch is not installed ({env.problem})"


def test_a_broken_torch_install_is_reported_not_raised():
    def broken(name):
        raise OSError("libtorch_cpu.so: cannot open shared object file")

    env = probe_torch(import_module=broken)
    assert env.needs_install and "libtorch_cpu.so" in env.problem


@pytest.mark.parametrize("version, usable", [("1.13.1", False), ("2.0.0", True), ("2.13.0+cpu", True),
                                             ("10.1.0.dev20260101", True)])
def test_minimum_version(version, usable):
    env = TorchEnvironment(version=version)
    assert env.usable is usable and env.needs_install is not usable
    if not usable:
        assert "too old" in env.describe()


def test_device_choice():
    cpu_only = TorchEnvironment(version="2.13.0")
    gpu = TorchEnvironment(version="2.13.0", cuda_available=True, cuda_device_name="NVIDIA H100")
    assert cpu_only.device("auto") == "cpu" and gpu.device("auto") == "cuda"
    assert gpu.device("cpu") == "cpu"
    assert gpu.describe("auto") == "PyTorch 2.13.0, running on GPU (NVIDIA H100)"
    assert cpu_only.describe("auto") == "PyTorch 2.13.0, running on CPU"
    with pytest.raises(ValueError, match="'cuda' requested"):
        cpu_only.device("cuda")
    assert "'cuda' requested" in cpu_only.describe("cuda")
    with pytest.raises(ValueError, match="'tpu'"):
        gpu.device("tpu")


def test_parse_version():
    assert parse_version("2.13.0+cpu") == (2, 13, 0)
    with pytest.raises(ValueError, match="'abc'"):
        parse_version("abc")

"""The ``sli2vol`` bad-input table: every refused command exits with its documented status, prints one
line naming the thing and the reason, leaves the inputs unchanged and leaves nothing behind."""
from __future__ import annotations

import numpy as np
import pytest
import SimpleITK as sitk
import torch
from cli_harness import assert_refused
from sli2vol.cli import main
from sli2vol.engine.network import NetworkConfig
from sli2vol.errors import EXIT_ERROR, EXIT_USAGE
from sli2vol.io.model_io import build_encoder, save_model
from sli2vol.training.pair_sampling import PairSamplingConfig
from sli2vol.training.trainer import TrainConfig, TrainingRun


def _write(array: np.ndarray, path, spacing=(1.0, 1.0, 2.0)) -> None:
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(spacing)
    sitk.WriteImage(image, str(path))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    """A valid but untrained model file: the refusals never get as far as using its weights."""
    path = tmp_path_factory.mktemp("model") / "untrained.pt"
    save_model(build_encoder(NetworkConfig()), NetworkConfig(), path)
    return str(path)


@pytest.fixture
def workspace(tmp_path):
    """A tiny image, a one-slice annotation, an unlabelled training volume and a data folder."""
    rng = np.random.default_rng(0)
    image = (rng.normal(40, 20, (12, 32, 32))).astype(np.int16)
    mask = np.zeros(image.shape, np.uint8)
    mask[6, 10:20, 12:22] = 1
    _write(image, tmp_path / "ct.nii.gz")
    _write(mask, tmp_path / "mask.nii.gz")
    _write(mask, tmp_path / "mask_other_grid.nii.gz", spacing=(0.5, 0.5, 2.0))
    (tmp_path / "volumes").mkdir()
    _write(image, tmp_path / "volumes" / "vol.nii.gz")
    (tmp_path / "junk.nii.gz").write_bytes(b"not an image")
    (tmp_path / "junk.pt").write_bytes(b"not a model")
    (tmp_path / "exists.nii.gz").write_bytes(b"precious")
    (tmp_path / "afile").write_text("a file, not a folder")
    return tmp_path


def _existing_run(d, steps=4, checkpoint=b""):
    """A run folder as ``TRAIN`` with ``--steps STEPS`` makes it (and a checkpoint file's bytes)."""
    run = TrainingRun(d / "run")
    run.prepare(TrainConfig(steps=steps, batch_size=1, sampling=PairSamplingConfig(crop=16)).to_dict())
    if checkpoint:
        run.checkpoint_path.write_bytes(checkpoint)


def _files(d, names, content=b"old"):
    (d / "out").mkdir(exist_ok=True)
    for name in names:
        (d / "out" / name).write_bytes(content)


PROPAGATE = "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/o.nii.gz --model {model} --quiet"
TRAIN = "train {d}/volumes --run-dir {d}/run --steps 4 --batch-size 1 --crop 16 --quiet"
EVALUATE = "evaluate --pair {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/out --model {model} --quiet"

CASES = [
    # options refused by their validators (EXIT_USAGE), before anything is read
    ("window-reversed", PROPAGATE + " --window 500 -500", EXIT_USAGE, "low < high", None),
    ("window-empty", PROPAGATE + " --window 0 0", EXIT_USAGE, "low < high", None),
    ("window-nan", PROPAGATE + " --window nan 1", EXIT_USAGE, "finite", None),
    ("device-gpu", PROPAGATE + " --device gpu", EXIT_USAGE, "'gpu' is not a device name", None),
    ("device-mps", PROPAGATE + " --device mps", EXIT_USAGE, "MPS (Apple GPU) is not available", None),
    ("device-meta", PROPAGATE + " --device meta", EXIT_USAGE, "not supported", None),
    ("min-structure-negative", PROPAGATE + " --min-structure-px -1", EXIT_USAGE, "must be >= 0, got -1",
     None),
    ("min-structure-nan", PROPAGATE + " --min-structure-px nan", EXIT_USAGE, "an integer is needed", None),
    ("max-slice-step-negative", PROPAGATE + " --max-slice-step-px -1", EXIT_USAGE, "must be >= 0", None),
    ("max-slice-step-nan", PROPAGATE + " --max-slice-step-px nan", EXIT_USAGE, "finite", None),
    ("boundary-negative", PROPAGATE + " --boundary-px -2", EXIT_USAGE, "must be >= 0", None),
    ("adapt-steps-negative", PROPAGATE + " --adapt-steps -5", EXIT_USAGE, "must be >= 0", None),
    ("adapt-seconds-inf", PROPAGATE + " --adapt-seconds inf", EXIT_USAGE, "finite", None),
    ("adapt-seed-negative", PROPAGATE + " --adapt-seed -1", EXIT_USAGE, "must be >= 0", None),
    ("growth-z-negative", PROPAGATE + " --growth-z -0.5", EXIT_USAGE, "must be >= 0", None),
    ("growth-z-inf", PROPAGATE + " --growth-z inf", EXIT_USAGE, "finite", None),
    ("convex-solidity-above-one", PROPAGATE + " --convex-solidity 1.5", EXIT_USAGE, "must be <= 1", None),
    ("ct-window-negative", PROPAGATE + " --ct-window-hu -400", EXIT_USAGE, "must be >= 0", None),
    ("backward-negative", PROPAGATE + " --backward -1", EXIT_USAGE, "must be >= 0", None),
    ("labels-zero", PROPAGATE + " --labels 0", EXIT_USAGE, "label ids must be integers >= 1", None),
    ("labels-text", PROPAGATE + " --labels a,b", EXIT_USAGE, "comma-separated integer", None),
    ("threads-zero", PROPAGATE + " --threads 0", EXIT_USAGE, "must be >= 1", None),
    ("threads-negative", PROPAGATE + " --threads -1", EXIT_USAGE, "must be >= 1", None),
    ("axis-unknown", PROPAGATE + " --axis q", EXIT_USAGE, "invalid choice", None),
    ("unknown-option", PROPAGATE + " --frobnicate", EXIT_USAGE, "unrecognized arguments", None),
    ("demo-seed-negative", "demo -o {d}/demo --seed -1", EXIT_USAGE, "must be >= 0", None),
    ("train-steps-zero", TRAIN + " --steps 0", EXIT_USAGE, "must be >= 1", None),
    ("train-checkpoint-every-zero", TRAIN + " --checkpoint-every 0", EXIT_USAGE, "must be >= 1", None),
    ("train-lr-zero", TRAIN + " --lr 0", EXIT_USAGE, "must be > 0", None),
    ("train-lr-nan", TRAIN + " --lr nan", EXIT_USAGE, "finite", None),
    ("train-batch-zero", TRAIN + " --batch-size 0", EXIT_USAGE, "must be >= 1", None),
    ("train-seed-negative", TRAIN + " --seed -3", EXIT_USAGE, "must be >= 0", None),
    ("evaluate-worst-negative", EVALUATE + " --worst -1", EXIT_USAGE, "must be >= 0", None),
    ("evaluate-workers-zero", EVALUATE + " --workers 0", EXIT_USAGE, "must be >= 1", None),
    ("evaluate-max-cases-zero", EVALUATE + " --max-cases 0", EXIT_USAGE, "must be >= 1", None),
    # files, models, folders and configurations refused before any work (EXIT_ERROR)
    ("image-missing", "propagate {d}/nope.nii.gz {d}/mask.nii.gz -o {d}/o.nii.gz --model {model} --quiet",
     EXIT_ERROR, "file not found", None),
    ("image-not-an-image",
     "propagate {d}/junk.nii.gz {d}/mask.nii.gz -o {d}/o.nii.gz --model {model} --quiet",
     EXIT_ERROR, "cannot read", None),
    ("output-folder-missing",
     "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/missing/o.nii.gz --model {model}",
     EXIT_ERROR, "does not exist", None),
    ("output-is-a-folder", "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/volumes --model {model}",
     EXIT_ERROR, "is a folder", None),
    ("output-exists", "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/exists.nii.gz --model {model}",
     EXIT_ERROR, "exists; use --force", None),
    ("mask-is-the-image", "propagate {d}/ct.nii.gz {d}/ct.nii.gz -o {d}/out.nii.gz --model {model}",
     EXIT_ERROR, "is the image itself", None),
    ("output-is-the-mask",
     "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/mask.nii.gz --force --model {model}",
     EXIT_ERROR, "is also an input", None),
    ("output-is-the-mask-spelled-otherwise",
     "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/volumes/../mask.nii.gz --force --model {model}",
     EXIT_ERROR, "is also an input", None),
    ("output-is-the-image-through-a-link",
     "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/link.nii.gz --force --model {model}",
     EXIT_ERROR, "is also an input", lambda d: (d / "link.nii.gz").symlink_to(d / "ct.nii.gz")),
    ("output-type-unsupported-before-work",
     "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/o.txt --model {d}/absent.pt", EXIT_ERROR,
     "unsupported file type", None),
    ("model-missing", "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/o.nii.gz --model {d}/absent.pt",
     EXIT_ERROR, "model file not found", None),
    ("model-garbage", "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/o.nii.gz --model {d}/junk.pt",
     EXIT_ERROR, "not a TorchScript archive", None),
    ("probe-named-file-survives",
     "propagate {d}/ct.nii.gz {d}/mask.nii.gz -o {d}/o.nii.gz --model {d}/junk.pt", EXIT_ERROR,
     "not a TorchScript archive", lambda d: (d / "o.nii.gz.probe").write_text("a user's file")),
    ("mask-other-grid", "propagate {d}/ct.nii.gz {d}/mask_other_grid.nii.gz -o {d}/o.nii.gz --model {model}",
     EXIT_ERROR, "does not match the image's", None),
    ("labels-not-annotated", PROPAGATE + " --labels 5", EXIT_ERROR, "not on any annotated slice", None),
    ("demo-files-exist", "demo -o {d}/out --model {model} --quiet", EXIT_ERROR, "exists; use --force",
     lambda d: _files(d, ["result.nii.gz"])),
    ("demo-output-is-a-file", "demo -o {d}/afile --model {model} --quiet", EXIT_ERROR, "is a file", None),
    ("demo-model-missing", "demo -o {d}/demo --model {d}/absent.pt --quiet", EXIT_ERROR,
     "model file not found", None),
    ("train-source-missing", "train {d}/absent --run-dir {d}/run --quiet", EXIT_ERROR,
     "training source not found", None),
    ("train-run-reused-with-other-options", TRAIN + " --steps 5", EXIT_ERROR,
     "different config (steps: 4 -> 5", lambda d: _existing_run(d)),
    ("train-run-dir-is-a-file", "train {d}/volumes --run-dir {d}/afile --quiet", EXIT_ERROR, "is a file",
     None),
    ("train-run-dir-without-config", TRAIN, EXIT_ERROR, "not a run folder",
     lambda d: (d / "run").mkdir() or (d / "run" / "checkpoint.pt").write_bytes(b"a user's file")),
    ("train-odd-crop", TRAIN.replace("--crop 16", "--crop 31"), EXIT_ERROR, "crop must be a multiple of 2",
     None),
    ("train-crop-too-small", TRAIN.replace("--crop 16", "--crop 8"), EXIT_ERROR, "crop must be >= 16", None),
    ("train-device-cuda", TRAIN + " --device cuda", EXIT_USAGE, "CUDA is not available", "no-cuda"),
    ("train-model-exists", TRAIN + " -o {d}/exists.nii.gz", EXIT_ERROR, "exists; use --force", None),
    ("train-model-folder-missing", TRAIN + " -o {d}/missing/m.pt", EXIT_ERROR, "does not exist", None),
    ("train-model-is-a-source", TRAIN + " -o {d}/volumes/vol.nii.gz --force", EXIT_ERROR, "is also an input",
     None),
    ("export-no-run", "export {d}/volumes -o {d}/m.pt", EXIT_ERROR, "not a run folder", None),
    ("export-no-checkpoint", "export {d}/run -o {d}/m.pt", EXIT_ERROR, "has no checkpoint yet",
     lambda d: _existing_run(d)),
    ("export-corrupt-checkpoint", "export {d}/run -o {d}/m.pt", EXIT_ERROR, "is unreadable: corrupt",
     lambda d: _existing_run(d, checkpoint=b"PK\x03\x04 cut short")),
    ("export-corrupt-config", "export {d}/run -o {d}/m.pt", EXIT_ERROR, "not JSON",
     lambda d: _existing_run(d) or (d / "run" / "config.json").write_text("{cut")),
    ("export-output-exists", "export {d}/run -o {d}/exists.nii.gz", EXIT_ERROR, "exists; use --force",
     lambda d: _existing_run(d, checkpoint=b"x")),
    ("evaluate-no-data", "evaluate -o {d}/out --model {model}", EXIT_ERROR, "give either a data folder",
     None),
    ("evaluate-results-exist", EVALUATE, EXIT_ERROR, "exists; use --force",
     lambda d: _files(d, ["results.json"])),
    ("evaluate-output-is-a-file", EVALUATE.replace("{d}/out", "{d}/afile"), EXIT_ERROR, "is a file", None),
    ("evaluate-model-missing", EVALUATE.replace("{model}", "{d}/absent.pt"), EXIT_ERROR,
     "model file not found", None),
    ("evaluate-unknown-method", EVALUATE + " --methods bogus", EXIT_ERROR, "unknown methods", None),
    ("evaluate-manifest-missing", "evaluate {d}/volumes -o {d}/out --model {model}", EXIT_ERROR,
     "no manifest.json", None),
]


@pytest.mark.parametrize("argv,status,message,setup", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused(workspace, model_path, argv, status, message, setup):
    if setup == "no-cuda":
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    elif setup is not None:
        setup(workspace)
    args = argv.format(d=workspace, model=model_path).split()
    assert_refused(main, args, [workspace, model_path], status, message, prog="sli2vol")


def test_table_covers_every_command():
    commands = {c[1].split()[0] for c in CASES}
    assert commands == {"propagate", "demo", "train", "export", "evaluate"}


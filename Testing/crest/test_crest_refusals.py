"""The ``crest`` bad-input table: every refused command exits with its documented status, prints one
line naming the thing and the reason, leaves the inputs unchanged and leaves nothing behind."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cli_harness import assert_refused, run_cli
from crest_synthetic import synthetic_arrays, train_options
from crest_tools.cli import main
from crest_tools.config import RunConfig
from crest_tools.dataset_format import save_dataset
from crest_tools.run_directory import RunDirectory
from sli2vol.errors import EXIT_ERROR, EXIT_USAGE


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """(dataset folder, finished one-generation run folder), trained once for the whole table."""
    root = tmp_path_factory.mktemp("crest_refusals")
    save_dataset(root / "dataset", **synthetic_arrays())
    run = root / "run"
    outcome = run_cli(main, ["train", root / "dataset", "-o", run, *train_options(1, 10, method="fixmatch")])
    assert outcome.status == 0, outcome.stderr
    return root / "dataset", run


@pytest.fixture
def workspace(tmp_path):
    """Prediction inputs: good images and several bad ones."""
    images = (synthetic_arrays(seed=5)["images"][:8] * 255).astype(np.uint8)  # (8, 1, 12, 12)
    np.savez(tmp_path / "good.npz", images=images)
    np.savez(tmp_path / "rgb.npz", images=np.repeat(images, 3, axis=1))
    np.savez(tmp_path / "big.npz", images=np.zeros((2, 1, 16, 16), np.uint8))
    np.savez(tmp_path / "nan.npz", images=np.full((2, 1, 12, 12), np.nan, np.float32))
    np.savez(tmp_path / "other.npz", pictures=images)
    np.save(tmp_path / "single.npy", images)
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    (tmp_path / "exists.csv").write_text("precious")
    return tmp_path


def _other_run(d, dataset):
    """A run folder holding a config that differs from TRAIN's in alpha."""
    config = RunConfig(dataset=str((dataset / "manifest.json").resolve()))
    RunDirectory(d / "run").prepare(config)


def _dataset_variant(folder, unlabelled=True, size=None):
    """A valid dataset that training cannot use: no unlabelled split, or images cropped to ``size`` px."""
    arrays = synthetic_arrays()
    if not unlabelled:
        arrays["splits"]["unlabelled"] = []
    if size is not None:
        arrays["images"] = arrays["images"][:, :, :size, :size]
    save_dataset(folder, **arrays)


TRAIN = "train {dataset} -o {d}/run " + " ".join(train_options(1, 10, method="fixmatch"))
PREDICT = "predict {run} {d}/good.npz -o {d}/p.csv"
EVALUATE = "evaluate {run} -o {d}/evaluation"

CASES = [
    ("threads-negative", TRAIN + " --threads -1", EXIT_USAGE, "must be >= 1", None),
    ("threads-zero", TRAIN + " --threads 0", EXIT_USAGE, "must be >= 1", None),
    ("checkpoint-interval-zero", TRAIN + " --checkpoint-interval 0", EXIT_USAGE, "must be >= 1", None),
    ("log-interval-zero", TRAIN + " --log-interval 0", EXIT_USAGE, "must be >= 1", None),
    ("steps-zero", TRAIN + " --steps 0", EXIT_USAGE, "must be >= 1", None),
    ("generations-zero", TRAIN + " --generations 0", EXIT_USAGE, "must be >= 1", None),
    ("threshold-zero", TRAIN + " --threshold 0", EXIT_USAGE, "must be > 0", None),
    ("threshold-above-one", TRAIN + " --threshold 1.5", EXIT_USAGE, "must be <= 1", None),
    ("ema-decay-one", TRAIN + " --ema-decay 1", EXIT_USAGE, "must be < 1", None),
    ("alpha-negative", TRAIN + " --alpha -1", EXIT_USAGE, "must be >= 0", None),
    ("t-min-above-one", TRAIN + " --t-min 2", EXIT_USAGE, "must be <= 1", None),
    ("lr-nan", TRAIN + " --lr nan", EXIT_USAGE, "finite", None),
    ("warm-start-with-fixmatch", TRAIN + " --warm-start", EXIT_ERROR, "method 'fixmatch' trains one generation", None),
    ("la-picks-with-fixmatch", TRAIN + " --pick-from logit-adjusted", EXIT_ERROR, "got warm_start=False, pick_from=", None),
    ("width-zero", TRAIN + " --width 0", EXIT_USAGE, "must be >= 1", None),
    ("seed-negative", TRAIN + " --seed -1", EXIT_USAGE, "must be >= 0", None),
    ("device-gpu", TRAIN + " --device gpu", EXIT_USAGE, "'gpu' is not a device name", None),
    ("device-mps", PREDICT + " --device mps", EXIT_USAGE, "MPS (Apple GPU) is not available", None),
    ("predict-window-reversed", PREDICT + " --window 1 0", EXIT_USAGE, "low < high", None),
    ("evaluate-generation-negative", EVALUATE + " --generation -1", EXIT_USAGE, "must be >= 0", None),
    ("train-without-unlabelled", "train {d}/no_unlabelled -o {d}/run --method fixmatch", EXIT_ERROR,
     "'unlabelled' split is empty", lambda d, ds: _dataset_variant(d / "no_unlabelled", unlabelled=False)),
    ("train-tiny-images", "train {d}/tiny -o {d}/run", EXIT_ERROR, "3x3 pixels are too small to train on",
     lambda d, ds: _dataset_variant(d / "tiny", size=3)),
    ("train-dataset-missing", "train {d}/absent -o {d}/run", EXIT_ERROR, "dataset manifest not found", None),
    ("train-run-reused-with-other-options", TRAIN, EXIT_ERROR, "different config (", _other_run),
    (
        "train-run-dir-without-config",
        TRAIN,
        EXIT_ERROR,
        "not a run folder",
        lambda d, ds: (d / "run").mkdir() or (d / "run" / "generation_0.pt").write_bytes(b"a user's file"),
    ),
    (
        "predict-arrays-missing",
        "predict {run} {d}/absent.npz -o {d}/p.csv",
        EXIT_ERROR,
        "file not found",
        None,
    ),
    (
        "predict-arrays-corrupt",
        "predict {run} {d}/junk.npz -o {d}/p.csv",
        EXIT_ERROR,
        "not an npz archive",
        None,
    ),
    (
        "predict-arrays-npy",
        "predict {run} {d}/single.npy -o {d}/p.csv",
        EXIT_ERROR,
        "is a single .npy array",
        None,
    ),
    (
        "predict-arrays-without-images",
        "predict {run} {d}/other.npz -o {d}/p.csv",
        EXIT_ERROR,
        "lacks the array 'images'",
        None,
    ),
    (
        "predict-wrong-channel-count",
        "predict {run} {d}/rgb.npz -o {d}/p.csv",
        EXIT_ERROR,
        "images are (3, 12, 12) (C, H, W) but generation 0 was trained on (1, 12, 12)",
        None,
    ),
    (
        "predict-other-image-size",
        "predict {run} {d}/big.npz -o {d}/p.csv",
        EXIT_ERROR,
        "images are (1, 16, 16)",
        None,
    ),
    ("predict-nan", "predict {run} {d}/nan.npz -o {d}/p.csv", EXIT_ERROR, "NaN or infinite", None),
    (
        "predict-output-folder-missing",
        "predict {run} {d}/good.npz -o {d}/missing/p.csv",
        EXIT_ERROR,
        "does not exist",
        None,
    ),
    (
        "predict-output-exists",
        "predict {run} {d}/good.npz -o {d}/exists.csv",
        EXIT_ERROR,
        "exists; use --force",
        None,
    ),
    (
        "predict-output-is-the-input",
        "predict {run} {d}/good.npz -o {d}/good.npz --force",
        EXIT_ERROR,
        "is also an input",
        None,
    ),
    (
        "predict-output-type",
        "predict {run} {d}/good.npz -o {d}/p.txt",
        EXIT_ERROR,
        "unsupported file type",
        None,
    ),
    ("predict-not-a-run", "predict {d} {d}/good.npz -o {d}/p.csv", EXIT_ERROR, "not a run folder", None),
    (
        "predict-generation-not-finished",
        PREDICT + " --generation 4",
        EXIT_ERROR,
        "has no finished generation 4 (last finished: 0)",
        None,
    ),
    ("evaluate-not-a-run", "evaluate {d} -o {d}/evaluation", EXIT_ERROR, "not a run folder", None),
    (
        "evaluate-files-exist",
        EVALUATE,
        EXIT_ERROR,
        "exists; use --force",
        lambda d, ds: (d / "evaluation").mkdir() or (d / "evaluation" / "metrics.json").write_text("{}"),
    ),
    ("evaluate-output-is-a-file", "evaluate {run} -o {d}/exists.csv", EXIT_ERROR, "is a file", None),
]


@pytest.mark.parametrize("argv,status,message,setup", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_refused(finished, workspace, argv, status, message, setup):
    dataset, run = finished
    if setup is not None:
        setup(workspace, dataset)
    torch.set_num_threads(1)
    args = argv.format(d=workspace, dataset=dataset, run=run).split()
    assert_refused(main, args, [workspace, dataset, run], status, message, prog="crest")


def test_corrupt_generation_file(finished, tmp_path):
    """A truncated generation_<g>.pt is reported as a corrupt checkpoint, and the run is left as it was."""
    _, run = finished
    copy = tmp_path / "run"
    copy.mkdir()
    for path in run.iterdir():
        if path.is_file():
            (copy / path.name).write_bytes(
                path.read_bytes()[: len(path.read_bytes()) // 2]
                if path.name == "generation_0.pt"
                else path.read_bytes()
            )
    assert_refused(
        main,
        ["predict", copy, tmp_path / "x.npz", "-o", tmp_path / "p.csv"],
        [tmp_path, run],
        EXIT_ERROR,
        "is unreadable: corrupt",
        prog="crest",
    )

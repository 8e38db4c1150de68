"""The crest command line: train, evaluate (metrics and figures), predict (refusals: test_crest_refusals)."""

import csv
import json

import numpy as np
import pytest
from crest_synthetic import synthetic_arrays, train_options
from crest_tools.cli import main

TRAIN_OPTIONS = train_options(2, 60, method="crest")


@pytest.fixture
def finished_run(dataset_folder, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(dataset_folder), "-o", str(run), *TRAIN_OPTIONS]) == 0
    return run


def test_evaluate_writes_metrics_and_figures(finished_run, capsys):
    assert main(["evaluate", str(finished_run), "--device", "cpu"]) == 0
    output = finished_run / "evaluation"
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["generation"] == 1 and len(metrics["history"]) == 2
    assert len(metrics["plain"]["recall"]) == len(metrics["la"]["precision"]) == 4
    assert metrics["plain"]["balanced_accuracy"] > 0.8
    for name in ("confusion_matrix_plain.png", "confusion_matrix_la.png", "accuracy_per_generation.png"):
        assert (output / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "balanced accuracy" in capsys.readouterr().out
    before = (output / "metrics.json").read_bytes()
    assert main(["evaluate", str(finished_run), "--device", "cpu"]) == 1  # replacing needs --force
    assert "exists; use --force" in capsys.readouterr().err
    assert (output / "metrics.json").read_bytes() == before
    assert main(["evaluate", str(finished_run), "--device", "cpu", "--force"]) == 0


def test_predict_writes_one_row_per_image(finished_run, tmp_path):
    arrays = synthetic_arrays(seed=5)
    test = arrays["splits"]["test"]
    np.savez(tmp_path / "new.npz", images=(arrays["images"][test] * 255).astype(np.uint8))
    assert main(["predict", str(finished_run), str(tmp_path / "new.npz"), "-o", str(tmp_path / "p.csv")]) == 0
    with open(tmp_path / "p.csv") as stream:
        rows = list(csv.DictReader(stream))
    assert len(rows) == len(test)
    predicted = np.array([int(r["class_id"]) for r in rows])
    assert (predicted == arrays["labels"][test]).mean() > 0.8
    assert rows[0]["class_name"] == ["zero", "one", "two", "three"][predicted[0]]

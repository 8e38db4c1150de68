"""The crest command line: train, evaluate (metrics and figures), predict (refusals: test_crest_refusals)."""

import csv
import json

import numpy as np
import pytest
from cli_harness import run_cli
from crest_synthetic import synthetic_arrays, train_options
from crest_tools.cli import main
from crest_tools.progress_log import read_progress_log
from sli2vol.errors import EXIT_INTERRUPTED

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


def test_interrupted_train_says_what_it_kept_and_resumes(dataset_folder, tmp_path, monkeypatch):
    from crest_tools.crest import CrestRun

    observer = CrestRun._step_observer

    def ctrl_c_at_step_7(self, *args):
        after_step = observer(self, *args)

        def stopped(step, logs):
            after_step(step, logs)
            if step == 7:
                raise KeyboardInterrupt

        return stopped

    run = tmp_path / "run"
    argv = ["train", str(dataset_folder), "-o", str(run), *train_options(1, 10, method="fixmatch"),
            "--checkpoint-interval", "5"]
    monkeypatch.setattr(CrestRun, "_step_observer", ctrl_c_at_step_7)
    outcome = run_cli(main, argv)
    assert outcome.status == EXIT_INTERRUPTED
    assert outcome.error_lines == [(f"crest train: interrupted; {run} keeps checkpoint.pt; "
                                    "run the same command again to resume")]
    monkeypatch.undo()
    assert run_cli(main, argv).status == 0
    assert [e["event"] for e in read_progress_log(run / "progress.jsonl")].count("resume") == 1


def test_crest_command_line_needs_no_medical_image_readers():
    """crest trains on exported arrays: its command line must import on a machine without SimpleITK
    or slicerio (a GPU server, say), although it shares sli2vol's error boundary."""
    import subprocess
    import sys

    blocked = "import sys; sys.modules.update(SimpleITK=None, slicerio=None); import crest_tools.cli"
    finished = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr

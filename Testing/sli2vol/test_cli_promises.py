"""What the command line promises beyond single refusals: the base install suffices for propagation
and the demo (OpenCV and matplotlib blocked), the demo's montage shows what it says, a bug prints
one line and a log file, and an interrupted training says what it kept and resumes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk
from cli_harness import run_cli
from sli2vol.cli import main
from sli2vol.errors import EXIT_ERROR, EXIT_INTERNAL, EXIT_INTERRUPTED
from sli2vol.evaluation.montage import GAP
from sli2vol.training import trainer

BLOCK_EXTRAS = """
import runpy, sys
class BlockExtras:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("cv2", "matplotlib"):
            raise ImportError(f"{name} is blocked: testing the base install")
sys.meta_path.insert(0, BlockExtras())
sys.argv = ["sli2vol", *sys.argv[1:]]
runpy.run_module("sli2vol.cli", run_name="__main__")
"""


def run_without_extras(*args, cwd=None) -> subprocess.CompletedProcess:
    """``python -m sli2vol.cli ARGS`` in a fresh interpreter where importing cv2 or matplotlib fails."""
    return subprocess.run([sys.executable, "-c", BLOCK_EXTRAS, *map(str, args)], check=False,
                          capture_output=True, text=True, cwd=cwd, timeout=600)


def test_help_and_import_need_no_optional_extras():
    done = run_without_extras("propagate", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: sli2vol propagate" in done.stdout
    probe = "import sys; sys.argv = ['x', '--help']; import sli2vol, sli2vol.cli; print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "'cv2'" not in loaded and "'matplotlib'" not in loaded


def _png_pixels(path: Path) -> np.ndarray:
    """Decode the demo's PNG with matplotlib (an independent reader) -> (H, W, 3) uint8."""
    from matplotlib.image import imread

    return (imread(str(path))[..., :3] * 255).round().astype(np.uint8)


def test_demo_on_the_base_install_writes_volumes_and_a_montage(tmp_path):
    done = run_without_extras("demo", "-o", tmp_path / "demo", "--threads", "1", "--quiet")
    assert done.returncode == 0, done.stderr
    dices = [float(line.split("Dice")[1]) for line in done.stdout.splitlines() if "Dice" in line]
    assert len(dices) == 2 and min(dices) > 0.9
    montage_line = [line for line in done.stdout.splitlines() if line.startswith("montage: ")]
    assert montage_line and str(tmp_path / "demo" / "montage.png") in montage_line[0]
    assert sorted(p.name for p in (tmp_path / "demo").iterdir()) == [
        "annotation.nii.gz", "image.nii.gz", "montage.png", "result.nii.gz", "truth.nii.gz"]

    pixels = _png_pixels(tmp_path / "demo" / "montage.png")
    annotation = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "demo" / "annotation.nii.gz")))
    result = sitk.GetArrayFromImage(sitk.ReadImage(str(tmp_path / "demo" / "result.nii.gz")))
    _, h, w = annotation.shape
    # rows: 4 slices; columns: annotation, result, truth
    assert pixels.shape == (4 * h + 3 * GAP, 3 * w + 2 * GAP, 3)
    slices = [int(v) for v in montage_line[0].split("slices ")[1].split(";")[0].split(", ")]
    assert slices[0] == int(np.flatnonzero(annotation.any(axis=(1, 2)))[0])  # the annotated slice comes first

    def panel(row, column):
        top, left = row * (h + GAP), column * (w + GAP)
        return pixels[top: top + h, left: left + w].astype(int)

    for row, index in enumerate(slices):
        for column, labels in enumerate((annotation, result)):
            coloured = (np.ptp(panel(row, column), axis=2) > 8)  # grey pixels have r = g = b
            assert coloured.any() == labels[index].any(), (row, column)
            assert (coloured & (labels[index] == 0)).mean() < 0.02  # colour only on and around the labels


def test_an_unexpected_exception_prints_one_line_and_writes_the_traceback(tmp_path, monkeypatch):
    def broken(path):
        raise ZeroDivisionError("a bug in the reader")

    monkeypatch.setattr("sli2vol.cli.propagate.read_image", broken)
    outcome = run_cli(main, ["propagate", tmp_path / "i.nii.gz", tmp_path / "m.nii.gz",
                             "-o", tmp_path / "o.nii.gz"])
    assert outcome.status == EXIT_INTERNAL
    line, = outcome.error_lines
    assert line.startswith("sli2vol propagate: internal error (ZeroDivisionError: a bug in the reader)")
    log = Path(line.rsplit(" ", 1)[1])
    try:
        text = log.read_text()
        assert "Traceback" in text and "def broken" not in text and "ZeroDivisionError" in text
    finally:
        log.unlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.fixture
def volumes(tmp_path):
    image = sitk.GetImageFromArray(np.random.default_rng(0).normal(40, 30, (10, 40, 40)).astype(np.int16))
    (tmp_path / "volumes").mkdir()
    sitk.WriteImage(image, str(tmp_path / "volumes" / "a.nii.gz"))
    return tmp_path


def _interrupt_at(monkeypatch, stop_step: int) -> None:
    """Make training raise KeyboardInterrupt (as Ctrl-C does) when it draws the batch of ``stop_step``."""
    draw = trainer.sample_batch

    def sample_batch(volumes, batch_size, seed, step, rank, cfg):
        if step == stop_step:
            raise KeyboardInterrupt
        return draw(volumes, batch_size, seed, step, rank, cfg)

    monkeypatch.setattr(trainer, "sample_batch", sample_batch)


TRAIN = ["--steps", "4", "--batch-size", "1", "--crop", "16", "--checkpoint-every", "2", "--threads", "1",
         "--quiet"]


def test_interrupted_training_says_what_it_kept_and_resumes(volumes, monkeypatch, restore_threads):
    argv = ["train", volumes / "volumes", "--run-dir", volumes / "run", *TRAIN]
    _interrupt_at(monkeypatch, 3)
    outcome = run_cli(main, argv)
    assert outcome.status == EXIT_INTERRUPTED
    assert outcome.error_lines == [(f"sli2vol train: interrupted; {volumes / 'run'} keeps checkpoint.pt; "
                                    "run the same command again to resume")]
    assert trainer.TrainingRun(volumes / "run").load_state()["step"] == 2
    monkeypatch.undo()
    outcome = run_cli(main, argv)
    assert outcome.status == 0, outcome.stderr
    assert trainer.TrainingRun(volumes / "run").load_state()["step"] == 4
    assert (volumes / "run" / "model.pt").is_file()


def test_training_interrupted_before_its_first_checkpoint_leaves_nothing(volumes, monkeypatch,
                                                                           restore_threads):
    _interrupt_at(monkeypatch, 1)
    outcome = run_cli(main, ["train", volumes / "volumes", "--run-dir", volumes / "runs" / "first", *TRAIN])
    assert outcome.status == EXIT_INTERRUPTED
    assert outcome.error_lines == ["sli2vol train: interrupted before the first checkpoint; nothing was kept"]
    assert sorted(p.name for p in volumes.iterdir()) == ["volumes"]


def test_interrupted_evaluation_keeps_the_results_so_far(tmp_path, monkeypatch):
    from sli2vol.evaluation import optical_flow
    from sli2vol.phantom import make_phantom

    pairs = []
    for n in range(2):
        image, labels, spacing = make_phantom(shape=(16, 48, 48), seed=30 + n)
        for name, array in (("image", image.astype(np.int16)), ("label", labels)):
            volume = sitk.GetImageFromArray(array)
            volume.SetSpacing(tuple(reversed(spacing)))
            sitk.WriteImage(volume, str(tmp_path / f"{name}{n}.nii.gz"))
        pairs += ["--pair", tmp_path / f"image{n}.nii.gz", tmp_path / f"label{n}.nii.gz"]
    flow, calls = optical_flow.propagate_optical_flow, []

    def stopped_by_ctrl_c(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return flow(*args, **kwargs)

    monkeypatch.setattr(optical_flow, "propagate_optical_flow", stopped_by_ctrl_c)
    outcome = run_cli(main, ["evaluate", *pairs, "-o", tmp_path / "out", "--methods", "optical_flow",
                             "--quiet"])
    assert outcome.status == EXIT_INTERRUPTED
    assert outcome.error_lines == [(f"sli2vol evaluate: interrupted after 2 of 4 results; they are kept in "
                                    f"{tmp_path / 'out' / 'results.json'} (marked incomplete)")]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert not saved["complete"] and len(saved["records"]) == 2


def test_a_demo_that_fails_while_writing_leaves_no_file_or_folder(tmp_path, monkeypatch):
    def disk_full(rgb, path):
        raise OSError(28, "No space left on device", str(path))

    monkeypatch.setattr("sli2vol.cli.propagate.write_png", disk_full)
    (tmp_path / "kept").mkdir()
    (tmp_path / "kept" / "notes.txt").write_text("a user's file")
    for folder in (tmp_path / "new" / "demo", tmp_path / "kept"):
        outcome = run_cli(main, ["demo", "-o", folder, "--threads", "1", "--quiet",
                                 "--backward", "2", "--forward", "2"])
        assert outcome.status == EXIT_ERROR
        assert outcome.error_lines == [(f"sli2vol demo: error: [Errno 28] No space left on device: "
                                        f"'{folder / 'montage.png'}'")]
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == ["kept", "kept/notes.txt"]

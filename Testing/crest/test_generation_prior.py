"""Logit adjustment with the generation's labelled prior (reference) or the original one; variants."""

import csv
import dataclasses

import numpy as np
import pytest
import torch
from crest_synthetic import synthetic_arrays, train_options
from crest_tools.cli import main
from crest_tools.config import CrestConfig
from crest_tools.crest import CrestRun, Picks
from crest_tools.dataset_format import load_dataset
from crest_tools.distributed import Placement
from crest_tools.progress_log import read_progress_log
from crest_tools.run_directory import RunDirectory


@pytest.fixture
def crest_run(dataset_folder, tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(dataset_folder), "-o", str(run), *train_options(2, 40, method="crest")]) == 0
    return RunDirectory(run)


def _probabilities(run_dir, images_path, generation, la_prior, tmp_path):
    output = tmp_path / f"p_{generation}_{la_prior}.csv"
    options = ["--generation", str(generation), "--logit-adjustment", "--la-prior", la_prior]
    assert main(["predict", str(run_dir.path), str(images_path), "-o", str(output), *options]) == 0
    with open(output) as stream:
        return np.array(
            [[float(v) for k, v in row.items() if k.startswith("p_")] for row in csv.DictReader(stream)]
        )


def test_generation_prior_is_original_at_generation_0_and_includes_the_picks_after(crest_run, tmp_path):
    first, second = (crest_run.load(crest_run.generation_path(g)) for g in (0, 1))
    labelled = load_dataset(crest_run.load_config().dataset).labelled_counts()
    np.testing.assert_array_equal(first["prior"], first["original_prior"])
    assert first["result"]["recall_la"] == first["result"]["recall_la_original"]
    expected = labelled + np.array(first["result"]["picked_per_class"])  # generation 1 trained on these
    np.testing.assert_allclose(second["prior"], expected / expected.sum())
    np.testing.assert_allclose(second["original_prior"], labelled / labelled.sum())
    assert not np.allclose(second["prior"], second["original_prior"])
    assert second["result"]["labelled_prior"] == second["prior"].tolist()

    arrays = synthetic_arrays(seed=3)
    images_path = tmp_path / "new.npz"
    np.savez(images_path, images=arrays["images"][arrays["splits"]["test"]])
    at_0 = [_probabilities(crest_run, images_path, 0, p, tmp_path) for p in ("generation", "original")]
    at_1 = [_probabilities(crest_run, images_path, 1, p, tmp_path) for p in ("generation", "original")]
    np.testing.assert_array_equal(at_0[0], at_0[1])
    assert np.abs(at_1[0] - at_1[1]).max() > 1e-3


def test_picks_from_a_one_step_generation_raise_the_imbalance_and_warn(dataset_folder, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(dataset_folder), "-o", str(run), *train_options(2, 1, method="crest")]) == 0
    events = read_progress_log(run / "progress.jsonl")
    result = next(e for e in events if e["event"] == "generation" and e["generation"] == 0)
    assert result["imbalance_after"] > result["imbalance_before"]
    warnings = [e for e in events if e["event"] == "warning"]
    assert len(warnings) == 1 and warnings[0]["generation"] == 0
    assert "raise the labelled imbalance" in capsys.readouterr().err
    assert main(["evaluate", str(run), "--generation", "0", "--device", "cpu"]) == 0
    assert "picks after generation 0" in capsys.readouterr().out


def test_logit_adjusted_picks_move_predictions_away_from_the_head_class(quick_config, tmp_path):
    quick_config.fixmatch.steps = 20
    histories = {}
    for pick_from in ("plain", "logit-adjusted"):
        config = dataclasses.replace(
            quick_config, crest=CrestConfig("crest", generations=2, pick_from=pick_from)
        )
        run_dir = RunDirectory(tmp_path / pick_from)
        run_dir.prepare(config)
        run = CrestRun(config, load_dataset(config.dataset), run_dir, Placement(torch.device("cpu")), False)
        histories[pick_from] = run.run()
    plain, adjusted = (histories[p][0] for p in ("plain", "logit-adjusted"))
    assert plain["balanced_accuracy"] == adjusted["balanced_accuracy"]  # same generation-0 model
    head = int(np.argmax(load_dataset(quick_config.dataset).labelled_counts()))
    assert adjusted["predicted_per_class"][head] < plain["predicted_per_class"][head]
    assert sum(adjusted["predicted_per_class"]) == sum(plain["predicted_per_class"])


def test_warm_start_begins_a_generation_from_the_previous_ema(quick_config, tmp_path):
    quick_config.fixmatch.steps = 5
    quick_config.crest = CrestConfig("crest", generations=2, warm_start=True)
    run_dir = RunDirectory(tmp_path / "run")
    run_dir.prepare(quick_config)
    run = CrestRun(
        quick_config, load_dataset(quick_config.dataset), run_dir, Placement(torch.device("cpu")), False
    )
    run.run()
    previous = run_dir.load(run_dir.generation_path(0))["ema"]
    started = run._trainer(1, Picks.none()).network.state_dict()
    for name, tensor in previous.items():
        torch.testing.assert_close(started[name], tensor, msg=name)
    quick_config.crest.warm_start = False
    cold = CrestRun(
        quick_config, load_dataset(quick_config.dataset), run_dir, Placement(torch.device("cpu")), False
    )
    assert not torch.equal(
        cold._trainer(1, Picks.none()).network.state_dict()["classifier.weight"],
        previous["classifier.weight"],
    )

"""End-to-end training on the synthetic long-tailed data: learning, interruption and resume."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from crest_synthetic import synthetic_arrays, train_options
from crest_tools.config import CrestConfig, RunConfig
from crest_tools.crest import CrestRun
from crest_tools.dataset_format import DatasetError, load_dataset, save_dataset
from crest_tools.distributed import Placement
from crest_tools.progress_log import read_progress_log
from crest_tools.run_directory import RunDirectory
from sli2vol.errors import InputError

CPU = Placement(torch.device("cpu"))


class Interrupted(Exception):
    pass


def train(config: RunConfig, run_path, on_step=None):
    run_dir = RunDirectory(run_path)
    run_dir.prepare(config)
    return CrestRun(
        config, load_dataset(config.dataset), run_dir, CPU, show_progress=False, on_step=on_step
    ).run()


def test_crest_plus_learns_well_above_chance_and_picks_pseudo_labels(quick_config, tmp_path):
    history = train(quick_config, tmp_path / "run")
    assert [h["generation"] for h in history] == [0, 1, 2]
    assert history[-1]["balanced_accuracy"] > 0.8  # chance: 0.25
    assert history[-1]["balanced_accuracy_la"] > 0.8
    picked = np.array(history[0]["picked_per_class"])
    assert picked.sum() > 0 and history[0]["pick_precision"] > 0.8
    events = [e["event"] for e in read_progress_log(tmp_path / "run" / "progress.jsonl")]
    assert events[0] == "start" and events[-1] == "done" and events.count("generation") == 3


def test_fixmatch_is_a_single_generation(quick_config, tmp_path):
    quick_config.crest = CrestConfig(method="fixmatch", generations=5)
    history = train(quick_config, tmp_path / "run")
    assert len(history) == 1 and "picked_per_class" not in history[0]


def test_only_a_supervised_run_trains_without_unlabelled_samples(quick_config, tmp_path):
    arrays = synthetic_arrays()
    arrays["splits"]["unlabelled"] = []
    save_dataset(tmp_path / "labelled_only", **arrays)
    quick_config.dataset = str(tmp_path / "labelled_only" / "manifest.json")
    with pytest.raises(DatasetError, match="'unlabelled' split is empty"):
        train(quick_config, tmp_path / "crest")
    quick_config.crest = CrestConfig(method="fixmatch")
    with pytest.raises(DatasetError, match="'unlabelled' split is empty"):
        train(quick_config, tmp_path / "fixmatch")
    quick_config.fixmatch.unlabelled_ratio = 0  # supervised: no unlabelled batch is drawn
    history = train(quick_config, tmp_path / "supervised")
    assert len(history) == 1 and history[0]["balanced_accuracy"] > 0.5  # chance: 0.25


def test_resume_after_interruption_reproduces_the_uninterrupted_run(quick_config, tmp_path):
    reference = train(quick_config, tmp_path / "straight")

    def stop_in_second_generation(generation, step, logs):
        if generation == 1 and step == 14:  # last checkpoint at step 10: steps 11-14 are redone
            raise Interrupted

    with pytest.raises(Interrupted):
        train(quick_config, tmp_path / "resumed", stop_in_second_generation)
    assert RunDirectory(tmp_path / "resumed").last_generation() == 0
    resumed = train(quick_config, tmp_path / "resumed")
    assert len(resumed) == len(reference) == quick_config.crest.generations
    for a, b in zip(reference, resumed):
        assert a["balanced_accuracy"] == b["balanced_accuracy"]
    straight_ema = RunDirectory(tmp_path / "straight").load(
        RunDirectory(tmp_path / "straight").generation_path(2)
    )["ema"]
    resumed_ema = RunDirectory(tmp_path / "resumed").load(
        RunDirectory(tmp_path / "resumed").generation_path(2)
    )["ema"]
    for name, tensor in straight_ema.items():
        torch.testing.assert_close(resumed_ema[name], tensor, msg=name)
    assert RunDirectory(tmp_path / "resumed").load_config() == quick_config


def test_rerunning_a_finished_run_trains_nothing_more(quick_config, tmp_path):
    train(quick_config, tmp_path / "run")
    steps = []
    history = train(quick_config, tmp_path / "run", lambda g, s, logs: steps.append(s))
    assert steps == [] and len(history) == 3


def test_run_dir_with_different_config_is_refused(quick_config, tmp_path):
    RunDirectory(tmp_path / "run").prepare(quick_config)
    quick_config.seed = 7
    quick_config.crest.alpha = 0.5
    with pytest.raises(InputError, match=r"different config \(crest.alpha: .* -> 0.5; seed: 0 -> 7\)"):
        RunDirectory(tmp_path / "run").prepare(quick_config)


def test_kill_9_during_training_then_resume_completes_all_generations(quick_config, tmp_path):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "crest_tools.cli", "train", quick_config.dataset, "-o", str(run)]
    command += [*train_options(3, 60), "--checkpoint-interval", "10"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = run / "progress.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not any(
        e["event"] == "step" and e["generation"] == 1 and e["step"] >= 20 for e in read_progress_log(log)
    ):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    config_before = (run / "config.json").read_text()
    assert subprocess.run(command, check=False, capture_output=True).returncode == 0
    run_dir = RunDirectory(run)
    assert run_dir.last_generation() == 2
    assert (run / "config.json").read_text() == config_before
    events = read_progress_log(log)
    assert [e["event"] for e in events].count("resume") == 1
    assert sorted({e["generation"] for e in events if e["event"] == "generation"}) == [0, 1, 2]
    assert len(run_dir.load(run_dir.checkpoint_path)["history"]) == 3


def test_two_process_torchrun_on_cpu_trains_and_writes_once(quick_config, tmp_path):
    run = tmp_path / "run"
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    command = [*torchrun, "-m", "crest_tools.cli", "train", quick_config.dataset, "-o", str(run)]
    command += [*train_options(2, 30, batch_size=8), "--device", "cpu"]
    finished = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr[-2000:]
    assert RunDirectory(run).last_generation() == 1
    events = read_progress_log(run / "progress.jsonl")
    assert [e["event"] for e in events].count("start") == 1  # only the main process writes

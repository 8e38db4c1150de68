"""Background jobs: command line, progress read while written, status, a kill mid-way and a resume."""

from __future__ import annotations

import json
import os
import time

import pytest
from crest_tools import jobs
from crest_tools.jobs import Job, JobWorkspace, TrainingOptions, last_error_line
from crest_tools.progress_reader import ProgressReader, TrainingProgress

OPTIONS = TrainingOptions(method="crest", generations=2, steps=60, batch_size=16, unlabelled_ratio=2,
                          threshold=0.9, device="cpu", checkpoint_interval=10, log_interval=5)


def wait_for(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def test_options_become_crest_train_arguments():
    arguments = TrainingOptions(method="fixmatch", t_min=0.25, no_flip=True).arguments()
    assert arguments[:2] == ["--method", "fixmatch"]
    assert arguments[arguments.index("--t-min") + 1] == "0.25" and "--no-flip" in arguments
    assert "--no-flip" not in TrainingOptions().arguments()
    defaults = TrainingOptions().arguments()  # the paper's variant unless a deviation is asked for
    assert defaults[defaults.index("--pick-from") + 1] == "plain" and "--warm-start" not in defaults
    deviations = TrainingOptions(pick_from="logit-adjusted", warm_start=True).arguments()
    assert deviations[deviations.index("--pick-from") + 1] == "logit-adjusted" and "--warm-start" in deviations
    with pytest.raises(ValueError, match="pick_from must be one of .* got 'confident'"):
        TrainingOptions(pick_from="confident")
    with pytest.raises(ValueError, match="method must be one of .* got 'mixmatch'"):
        TrainingOptions(method="mixmatch")
    with pytest.raises(ValueError, match="steps must be >= 1, got 0"):
        TrainingOptions(steps=0)
    # refused when the job is created, with crest train's messages, not later in the job's log
    with pytest.raises(ValueError, match="alpha must be >= 0, got -1"):
        TrainingOptions(alpha=-1)
    with pytest.raises(ValueError, match="threshold must be <= 1, got 1.5"):
        TrainingOptions(threshold=1.5)
    with pytest.raises(ValueError, match="method 'fixmatch' trains one generation, got warm_start=True"):
        TrainingOptions(method="fixmatch", warm_start=True)


def test_reader_keeps_its_offset_and_waits_for_a_complete_line(tmp_path):
    log = tmp_path / "progress.jsonl"
    reader = ProgressReader(log)
    assert reader.read_new() == []
    log.write_text('{"event": "start", "generation": 0, "generations": 2}\n{"event": "st')
    assert [e["event"] for e in reader.read_new()] == ["start"]
    with open(log, "a") as stream:
        stream.write('ep", "generation": 0, "step": 5, "steps": 10, "loss": 1.5}\n')
    events = reader.read_new()
    assert [e["step"] for e in events] == [5] and reader.read_new() == []
    with open(log, "a") as stream:  # a line cut by a kill, ended by the next writer
        stream.write('{"event": "step", "gen\n{"event": "done"}\n')
    progress = TrainingProgress()
    progress.update(events + reader.read_new())
    assert progress.done and progress.step == 5 and progress.fraction == 1.0


def test_job_killed_mid_way_then_resumed(dataset_folder, tmp_path):
    workspace = JobWorkspace(tmp_path / "workspace")
    job = workspace.create("first", dataset_folder, OPTIONS)
    with pytest.raises(ValueError, match="already exists"):
        workspace.create("first", dataset_folder, OPTIONS)
    assert job.status().state == "new" and job.can_start()
    process = job.start_subprocess()
    wait_for(lambda: job.status().progress.step >= 20 or process.poll() is not None)
    assert job.status().state == "running" and not job.can_start()
    job.stop()
    process.wait(timeout=30)
    status = job.status()
    assert status.state == "stopped" and status.progress.generation == 0 and not status.progress.done
    assert 20 <= status.progress.step < 60 and (job.run_dir / "checkpoint.pt").exists()

    # a fresh Job object (as after restarting Slicer) finds the same state; resume finishes the run
    again = JobWorkspace(tmp_path / "workspace").jobs()
    assert [j.name for j in again] == ["first"] and again[0].status().state == "stopped" and again[0].can_start()
    assert job.start_subprocess().wait(timeout=300) == 0
    status = job.status()
    assert status.state == "finished", last_error_line(job.output_log)
    assert not job.can_start()  # a finished run is not started again
    assert [g["generation"] for g in status.progress.history] == [0, 1]
    events = [json.loads(line)["event"] for line in (job.run_dir / "progress.jsonl").read_text().splitlines()
              if line.startswith("{") and line.endswith("}")]
    assert events[0] == "start" and "resume" in events and events[-1] == "done"
    assert status.progress.fraction == 1.0 and "done" in status.progress.text()


def test_failed_job_reports_its_error_line(tmp_path):
    with pytest.raises(ValueError, match="no dataset at"):
        JobWorkspace(tmp_path).create("bad", tmp_path / "missing", OPTIONS)
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{not json")
    job = JobWorkspace(tmp_path).create("bad", tmp_path / "broken", OPTIONS)
    code = job.start_subprocess().wait(timeout=120)
    status = job.status()
    assert code != 0 and status.state == "failed" and job.can_start()
    assert "error" in status.error and "manifest.json" in status.error  # the crest error line names the file
    assert Job(job.folder).record()["exit"]["code"] == code


def test_failed_job_reads_its_log_again_only_when_it_changed(dataset_folder, tmp_path, monkeypatch):
    reads = []
    monkeypatch.setattr(jobs, "last_error_line", lambda log: reads.append(log) or last_error_line(log))
    job = JobWorkspace(tmp_path).create("failed", dataset_folder, OPTIONS)
    job.update_record(exit={"code": 1, "time": 0.0})
    job.output_log.write_text("Traceback (most recent call last):\nValueError: first\n")
    assert [job.status().error for _ in range(3)] == ["ValueError: first"] * 3 and len(reads) == 1
    with open(job.output_log, "a") as log:  # the log grows (a resumed run failed again)
        log.write("resuming\nRuntimeError: second\n")
    assert job.status().error == "RuntimeError: second" and len(reads) == 2
    assert job.status().error == "RuntimeError: second" and len(reads) == 2
    job.output_log.write_text(job.output_log.read_text().replace("second", "latest"))  # same size, rewritten
    stat = job.output_log.stat()
    os.utime(job.output_log, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    assert job.status().error == "RuntimeError: latest" and len(reads) == 3

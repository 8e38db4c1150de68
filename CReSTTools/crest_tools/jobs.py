"""Background training jobs kept in a workspace folder (Qt-free; the Slicer module starts them with QProcess).

A workspace holds one folder per job::

    <workspace>/<job name>/job.json     {"name", "dataset", "arguments": crest train argv,
                                         "evaluate_arguments": crest evaluate argv, "created",
                                         "pid", "started", "exit": {"code", "time"} | null}
            /<job name>/output.log      stdout + stderr of the process
            /<job name>/run/            the crest RUN_DIR (config, progress.jsonl, checkpoints)

The process is ``python -m crest_tools.job_process <job folder>`` (:mod:`crest_tools.job_process`),
which records its pid when it starts and its exit code when it ends. The status is derived from
these files alone, so the list survives closing the module and restarting Slicer:

- *new*: never started; *running*: the recorded pid is alive;
- *finished*: training and ``crest evaluate`` exited with 0 after the "done" event (figures and
  metrics in ``run/evaluation``);
- *failed*: another exit code; the last error line of output.log is shown;
- *stopped*: no exit recorded (killed, or Slicer closed) or exit 130 (interrupted).

Resuming runs the same command again: ``crest train`` continues from the run's last checkpoint.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from dataclasses import dataclass, fields
from pathlib import Path

from sli2vol.errors import EXIT_INTERRUPTED  # Ctrl-C caught by the command line: stopped, not failed
from sli2vol.io.atomic import atomic_path
from sli2vol.validation import require

from .config import CrestConfig, FixMatchConfig, ModelConfig, RunConfig
from .dataset_format import manifest_path
from .progress_log import LOG_NAME
from .progress_reader import ProgressReader, TrainingProgress

JOB_FILE = "job.json"


def _write_record(path: Path, record: dict) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(json.dumps(record, indent=1))


@dataclass(frozen=True)
class TrainingOptions:
    """The ``crest train`` options a job can set (see ``crest train --help``); the run settings
    default to those of ``crest train`` (the ``config`` dataclasses), the logging to a finer grain."""

    method: str = CrestConfig.method
    generations: int = CrestConfig.generations
    steps: int = FixMatchConfig.steps
    alpha: float = CrestConfig.alpha
    t_min: float = CrestConfig.t_min
    pick_from: str = CrestConfig.pick_from  # deviation from the paper: "logit-adjusted"
    warm_start: bool = CrestConfig.warm_start  # deviation from the paper: start from g - 1's EMA weights
    batch_size: int = FixMatchConfig.batch_size
    unlabelled_ratio: int = FixMatchConfig.unlabelled_ratio
    threshold: float = FixMatchConfig.threshold
    architecture: str = ModelConfig.architecture
    width: int = ModelConfig.width
    depth: int = ModelConfig.depth
    no_flip: bool = not FixMatchConfig.flip
    device: str = "auto"
    threads: int = 1
    seed: int = RunConfig.seed
    checkpoint_interval: int = 100
    log_interval: int = 10

    def __post_init__(self) -> None:
        # The run configs' own checks, so a bad job is refused when it is created, in crest train's words.
        ModelConfig(self.architecture, self.width, self.depth)
        FixMatchConfig(steps=self.steps, batch_size=self.batch_size, unlabelled_ratio=self.unlabelled_ratio,
                       threshold=self.threshold, flip=not self.no_flip)
        CrestConfig(self.method, self.generations, self.alpha, self.t_min, self.pick_from, self.warm_start)
        RunConfig(seed=self.seed, checkpoint_interval=self.checkpoint_interval)
        for name in ("threads", "log_interval"):
            require(name, getattr(self, name), integer=True, minimum=1)

    def arguments(self) -> list[str]:
        """The options as command-line arguments (``--t-min 0.5``, ``--no-flip``)."""
        arguments = []
        for f in fields(self):
            value, flag = getattr(self, f.name), "--" + f.name.replace("_", "-")
            if isinstance(value, bool):
                arguments += [flag] if value else []
            else:
                arguments += [flag, str(value)]
        return arguments


def package_root() -> Path:
    """The folder holding the ``crest_tools`` package (what a job's PYTHONPATH needs)."""
    return Path(__file__).resolve().parent.parent


def _pid_alive(pid: int | None, folder: Path) -> bool:
    """Whether ``pid`` is a live process running this job (on Linux checked against its command line)."""
    if not pid:
        return False
    if sys.platform == "win32":
        import ctypes

        handle = ctypes.windll.kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return False
        code = ctypes.c_ulong()
        ctypes.windll.kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        ctypes.windll.kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():  # a recycled pid runs something else
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            return False
        return "crest_tools.job_process" in text and str(folder) in text
    return True


@dataclass
class JobStatus:
    """What the job list shows: state, last error line (failed jobs), and the training progress."""

    state: str
    error: str | None
    progress: TrainingProgress


class Job:
    """One job folder; see the module docstring for its files."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).resolve()
        self.job_file = self.folder / JOB_FILE
        self.output_log = self.folder / "output.log"
        self.run_dir = self.folder / "run"
        self._reader = ProgressReader(self.run_dir / LOG_NAME)
        self._progress = TrainingProgress()
        self._error: tuple[tuple[int, int], str | None] | None = None  # ((log size, mtime ns), its error line)

    @property
    def name(self) -> str:
        return self.folder.name

    def record(self) -> dict:
        return json.loads(self.job_file.read_text())

    def update_record(self, **changes) -> None:
        """Merge ``changes`` into job.json (atomic rewrite)."""
        _write_record(self.job_file, {**self.record(), **changes})

    def command(self, python: str | None = None) -> list[str]:
        """The process to start: ``python -m crest_tools.job_process <folder>`` (default: this Python)."""
        return [python or sys.executable, "-m", "crest_tools.job_process", str(self.folder)]

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) with the crest_tools folder first on PYTHONPATH."""
        env = dict(os.environ if base is None else base)
        paths = [str(package_root())] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(paths)
        return env

    def start_subprocess(self, python: str | None = None):
        """Start (or resume) the job with :mod:`subprocess`, output appended to output.log; returns the Popen.

        For the command line and tests; the Slicer module starts :meth:`command` with QProcess.
        """
        import subprocess

        with open(self.output_log, "ab") as log:
            return subprocess.Popen(
                self.command(python), stdout=log, stderr=subprocess.STDOUT, env=self.environment()
            )

    def status(self) -> JobStatus:
        """Current state, read from job.json, output.log and the new lines of progress.jsonl."""
        record = self.record()
        self._progress.update(self._reader.read_new())
        exit_record = record.get("exit")
        if _pid_alive(record.get("pid"), self.folder) and exit_record is None:
            return JobStatus("running", None, self._progress)
        if exit_record is None or exit_record["code"] == EXIT_INTERRUPTED:
            return JobStatus("new" if record.get("pid") is None else "stopped", None, self._progress)
        if exit_record["code"] == 0 and self._progress.done:
            return JobStatus("finished", None, self._progress)
        return JobStatus("failed", self._last_error_line(), self._progress)

    def _last_error_line(self) -> str | None:
        """:func:`last_error_line` of output.log, read again only when its size or mtime changed."""
        try:
            stat = self.output_log.stat()
        except FileNotFoundError:
            return None
        key = (stat.st_size, stat.st_mtime_ns)
        if self._error is None or self._error[0] != key:
            self._error = (key, last_error_line(self.output_log))
        return self._error[1]

    def can_start(self) -> bool:
        """True when Start / Resume may launch the job: it never ran, was stopped or failed (a running
        or finished job is left alone)."""
        return self.status().state in ("new", "stopped", "failed")

    def stop(self) -> None:
        """Kill the job's process (a no-op when it is not running); it can be resumed later."""
        import signal

        pid = self.record().get("pid")
        if _pid_alive(pid, self.folder):
            os.kill(pid, signal.SIGTERM if sys.platform == "win32" else signal.SIGKILL)


ERROR_PATTERN = re.compile(r"error|exception|traceback", re.IGNORECASE)


def last_error_line(log: Path) -> str | None:
    """The last line of a process log that mentions an error (else its last non-empty line)."""
    if not log.exists():
        return None
    lines = [line.strip() for line in log.read_text(errors="replace").splitlines() if line.strip()]
    errors = [line for line in lines if ERROR_PATTERN.search(line)]
    return (errors or lines or [None])[-1]


class JobWorkspace:
    """The jobs of a workspace folder, one sub-folder each."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def create(self, name: str, dataset: str | Path, options: TrainingOptions) -> Job:
        """A new job folder with its job.json; the run folder is ``<job>/run``.

        Raises:
            ValueError: the name is empty, has path separators, or is taken; no dataset manifest.
        """
        if not name or name != Path(name).name or name.startswith("."):
            raise ValueError(f"job name must be a plain folder name, got {name!r}")
        job = Job(self.folder / name)
        if job.folder.exists():
            raise ValueError(f"a job named {name!r} already exists in {self.folder}")
        if not manifest_path(dataset).is_file():
            raise ValueError(f"no dataset at {dataset}: give an exported dataset folder or its manifest.json")
        dataset = str(Path(dataset).resolve())
        record = {
            "name": name,
            "dataset": dataset,
            "arguments": ["train", dataset, "-o", str(job.run_dir), *options.arguments(), "--no-progress"],
            "evaluate_arguments": ["evaluate", str(job.run_dir), "--device", options.device,
                                   "--threads", str(options.threads), "--force"],  # the job owns its evaluation
            "created": time.time(),
            "pid": None,
            "started": None,
            "exit": None,
        }
        job.folder.mkdir(parents=True)
        _write_record(job.job_file, record)
        return job

    def jobs(self) -> list[Job]:
        """The workspace's jobs, oldest first."""
        if not self.folder.is_dir():
            return []
        found = [Job(p) for p in self.folder.iterdir() if (p / JOB_FILE).is_file()]
        return sorted(found, key=lambda job: job.record().get("created", 0))

"""CPU thread policy for torch: fast on an idle machine, no collapse when another process takes a core.

torch's OpenMP threads spin while they wait for each other. When another process keeps one of two
cores busy, every parallel operation then waits for a thread that is not running, and propagation
gets several times slower than with one thread (measured: 65.6 s with 2 threads vs 9.0 s with 1,
benchmarks/RESULTS.md). Two remedies, both applied by default:

- passive waiting (``OMP_WAIT_POLICY=PASSIVE``), which OpenMP reads once, when torch loads it: set by
  :func:`prefer_passive_wait` from ``sli2vol/__init__.py`` if torch is not loaded yet;
- as many threads as there are idle cores when a run starts (:func:`choose_threads`).

The command line (``--threads``) and the Slicer layer both go through :func:`apply_thread_policy`.
"""
from __future__ import annotations

import os
import sys
import time

MAX_AUTO_THREADS = 4  # beyond this, the region-of-interest operations gain little from more threads
LOAD_SAMPLE_S = 0.1  # how long the other processes' CPU use is sampled before choosing


def prefer_passive_wait() -> bool:
    """Ask OpenMP to sleep rather than spin while waiting, unless the user chose a policy.

    Takes effect only before torch (and its OpenMP runtime) is loaded; returns whether waiting is
    passive for this process."""
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return passive_wait()


def passive_wait() -> bool:
    """Whether this process's OpenMP threads wait passively (sleep instead of spinning)."""
    return os.environ.get("OMP_WAIT_POLICY", "").upper() == "PASSIVE"


def available_cores() -> int:
    """Cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _cpu_times() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat; None where it is unavailable."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    return total - idle, total


def busy_cores(sample_s: float = LOAD_SAMPLE_S) -> float | None:
    """Cores kept busy by other work right now (sampled over ``sample_s`` while this process sleeps);
    the 1-minute load average where /proc/stat is missing; None where neither exists (Windows)."""
    before = _cpu_times()
    if before is None:
        if hasattr(os, "getloadavg"):
            return float(os.getloadavg()[0])
        return None
    time.sleep(sample_s)
    after = _cpu_times()
    busy, total = after[0] - before[0], after[1] - before[1]
    all_cores = os.cpu_count() or 1
    return all_cores * busy / total if total > 0 else 0.0


def choose_threads(threads: int | str | None = "auto") -> int:
    """Torch threads for a run: ``threads`` itself if it is a number, else ("auto" or None) the idle
    cores at this moment, at least 1 and at most :data:`MAX_AUTO_THREADS`.

    Where the load cannot be read, half the cores. Raises ValueError for a number below 1 or an
    unknown word."""
    if threads is None or threads == "auto":
        cores = available_cores()
        busy = busy_cores()
        idle = cores / 2 if busy is None else cores - busy
        return int(max(1, min(MAX_AUTO_THREADS, cores, round(idle))))
    try:
        count = int(threads)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"threads must be a positive integer or 'auto', got {threads!r}") from exc
    if count < 1:
        raise ValueError(f"threads must be >= 1, got {threads!r}")
    return count


def apply_thread_policy(threads: int | str | None = "auto") -> int:
    """Set torch's intra-op thread count from :func:`choose_threads` (and one inter-op thread where it
    is still possible: propagation runs no inter-op work); returns the count."""
    import torch

    count = choose_threads(threads)
    torch.set_num_threads(count)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only allowed before the first inter-op work of the process
        pass
    return count

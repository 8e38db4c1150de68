"""The CPU thread policy shared by the command line and the Slicer layer."""
import os
import subprocess
import sys

import pytest
import torch
from sli2vol.engine.threads import (
    MAX_AUTO_THREADS,
    apply_thread_policy,
    available_cores,
    busy_cores,
    choose_threads,
)


def test_numbers_are_taken_as_given_and_bad_values_rejected():
    assert choose_threads(3) == 3 and choose_threads("2") == 2
    for bad in (0, -1, "many"):
        with pytest.raises(ValueError, match="threads must be"):
            choose_threads(bad)


def test_auto_uses_between_one_core_and_the_idle_ones():
    busy = busy_cores(0.05)
    assert busy is None or 0.0 <= busy <= os.cpu_count() + 0.5
    for request in ("auto", None):
        assert 1 <= choose_threads(request) <= min(MAX_AUTO_THREADS, available_cores())


def test_apply_sets_torch_threads(restore_threads):
    assert apply_thread_policy(1) == 1 and torch.get_num_threads() == 1
    assert apply_thread_policy("auto") == torch.get_num_threads()


def _wait_policy_seen(code: str, **env) -> str:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    out = subprocess.run([sys.executable, "-c", code + "; import os; print(os.environ.get('OMP_WAIT_POLICY'))"],
                         capture_output=True, text=True, check=True, env=environment)
    return out.stdout.split()[-1]


def test_passive_waiting_is_requested_only_before_torch_loads_and_never_over_the_users_choice():
    assert _wait_policy_seen("import sli2vol") == "PASSIVE"
    assert _wait_policy_seen("import sli2vol", OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
    assert _wait_policy_seen("import torch, sli2vol") == "None"  # too late: OpenMP has read its settings

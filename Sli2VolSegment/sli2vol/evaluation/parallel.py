"""The evaluation spread over worker processes, one case per task (each worker loads the models once)."""
from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Callable

import torch

from sli2vol.evaluation.methods import build_predictors
from sli2vol.evaluation.protocol import Evaluation, EvaluationConfig, evaluate_case, merge
from sli2vol.training.adaptation import AdaptationConfig

_WORKER: dict = {}  # set once per worker process by _start_worker: its predictors and config


def _start_worker(specs: list, models: dict, device: str | None, threads: int, config: EvaluationConfig,
                  adaptation: AdaptationConfig | None) -> None:
    torch.set_num_threads(threads)
    predictors, _ = build_predictors(specs, models, device, adaptation)
    _WORKER.update(predictors=predictors, config=config)


def _run_case(case) -> Evaluation:
    return evaluate_case(case, _WORKER["predictors"], _WORKER["config"])


def evaluate_in_workers(
    cases: list,
    specs: list,
    models: dict,
    config: EvaluationConfig,
    workers: int,
    threads: int,
    device: str | None = None,
    progress: Callable[[object, list], None] | None = None,
    adaptation: AdaptationConfig | None = None,
) -> Evaluation:
    """:func:`evaluation.evaluate` with ``workers`` processes of ``threads`` torch threads each.

    ``progress`` is called with (case, records so far) as each case finishes; ``adaptation``: the
    settings of the methods that adapt the model to each scan. The returned records
    are in case order, as a single-process run gives them; a worker's error is raised here.
    """
    parts: list = [None] * len(cases)
    records_so_far: list = []
    context = multiprocessing.get_context("spawn")  # no fork of a process that holds torch threads
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                             initargs=(specs, models, device, threads, config, adaptation)) as pool:
        futures = {pool.submit(_run_case, case): k for k, case in enumerate(cases)}
        for future in as_completed(futures):
            k = futures[future]
            parts[k] = future.result()
            records_so_far.extend(parts[k].records)
            if progress is not None:
                progress(cases[k], records_so_far)
    result = Evaluation(worst_n=config.worst)
    for part in parts:
        merge(result, part)
    return result

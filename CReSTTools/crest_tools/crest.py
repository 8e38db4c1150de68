"""CReST / CReST+: generations of an unchanged FixMatch trainer with class-rebalanced pseudo-labels.

Generation g trains a freshly initialised model (and EMA, optimiser) with FixMatch on the original
labelled set plus the pseudo-labelled picks of generation g - 1 (picks do not accumulate). After
training, the EMA model predicts the unlabelled set and :func:`select_pseudo_labelled` keeps, per
predicted class, a fraction that grows as the class gets rarer. CReST+ also aligns pseudo-label
distributions towards prior ** t_g, t_g going from 1.0 to t_min. FixMatch is the one-generation case.

As in the reference, the logit-adjustment prior of generation g is the class distribution of the
labelled set it trained on (original + picks); the original labelled prior is kept beside it
("la_original"). Deviations from the paper, off by default: picks ranked on logit-adjusted
predictions (``CrestConfig.pick_from``) and generations warm-started from the previous EMA model
(``CrestConfig.warm_start``).
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .config import RunConfig
from .dataset_format import Dataset, DatasetError
from .distributed import Placement, broadcast_from_main, wrap_for_training
from .distribution_alignment import DistributionAligner, alignment_temperature, tempered_target
from .fixmatch import FixMatchTrainer, StepLogs, TrainingData
from .inference import predict_logits, softmax
from .metrics import classification_report, logit_adjusted
from .models import MIN_IMAGE_SIZE, build_model
from .pick_diagnostics import imbalance_warning, pick_diagnostics
from .progress_log import ProgressLog
from .run_directory import RunDirectory
from .sampling import sampling_rates, select_pseudo_labelled

SEED_STRIDE = 1009  # seeds of (run seed, generation, rank) combinations do not collide


def check_trainable(dataset: Dataset, config: RunConfig) -> None:
    """Raise :class:`DatasetError` for a valid dataset that ``config`` cannot train on: no unlabelled
    samples (FixMatch with mu > 0 and CReST learn from them) or images smaller than the networks need."""
    needs_unlabelled = config.fixmatch.unlabelled_ratio > 0 or config.crest.method != "fixmatch"
    if needs_unlabelled and dataset.splits["unlabelled"].size == 0:
        raise DatasetError(
            "the dataset's 'unlabelled' split is empty: CReST and FixMatch train on unlabelled samples "
            "(only --method fixmatch --unlabelled-ratio 0, supervised, trains without)"
        )
    height, width = dataset.images.shape[2:]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise DatasetError(
            f"images of {height}x{width} pixels are too small to train on: at least "
            f"{MIN_IMAGE_SIZE}x{MIN_IMAGE_SIZE} needed"
        )


@dataclass
class Picks:
    """Pseudo-labelled samples chosen after a generation.

    Attributes:
        indices: (P,) positions in the unlabelled split.
        labels: (P,) pseudo-label class ids.
    """

    indices: np.ndarray
    labels: np.ndarray

    @classmethod
    def none(cls) -> Picks:
        return cls(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64))


def class_distribution(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """(K,) class frequencies of ``labels`` (N,): the prior of logit adjustment and the DA target."""
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    return counts / counts.sum()


def evaluate_on_test(
    model: torch.nn.Module, dataset: Dataset, priors: dict[str, np.ndarray], device: torch.device
) -> dict:
    """Test-split metrics of ``model``: "plain", and one logit-adjusted report per named prior.

    Args:
        priors: report name -> (K,) prior, e.g. {"la": generation prior, "la_original": original}.
    """
    images, labels = dataset.part("test")
    logits = predict_logits(model, images, device)
    reports = {"plain": classification_report(labels, logits.argmax(axis=1), dataset.num_classes)}
    for name, prior in priors.items():
        adjusted = logit_adjusted(logits, prior).argmax(axis=1)
        reports[name] = classification_report(labels, adjusted, dataset.num_classes)
    return reports


def choose_picks(
    model: torch.nn.Module, dataset: Dataset, alpha: float, device: torch.device, prior: np.ndarray | None
) -> tuple[Picks, np.ndarray]:
    """CReST selection from the EMA model's predictions on the unlabelled split.

    Args:
        prior: None (the paper), or (K,) prior whose logit adjustment is applied before the
            predictions are ranked (deviation from the paper: picks from adjusted predictions).
    Returns:
        (the picks, (M,) predicted class of every unlabelled sample).
    """
    images, _ = dataset.part("unlabelled")
    logits = predict_logits(model, images, device)
    probabilities = softmax(logits if prior is None else logit_adjusted(logits, prior))
    indices, labels = select_pseudo_labelled(probabilities, sampling_rates(dataset.labelled_counts(), alpha))
    return Picks(indices, labels), probabilities.argmax(axis=1)


def pick_report(picks: Picks, predicted: np.ndarray, dataset: Dataset) -> dict:
    """:func:`pick_diagnostics` of ``picks`` among the unlabelled predictions ``predicted`` (M,)."""
    _, true_labels = dataset.part("unlabelled")
    picked = np.zeros(len(predicted), dtype=bool)
    picked[picks.indices] = True
    return pick_diagnostics(predicted, picked, true_labels, dataset.labelled_counts())


class CrestRun:
    """Runs (or resumes) all generations of a run folder.

    Args:
        config: the run configuration (already written to ``run_dir`` by ``run_dir.prepare``).
        dataset: the validated dataset.
        run_dir: where checkpoints and the progress log go.
        placement: device and DDP rank; only the main process writes files.
        show_progress: draw a tqdm progress bar on stderr.
        on_step: observer called as on_step(generation, step, logs) after each step.
    """

    def __init__(
        self,
        config: RunConfig,
        dataset: Dataset,
        run_dir: RunDirectory,
        placement: Placement,
        show_progress: bool = True,
        on_step: Callable[[int, int, StepLogs], None] | None = None,
    ) -> None:
        check_trainable(dataset, config)
        self.config = config
        self.dataset = dataset
        self.run_dir = run_dir
        self.placement = placement
        self.show_progress = show_progress and placement.is_main
        self.on_step = on_step
        self.log = ProgressLog(run_dir.log_path, enabled=placement.is_main)
        self.prior = class_distribution(dataset.labels[dataset.splits["labelled"]], dataset.num_classes)
        self.generator = torch.Generator()

    def _seed(self, generation: int, step: int = 0) -> int:
        return (
            (self.config.seed * SEED_STRIDE + generation) * SEED_STRIDE + self.placement.rank
        ) * SEED_STRIDE + step

    def _training_data(self, picks: Picks) -> TrainingData:
        labelled_images, labelled_labels = self.dataset.part("labelled")
        unlabelled_images, _ = self.dataset.part("unlabelled")
        device = self.placement.device
        return TrainingData(
            torch.as_tensor(
                np.concatenate([labelled_images, unlabelled_images[picks.indices]]), device=device
            ),
            torch.as_tensor(np.concatenate([labelled_labels, picks.labels]), device=device),
            torch.as_tensor(unlabelled_images, device=device),
        )

    def _trainer(self, generation: int, picks: Picks) -> FixMatchTrainer:
        """A trainer with a freshly initialised model, EMA and optimiser for ``generation``."""
        torch.manual_seed(self._seed(generation))
        model = build_model(self.config.model, self.dataset.images.shape[1], self.dataset.num_classes)
        if self.config.crest.warm_start and generation > 0:  # deviation from the paper
            model.load_state_dict(self.run_dir.load(self.run_dir.generation_path(generation - 1))["ema"])
        aligner = None
        if self.config.crest.distribution_alignment:
            t = alignment_temperature(generation, self.config.crest.generations, self.config.crest.t_min)
            aligner = DistributionAligner(
                tempered_target(torch.as_tensor(self.prior, dtype=torch.float32), t),
                self.config.fixmatch.da_momentum,
            )
        return FixMatchTrainer(
            wrap_for_training(model, self.placement),
            self.config.fixmatch,
            self._training_data(picks),
            self.generator,
            aligner,
        )

    def _save_checkpoint(
        self, generation: int, trainer: FixMatchTrainer | None, picks: Picks, history: list[dict]
    ) -> None:
        if self.placement.is_main:
            self.run_dir.save(
                self.run_dir.checkpoint_path,
                {
                    "generation": generation,
                    "trainer": trainer.state_dict() if trainer is not None else None,
                    "generator": self.generator.get_state(),
                    "picks": picks,
                    "history": history,
                },
            )

    def _start_generation(self, generation: int, picks: Picks, checkpoint: dict | None) -> FixMatchTrainer:
        """A fresh trainer for ``generation``, restored from ``checkpoint`` when it stopped mid-way.

        The sampling generator is re-seeded at the start of a generation; mid-way it is restored
        (one process) or re-seeded from the step (several processes, whose states are not saved).
        """
        trainer = self._trainer(generation, picks)
        if checkpoint is not None and checkpoint["trainer"] is not None:
            trainer.load_state_dict(checkpoint["trainer"])
            if self.placement.world_size == 1:
                self.generator.set_state(checkpoint["generator"])
                return trainer
        self.generator.manual_seed(self._seed(generation, trainer.step))
        return trainer

    def _step_observer(
        self, bar: tqdm, generation: int, trainer: FixMatchTrainer, picks: Picks, history: list[dict]
    ) -> Callable[[int, StepLogs], None]:
        """The after-step callback of a generation: progress bar, log lines, interval checkpoints."""
        steps = self.config.fixmatch.steps

        def after_step(step: int, logs: StepLogs) -> None:
            bar.update(1)
            bar.set_postfix(
                generation=generation, loss=f"{logs['loss']:.3f}", mask=f"{logs['mask_rate']:.2f}"
            )
            if step % self.config.log_interval == 0 or step == steps:
                lr = trainer.optimizer.param_groups[0]["lr"]
                self.log.write("step", generation=generation, step=step, steps=steps, lr=lr, **logs)
            if step % self.config.checkpoint_interval == 0 and step < steps:
                self._save_checkpoint(generation, trainer, picks, history)
            if self.on_step is not None:
                self.on_step(generation, step, logs)

        return after_step

    def run(self) -> list[dict]:
        """Train the remaining generations; returns one result dict per generation."""
        steps, generations = self.config.fixmatch.steps, self.config.crest.generations
        checkpoint = self.run_dir.load(self.run_dir.checkpoint_path)
        start = checkpoint["generation"] if checkpoint else 0
        picks = checkpoint["picks"] if checkpoint else Picks.none()
        history = checkpoint["history"] if checkpoint else []
        self.log.write("resume" if checkpoint else "start", generation=start, generations=generations)
        done = start * steps + (checkpoint["trainer"]["step"] if checkpoint and checkpoint["trainer"] else 0)
        bar = tqdm(total=generations * steps, initial=done, disable=not self.show_progress, desc="crest")
        for generation in range(start, generations):
            trainer = self._start_generation(generation, picks, checkpoint)
            checkpoint = None
            trainer.run(self._step_observer(bar, generation, trainer, picks, history))
            picks = self._finish_generation(generation, trainer, picks, history)
        bar.close()
        self.log.write("done", generations=generations, result=history[-1] if history else None)
        return history

    def _finish_generation(
        self, generation: int, trainer: FixMatchTrainer, picks: Picks, history: list[dict]
    ) -> Picks:
        """Evaluate, choose the next picks, save generation_<g>.pt and the checkpoint; return the picks.

        ``picks`` are the pseudo-labels this generation trained on: its labelled prior (the
        reference's logit-adjustment prior) is that of the original labelled set plus them.
        """
        device, crest = self.placement.device, self.config.crest
        broadcast_from_main(trainer.ema.shadow, self.placement)  # identical picks on every process
        labels = np.concatenate([self.dataset.labels[self.dataset.splits["labelled"]], picks.labels])
        prior = class_distribution(labels, self.dataset.num_classes)
        model = trainer.ema.shadow
        metrics = evaluate_on_test(model, self.dataset, {"la": prior, "la_original": self.prior}, device)
        result = {
            "generation": generation,
            "balanced_accuracy": metrics["plain"]["balanced_accuracy"],
            "balanced_accuracy_la": metrics["la"]["balanced_accuracy"],
            "balanced_accuracy_la_original": metrics["la_original"]["balanced_accuracy"],
            "recall": metrics["plain"]["recall"],
            "recall_la": metrics["la"]["recall"],
            "recall_la_original": metrics["la_original"]["recall"],
            "labelled_prior": prior.tolist(),
        }
        next_picks = Picks.none()
        if generation < crest.generations - 1:
            pick_prior = prior if crest.pick_from == "logit-adjusted" else None
            next_picks, predicted = choose_picks(model, self.dataset, crest.alpha, device, pick_prior)
            result.update(pick_report(next_picks, predicted, self.dataset))
        history.append(result)
        if self.placement.is_main:
            self.run_dir.save(
                self.run_dir.generation_path(generation),
                {
                    "ema": model.state_dict(),
                    "model_config": dataclasses.asdict(self.config.model),
                    "class_names": self.dataset.class_names,
                    "image_shape": tuple(self.dataset.images.shape[1:]),
                    "prior": prior,
                    "original_prior": self.prior,
                    "metrics": metrics,
                    "result": result,
                },
            )
        self._save_checkpoint(generation + 1, None, next_picks, history)
        self.log.write("generation", **result)
        warning = "predicted_per_class" in result and imbalance_warning(
            result, self.dataset.labelled_counts(), self.dataset.class_names
        )
        if warning:
            self.log.write("warning", generation=generation, message=warning)
            if self.placement.is_main:
                tqdm.write(f"crest: generation {generation}: warning: {warning}", file=sys.stderr)
        return next_picks

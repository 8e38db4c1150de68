"""CReST / CReST+: generations of an unchanged FixMatch trainer with class-rebalanced pseudo-labels.

Generation g trains a freshly initialised model (and EMA, optimiser) with FixMatch on the original
labelled set plus the pseudo-labelled picks of generation g - 1 (picks do not accumulate). After
training, the EMA model predicts the unlabelled set and :func:`select_pseudo_labelled` keeps, per
predicted class, a fraction that grows as the class gets rarer. CReST+ also aligns pseudo-label
distributions towards prior ** t_g, t_g going from 1.0 to t_min. FixMatch is the one-generation case.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from tqdm import tqdm

from .config import RunConfig
from .dataset_format import Dataset
from .distributed import Placement, broadcast_from_main, wrap_for_training
from .distribution_alignment import DistributionAligner, alignment_temperature, tempered_target
from .fixmatch import FixMatchTrainer, StepLogs, TrainingData
from .inference import predict_logits, softmax
from .metrics import classification_report, logit_adjusted
from .models import build_model
from .progress_log import ProgressLog
from .run_directory import RunDirectory
from .sampling import sampling_rates, select_pseudo_labelled

SEED_STRIDE = 1009  # seeds of (run seed, generation, rank) combinations do not collide


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


def labelled_prior(dataset: Dataset) -> np.ndarray:
    """(K,) class frequencies of the original labelled set (DA target and logit-adjustment prior)."""
    counts = dataset.labelled_counts().astype(np.float64)
    return counts / counts.sum()


def evaluate_on_test(
    model: torch.nn.Module, dataset: Dataset, prior: np.ndarray, device: torch.device
) -> dict:
    """Test-split metrics of ``model`` without ("plain") and with logit adjustment ("la")."""
    images, labels = dataset.part("test")
    logits = predict_logits(model, images, device)
    return {
        "plain": classification_report(labels, logits.argmax(axis=1), dataset.num_classes),
        "la": classification_report(
            labels, logit_adjusted(logits, prior).argmax(axis=1), dataset.num_classes
        ),
    }


def choose_picks(model: torch.nn.Module, dataset: Dataset, alpha: float, device: torch.device) -> Picks:
    """CReST selection from the EMA model's predictions on the unlabelled split."""
    images, _ = dataset.part("unlabelled")
    probabilities = softmax(predict_logits(model, images, device))
    indices, labels = select_pseudo_labelled(probabilities, sampling_rates(dataset.labelled_counts(), alpha))
    return Picks(indices, labels)


def pick_summary(picks: Picks, dataset: Dataset) -> dict:
    """Picks per class and, where the unlabelled samples' true labels are known, their precision."""
    _, true_labels = dataset.part("unlabelled")
    truth = true_labels[picks.indices]
    known = truth >= 0
    precision = float((truth[known] == picks.labels[known]).mean()) if known.any() else None
    return {
        "picked_per_class": np.bincount(picks.labels, minlength=dataset.num_classes).tolist(),
        "pick_precision": precision,
    }


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
        self.config = config
        self.dataset = dataset
        self.run_dir = run_dir
        self.placement = placement
        self.show_progress = show_progress and placement.is_main
        self.on_step = on_step
        self.log = ProgressLog(run_dir.log_path, enabled=placement.is_main)
        self.prior = labelled_prior(dataset)
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
            picks = self._finish_generation(generation, trainer, history)
        bar.close()
        self.log.write("done", generations=generations, result=history[-1] if history else None)
        return history

    def _finish_generation(self, generation: int, trainer: FixMatchTrainer, history: list[dict]) -> Picks:
        """Evaluate, choose the next picks, save generation_<g>.pt and the checkpoint; return the picks."""
        device, crest = self.placement.device, self.config.crest
        broadcast_from_main(trainer.ema.shadow, self.placement)  # identical picks on every process
        metrics = evaluate_on_test(trainer.ema.shadow, self.dataset, self.prior, device)
        last = generation == crest.generations - 1
        picks = Picks.none() if last else choose_picks(trainer.ema.shadow, self.dataset, crest.alpha, device)
        result = {
            "generation": generation,
            "balanced_accuracy": metrics["plain"]["balanced_accuracy"],
            "balanced_accuracy_la": metrics["la"]["balanced_accuracy"],
            "recall": metrics["plain"]["recall"],
            "recall_la": metrics["la"]["recall"],
            **({} if last else pick_summary(picks, self.dataset)),
        }
        history.append(result)
        if self.placement.is_main:
            self.run_dir.save(
                self.run_dir.generation_path(generation),
                {
                    "ema": trainer.ema.shadow.state_dict(),
                    "model_config": dataclasses.asdict(self.config.model),
                    "class_names": self.dataset.class_names,
                    "image_shape": tuple(self.dataset.images.shape[1:]),
                    "prior": self.prior,
                    "metrics": metrics,
                    "result": result,
                },
            )
        self._save_checkpoint(generation + 1, None, picks, history)
        self.log.write("generation", **result)
        return picks

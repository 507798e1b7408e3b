"""The hyperparameters of :func:`stage2.loop.run_loop` (:class:`TrainingConfig`), with their checks and the
step budget and dev evaluation points they give for a data set of a given size."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["TrainingConfig"]


@dataclass
class TrainingConfig:
    """Hyperparameters. Steps are ``max(min_steps, epochs * batches per epoch)`` (``max_steps`` caps it),
    so tiny few-shot sets still get enough updates and large sets get whole epochs.
    """

    epochs: float = field(default=3.0, metadata={"help": "passes over the training data"})
    min_steps: int = field(default=150, metadata={"help": "at least this many optimizer steps"})
    max_steps: int | None = field(default=None, metadata={"help": "at most this many optimizer steps"})
    batch_size: int = field(default=16, metadata={"help": "examples (NER windows, documents) per step"})
    learning_rate: float = field(default=5e-5, metadata={"help": "encoder learning rate"})
    head_learning_rate: float = field(default=1e-3, metadata={"help": "learning rate of the layers on the encoder"})
    feature_learning_rate: float = field(
        default=1e-2, metadata={"help": "summariser: learning rate of the hand-made features' weights"}
    )
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 42
    label_dropout: float = field(default=0.0, metadata={"help": "NER: chance per step of a random label subset"})
    context_dropout: float = field(
        default=0.0, metadata={"help": "NER: chance per window of reading it without its document context"}
    )
    description_dropout: float = field(default=0.0, metadata={"help": "NER: chance per step of no descriptions"})
    coarse_labels: float = field(
        default=0.0,
        metadata={"help": "NER: chance per step of reading a task with its coarse types (NERTask.parents) instead"},
    )
    parent_labels: float = field(
        default=0.0,
        metadata={
            "help": "NER: chance per step of offering a task's coarse types beside its fine ones (the fine type wins)"
        },
    )
    name_variants: float = field(
        default=0.0,
        metadata={"help": "NER: chance per label and step of another name (synonym, plural, 'name of a ...')"},
    )
    case_augmentation: float = field(
        default=0.0,
        metadata={"help": "NER: chance per window of reading it all upper-case or all lower-case (uncased encoders)"},
    )
    negative_labels: int = field(
        default=0,
        metadata={"help": "NER: add up to this many absent entity types per step, drawn from each task's negatives"},
    )
    distill_weight: float = field(
        default=0.5, metadata={"help": "NER with a teacher: weight of the teacher's soft tags in the loss"}
    )
    distill_temperature: float = field(default=2.0, metadata={"help": "NER with a teacher: softmax temperature"})
    self_distill: float = field(
        default=0.0,
        metadata={
            "help": "NER: weight of the starting model's own soft tags (a frozen copy of it, read at temperature 1) "
            "beside the gold tags, so a handful of examples does not undo what it knew (0: off)"
        },
    )
    evaluations: int = field(default=0, metadata={"help": "dev evaluations during training (0: once per epoch)"})
    output_dir: str | None = field(default=None, metadata={"help": "checkpoints and the best model go here"})
    save_every: int = field(default=0, metadata={"help": "also checkpoint every N steps (0: evaluations and end)"})
    save_every_seconds: float = field(
        default=300.0, metadata={"help": "also checkpoint when this long has passed since the last one (0: never)"}
    )
    snapshot_every: int = field(
        default=0,
        metadata={"help": "also keep the weights after every N steps in output_dir/snapshots/step-N (learning curves)"},
    )
    resume: bool = field(default=True, metadata={"help": "continue from output_dir's checkpoint if present"})
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.epochs <= 0 and self.min_steps <= 0:
            raise ValueError("give epochs > 0 or min_steps > 0")
        if self.epochs < 0 or self.min_steps < 0:
            raise ValueError(f"epochs and min_steps must be >= 0, got {self.epochs} and {self.min_steps}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"max_steps must be >= 1 (or None), got {self.max_steps}")
        for name in (
            "label_dropout",
            "description_dropout",
            "context_dropout",
            "distill_weight",
            "self_distill",
            "coarse_labels",
            "parent_labels",
            "name_variants",
            "case_augmentation",
        ):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")
        if self.negative_labels < 0:
            raise ValueError("negative_labels must be >= 0")
        if self.save_every < 0 or self.snapshot_every < 0 or self.save_every_seconds < 0:
            raise ValueError("save_every, save_every_seconds and snapshot_every must be >= 0")
        if self.distill_temperature <= 0:
            raise ValueError("distill_temperature must be > 0")

    def total_steps(self, batches_per_epoch: int) -> int:
        """Optimizer steps for a data set of ``batches_per_epoch`` batches."""
        steps = max(self.min_steps, math.ceil(self.epochs * batches_per_epoch))
        return min(steps, self.max_steps) if self.max_steps is not None else steps

    def eval_points(self, steps: int, batches_per_epoch: int) -> set[int]:
        """Steps after which to evaluate on dev data (default: once per epoch, at most 10 times)."""
        n = self.evaluations or min(10, max(1, round(steps / max(batches_per_epoch, 1))))
        return {round(steps * (k + 1) / n) for k in range(n)}

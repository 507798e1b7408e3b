"""One training entry point for every data size: five examples or fifty thousand, one corpus or
many (each with its own label set). Checkpoints are written atomically and a run resumes from them.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from stage2.checkpoints import CHECKPOINT_DIR, data_fingerprint
from stage2.labels import Label, LabelSet
from stage2.loop import TrainingConfig, TrainResult, run_loop
from stage2.ner.augmentation import (
    LOWER_SHAPE,
    UPPER_SHAPE,
    add_negatives,
    coarsen,
    is_uncased,
    label_dropout,
    offer_parents,
    recase,
    vary_names,
)
from stage2.ner.collator import collate_windows
from stage2.ner.config import HeadType, Scoring
from stage2.ner.data import NERExample, entity_types
from stage2.ner.losses import distillation_loss, tag_loss
from stage2.ner.modeling import NERModel
from stage2.ner.windows import Window

__all__ = ["CHECKPOINT_DIR", "NERTask", "TrainResult", "TrainingConfig", "train"]

logger = logging.getLogger(__name__)


@dataclass
class NERTask:
    """A training corpus and the label set its tags use.

    ``negatives`` are entity types known to be absent from the corpus's text (e.g. types of another
    domain); with ``TrainingConfig.negative_labels`` some are added to each step's label set with
    no mentions, so the model learns to say nothing for a type that is asked for but not there.
    ``parents`` maps a fine type's key to a coarser type (``actor`` -> ``person``); with
    ``TrainingConfig.coarse_labels`` some steps read the task with those coarse types instead, and with
    ``TrainingConfig.parent_labels`` some offer them beside the fine types (the fine type stays gold).
    ``distill`` false trains on the gold tags alone even when a teacher is given (a corpus the teacher
    cannot read well, e.g. a student's target set that a zero-shot teacher never trained on).
    """

    examples: list[NERExample]
    labels: LabelSet
    name: str = "train"
    weight: float = 1.0
    negatives: list[Label] = field(default_factory=list)
    parents: dict[str, Label] = field(default_factory=dict)
    distill: bool = True


def _task_windows(model: NERModel, task: NERTask) -> tuple[list[Window], list[list[int]]]:
    index = {k: j for j, k in enumerate(task.labels.keys)}
    windows: list[Window] = []
    tags: list[list[int]] = []
    for i, ex in enumerate(task.examples):
        word_tags = [0] * len(ex.tokens)
        for span in ex.spans:
            if span.label not in index:
                where = ex.source or f"example {i}"
                raise ValueError(f"{where}: entity type {span.label!r} is not in the label set {task.labels.keys}")
            j = index[span.label]
            word_tags[span.start] = 1 + 2 * j
            for w in range(span.start + 1, span.end):
                word_tags[w] = 2 + 2 * j
        for win in model.make_windows(i, ex.tokens, ex.context):
            windows.append(win)
            tags.append(word_tags[win.start : win.end])
    return windows, tags


def _bare_windows(
    model: Any, tasks: Sequence[NERTask], featurised: Sequence[tuple[list[Window], list[list[int]]]]
) -> list[list[Window]]:
    """Each task's windows built without document context, one for one with ``featurised`` (context is
    only ever added to a sentence that fits one window, so the windows line up).
    """
    out = []
    for task, (windows, _) in zip(tasks, featurised, strict=True):
        plain = [w for i, ex in enumerate(task.examples) for w in model.make_windows(i, ex.tokens, None)]
        if len(plain) != len(windows):  # cannot happen with stage2's windowing; guard the pairing anyway
            raise RuntimeError("windows with and without context do not line up")
        out.append(plain)
    return out


def _schedule(
    sizes: Sequence[int], task_weights: Sequence[float], steps: int, batch_size: int, seed: int
) -> list[tuple[int, list[int]]]:
    """Deterministic (task, window indices) per step. Tasks are drawn in proportion to
    weight * sqrt(size); within a task, windows come in shuffled passes.
    """
    rng = random.Random(seed)
    weights = [w * math.sqrt(s) for s, w in zip(sizes, task_weights, strict=True)]
    streams: list[list[list[int]]] = [[] for _ in sizes]
    out = []
    for _ in range(steps):
        t = rng.choices(range(len(sizes)), weights=weights)[0] if len(sizes) > 1 else 0
        if not streams[t]:
            idx = list(range(sizes[t]))
            rng.shuffle(idx)
            streams[t] = [idx[b : b + batch_size] for b in range(0, len(idx), batch_size)]
            rng.shuffle(streams[t])
        out.append((t, streams[t].pop()))
    return out


def _length_grouped(windows: Sequence[Window], idx: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    mega = 50 * batch_size
    batches = []
    for m in range(0, len(idx), mega):
        chunk = sorted(idx[m : m + mega], key=lambda i: len(windows[i].input_ids))
        batches += [chunk[b : b + batch_size] for b in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _single_task_schedule(
    windows: Sequence[Window], steps: int, batch_size: int, seed: int
) -> list[tuple[int, list[int]]]:
    rng = random.Random(seed)
    out: list[tuple[int, list[int]]] = []
    while len(out) < steps:
        idx = list(range(len(windows)))
        rng.shuffle(idx)
        out += [(0, b) for b in _length_grouped(windows, idx, batch_size, rng)]
    return out[:steps]


def train(
    model: NERModel,
    train_data: Sequence[NERExample] | Sequence[NERTask],
    dev_data: Sequence[NERExample] | None = None,
    labels: LabelSet | dict[str, str] | Sequence[str] | None = None,
    config: TrainingConfig | None = None,
    teacher: NERModel | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on examples (or several :class:`NERTask` corpora).

    With a ``teacher`` (a trained NER model with the same tokenizer, e.g. a deeper one), the loss
    mixes the gold tags with the teacher's tag distribution on the same windows (knowledge
    distillation, Hinton et al. 2015; ``config.distill_weight`` and ``distill_temperature``).
    ``config.self_distill`` makes the teacher a frozen copy of ``model`` as it starts (few-shot runs: the
    zero-shot knowledge stays a target while the examples are learnt).

    ``labels`` (names and descriptions) defaults to the model's own labels when they cover the
    data, else to the entity types found in it. With ``dev_data`` the best dev-F1 weights are kept.
    After training, the model's default labels are the training labels.

    >>> result = train(model, examples, config=TrainingConfig(min_steps=100))  # doctest: +SKIP
    """
    cfg = config or TrainingConfig()
    if cfg.self_distill:
        if teacher is not None:
            raise ValueError("give a teacher or self_distill, not both")
        teacher = copy.deepcopy(model)
        cfg = dataclasses.replace(cfg, distill_weight=cfg.self_distill, distill_temperature=1.0)
    torch.manual_seed(cfg.seed)
    tasks = _as_tasks(model, train_data, labels)
    featurised = [_task_windows(model, t) for t in tasks]
    bare = _bare_windows(model, tasks, featurised) if cfg.context_dropout else None
    sizes = [len(w) for w, _ in featurised]
    if not all(sizes):  # a task without windows would loop forever in the schedule (or get weight 0)
        empty = [t.name for t, s in zip(tasks, sizes, strict=True) if not s]
        raise ValueError(f"no words to train on in {empty}: every example there has zero tokens")
    per_epoch = sum(math.ceil(s / cfg.batch_size) for s in sizes)
    steps = cfg.total_steps(per_epoch)
    if len(tasks) == 1:
        schedule = _single_task_schedule(featurised[0][0], steps, cfg.batch_size, cfg.seed)
        model.config.labels = tasks[0].labels.to_dict()
    else:
        schedule = _schedule(sizes, [t.weight for t in tasks], steps, cfg.batch_size, cfg.seed)
    if teacher is not None:
        _check_teacher(model, teacher, tasks)
        teacher.eval()
    batch_loss = _BatchLoss(model, tasks, featurised, bare, schedule, cfg, teacher)

    def evaluate() -> dict[str, Any]:
        assert dev_data is not None
        scores = model.evaluate(dev_data, tasks[0].labels)
        return {k: scores[k] for k in ("precision", "recall", "f1")}

    result = run_loop(
        model,
        cfg,
        steps,
        batch_loss,
        evaluate if dev_data else None,
        cfg.eval_points(steps, per_epoch),
        metric="f1",
        fingerprint=_fingerprint(tasks, teacher, cfg),
    )
    _record_run(model, tasks, steps, cfg, result)
    return result


def _as_tasks(
    model: NERModel,
    train_data: Sequence[NERExample] | Sequence[NERTask],
    labels: LabelSet | dict[str, str] | Sequence[str] | None,
) -> list[NERTask]:
    """The training corpora: the given tasks, or one task of the examples with ``labels`` (default:
    the model's own labels when they cover the data, else the data's entity types)."""
    if not train_data:
        raise ValueError("train_data is empty")
    tasks: list[NERTask]
    if all(isinstance(t, NERTask) for t in train_data):
        tasks = [t for t in train_data if isinstance(t, NERTask)]
    else:
        examples = [e for e in train_data if isinstance(e, NERExample)]
        if len(examples) != len(train_data):
            raise TypeError("train_data must be all NERExample or all NERTask")
        types = entity_types(examples)
        if labels is not None:
            label_set = LabelSet.from_user(labels)
        elif len(model.labels) and set(types) <= set(model.labels.keys):
            label_set = model.labels
        else:
            label_set = LabelSet.from_keys(types)
        missing = [t for t in types if t not in label_set.keys]
        if missing:
            raise ValueError(f"the training data has entity types {missing} that the label set {label_set.keys} lacks")
        tasks = [NERTask(examples, label_set)]
    if model.config.head == HeadType.LINEAR.value and (len(tasks) > 1 or tasks[0].labels.keys != model.labels.keys):
        got = [t.labels.keys for t in tasks]
        raise ValueError(f"a linear-head model trains on its own label set {model.labels.keys}; got {got}")
    return tasks


class _BatchLoss:
    """The loss of one step: the scheduled windows of one task, with that step's label-set changes
    (coarse types, label/description dropout, absent negative types), context dropout and re-casing
    drawn from the run's random generator, and distillation from a teacher."""

    def __init__(
        self,
        model: NERModel,
        tasks: list[NERTask],
        featurised: list[tuple[list[Window], list[list[int]]]],
        bare: list[list[Window]] | None,
        schedule: list[tuple[int, list[int]]],
        cfg: TrainingConfig,
        teacher: NERModel | None,
    ) -> None:
        self.model, self.tasks, self.featurised, self.bare = model, tasks, featurised, bare
        self.schedule, self.cfg, self.teacher = schedule, cfg, teacher
        self.linear = model.config.head == HeadType.LINEAR.value
        self.pad_id = model.tokenizer.pad_token_id or 0
        self.scoring = model.config.scoring if not self.linear else Scoring.SOFTMAX.value
        uncased = is_uncased(model.tokenizer)
        self.recase = cfg.case_augmentation if cfg.case_augmentation and uncased else 0.0
        if cfg.case_augmentation and not self.recase:
            logger.warning("case_augmentation needs an uncased encoder (it rewrites case-shape ids only): skipped")

    def labels(self, t: int, tags: list[list[int]], rng: random.Random) -> tuple[LabelSet, list[list[int]]]:
        """This step's label set of task ``t`` and the tags rewritten for it."""
        cfg, task = self.cfg, self.tasks[t]
        label_set = task.labels
        fallback: dict[int, int] | None = None
        if cfg.coarse_labels and task.parents and rng.random() < cfg.coarse_labels:
            label_set, tags = coarsen(label_set, task.parents, tags)
        elif cfg.parent_labels and task.parents and rng.random() < cfg.parent_labels:
            label_set, tags, fallback = offer_parents(label_set, task.parents, tags, rng)
        if cfg.label_dropout or cfg.description_dropout:
            label_set, tags = label_dropout(label_set, tags, rng, cfg, fallback)
        if cfg.name_variants:
            label_set = vary_names(label_set, rng, cfg.name_variants)
        if cfg.negative_labels and not self.linear:
            label_set = add_negatives(label_set, task.negatives, rng, cfg.negative_labels)
        return label_set, tags

    def windows(self, t: int, idx: list[int], rng: random.Random) -> list[Window]:
        """This step's windows of task ``t``: some read without their context, some re-cased."""
        chosen = [self.featurised[t][0][i] for i in idx]
        if self.bare is not None:  # read some windows as if the sentence stood alone
            bare, p = self.bare[t], self.cfg.context_dropout
            chosen = [bare[i] if rng.random() < p else w for i, w in zip(idx, chosen, strict=True)]
        if self.recase:
            chosen = [
                recase(w, UPPER_SHAPE if rng.random() < 0.5 else LOWER_SHAPE) if rng.random() < self.recase else w
                for w in chosen
            ]
        return chosen

    def __call__(self, step: int, rng: random.Random) -> torch.Tensor:
        t, idx = self.schedule[step]
        label_set, batch_tags = self.labels(t, [self.featurised[t][1][i] for i in idx], rng)
        batch = collate_windows(self.windows(t, idx, rng), self.pad_id, batch_tags)
        logits = self.model.logits_for(batch, label_set)
        gold = batch["labels"].to(logits.device)
        loss = tag_loss(logits, gold, self.scoring)
        if self.teacher is None or not self.tasks[t].distill:
            return loss
        with torch.no_grad():
            soft = self.teacher.logits_for(batch, label_set).to(logits.device)
        weight = self.cfg.distill_weight
        return (1.0 - weight) * loss + weight * distillation_loss(
            logits, soft, gold != -100, self.cfg.distill_temperature, self.scoring
        )


def _fingerprint(tasks: list[NERTask], teacher: NERModel | None, cfg: TrainingConfig) -> str:
    """What identifies a run's data (a checkpoint of other data is not resumed)."""
    return data_fingerprint(
        [
            [
                t.name,
                t.labels.to_dict(),
                [
                    [e.tokens, [[x.label, x.start, x.end] for x in e.spans]] + ([list(e.context)] if e.context else [])
                    for e in t.examples
                ],
            ]
            # negatives and parents only enter when there are some, so older runs keep their fingerprint
            + ([[[lb.name, lb.description] for lb in t.negatives]] if t.negatives else [])
            + ([sorted((k, v.name, v.description) for k, v in t.parents.items())] if t.parents else [])
            + ([["gold only"]] if teacher is not None and not t.distill else [])
            for t in tasks
        ]
        # a distilled run resumes only with a teacher and the same distillation settings
        + ([["teacher", teacher.config.to_dict(), cfg.distill_weight, cfg.distill_temperature]] if teacher else [])
    )


def _record_run(model: NERModel, tasks: list[NERTask], steps: int, cfg: TrainingConfig, result: TrainResult) -> None:
    """What was trained on, how long and the best dev scores, into the model card."""
    summary = {
        "examples": sum(len(t.examples) for t in tasks),
        "corpora": [t.name for t in tasks],
        "mentions": {t.name: _mention_counts(t) for t in tasks} if len(tasks) > 1 else _mention_counts(tasks[0]),
        "steps": steps,
        "seconds": round(result.seconds, 1),
        "seed": cfg.seed,
    }
    card = model.config.card
    card.setdefault("training", [])
    card["training"].append(summary)
    if result.best_dev is not None:
        card.setdefault("scores", {})["dev"] = {k: result.best_dev[k] for k in ("precision", "recall", "f1")}


def _check_teacher(model: NERModel, teacher: NERModel, tasks: Sequence[NERTask]) -> None:
    for task in tasks:
        teacher.resolve_labels(task.labels)  # a linear-head teacher must know every label
    probe = ["Distillation", "needs", "one", "tokenizer"]
    if (
        teacher.tokenizer(probe, is_split_into_words=True)["input_ids"]
        != model.tokenizer(probe, is_split_into_words=True)["input_ids"]
    ):
        raise ValueError("the teacher's tokenizer differs from the student's: their windows would not match")


def _mention_counts(task: NERTask) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ex in task.examples:
        for span in ex.spans:
            counts[span.label] = counts.get(span.label, 0) + 1
    return dict(sorted(counts.items()))

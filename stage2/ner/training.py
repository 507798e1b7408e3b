"""One training entry point for every data size: five examples or fifty thousand, one corpus or
many (each with its own label set). Checkpoints are written atomically and a run resumes from them.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from stage2.labels import Label, LabelSet
from stage2.loop import CHECKPOINT_DIR, TrainingConfig, TrainResult, data_fingerprint, run_loop
from stage2.ner.collator import collate_windows
from stage2.ner.config import HeadType, Scoring
from stage2.ner.data import NERExample, entity_types
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
    ``TrainingConfig.coarse_labels`` some steps read the task with those coarse types instead.
    """

    examples: list[NERExample]
    labels: LabelSet
    name: str = "train"
    weight: float = 1.0
    negatives: list[Label] = field(default_factory=list)
    parents: dict[str, Label] = field(default_factory=dict)


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


def _apply_label_dropout(
    labels: LabelSet, tags: list[list[int]], rng: random.Random, cfg: TrainingConfig
) -> tuple[LabelSet, list[list[int]]]:
    items = list(labels)
    if cfg.description_dropout and rng.random() < cfg.description_dropout:
        items = [Label(lb.key, lb.name, "") for lb in items]
    keep = list(range(len(items)))
    if cfg.label_dropout and len(items) > 1 and rng.random() < cfg.label_dropout:
        n_keep = rng.randint(1, len(items))
        keep = sorted(rng.sample(range(len(items)), n_keep))
    remap = [0] * (1 + 2 * len(items))
    for new, old in enumerate(keep):
        remap[1 + 2 * old] = 1 + 2 * new
        remap[2 + 2 * old] = 2 + 2 * new
    return LabelSet([items[j] for j in keep]), [[remap[t] for t in row] for row in tags]


def _add_negatives(labels: LabelSet, pool: Sequence[Label], rng: random.Random, most: int) -> LabelSet:
    """``labels`` plus up to ``most`` labels of ``pool`` whose names it lacks (appended: tags keep their indices)."""
    if not pool or most <= 0:
        return labels
    names = {lb.name.lower() for lb in labels} | {lb.key.lower() for lb in labels}
    free = [lb for lb in pool if lb.name.lower() not in names and lb.key.lower() not in names]
    chosen = rng.sample(free, min(len(free), rng.randint(0, most)))
    seen: set[str] = set()
    extra: list[Label] = []
    for lb in chosen:
        if lb.name.lower() not in seen:
            seen.add(lb.name.lower())
            extra.append(Label(f"__negative_{len(extra)}", lb.name, lb.description))
    return LabelSet([*labels, *extra])


def _coarsen(labels: LabelSet, parents: dict[str, Label], tags: list[list[int]]) -> tuple[LabelSet, list[list[int]]]:
    """The task read with its coarse types: each fine type with a parent becomes that parent (fine
    types sharing a parent merge into one); types without a parent stay as they are.
    """
    merged: list[Label] = []
    index: dict[str, int] = {}
    remap = [0] * (1 + 2 * len(labels))
    for j, lb in enumerate(labels):
        target = parents.get(lb.key, lb)
        if target.name.lower() not in index:
            index[target.name.lower()] = len(merged)
            merged.append(
                Label(f"__coarse_{len(merged)}" if lb.key in parents else lb.key, target.name, target.description)
            )
        new = index[target.name.lower()]
        remap[1 + 2 * j], remap[2 + 2 * j] = 1 + 2 * new, 2 + 2 * new
    return LabelSet(merged), [[remap[t] for t in row] for row in tags]


_UPPER_SHAPE, _LOWER_SHAPE = 3, 1
_CASED_SHAPES = (1, 2, 3, 4)  # lower, Title, UPPER, mIxed: the shapes a case change rewrites


def _recase(window: Window, shape: int) -> Window:
    """``window`` as if its text were all upper- (or lower-) case: for an uncased encoder only the
    case-shape ids change."""
    shapes = [shape if s in _CASED_SHAPES else s for s in window.shape_ids]
    return Window(window.example, window.start, window.end, window.input_ids, shapes, window.first_subword)


def _is_uncased(tokenizer: Any) -> bool:
    probe = ["Paris", "NASA", "iPhone"]
    return bool(
        tokenizer(probe, is_split_into_words=True)["input_ids"]
        == tokenizer([w.lower() for w in probe], is_split_into_words=True)["input_ids"]
    )


def tag_loss(logits: torch.Tensor, gold: torch.Tensor, scoring: str) -> torch.Tensor:
    """Training loss of tag logits ``[B, T, 1 + 2L]`` against gold tags ``[B, T]`` (-100: ignored).

    ``softmax``: cross-entropy over all tags. ``sigmoid``: every B/I column is a yes/no question of
    its own (binary cross-entropy, summed over the columns, averaged over the words); O is no column.
    """
    flat, target = logits.reshape(-1, logits.shape[-1]), gold.reshape(-1)
    if scoring != Scoring.SIGMOID.value:
        return torch.nn.functional.cross_entropy(flat, target, ignore_index=-100)
    keep = target != -100
    if not bool(keep.any()):
        return flat.sum() * 0.0
    flat, target = flat[keep], target[keep]
    onehot = torch.nn.functional.one_hot(target, flat.shape[-1]).to(flat.dtype)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(flat[:, 1:], onehot[:, 1:], reduction="none")
    return bce.sum(-1).mean()


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

    ``labels`` (names and descriptions) defaults to the model's own labels when they cover the
    data, else to the entity types found in it. With ``dev_data`` the best dev-F1 weights are kept.
    After training, the model's default labels are the training labels.

    >>> result = train(model, examples, config=TrainingConfig(min_steps=100))  # doctest: +SKIP
    """
    cfg = config or TrainingConfig()
    torch.manual_seed(cfg.seed)
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
    linear = model.config.head == HeadType.LINEAR.value
    if linear and (len(tasks) > 1 or tasks[0].labels.keys != model.labels.keys):
        got = [t.labels.keys for t in tasks]
        raise ValueError(f"a linear-head model trains on its own label set {model.labels.keys}; got {got}")
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
    pad_id = model.tokenizer.pad_token_id or 0
    scoring = model.config.scoring if not linear else Scoring.SOFTMAX.value
    recase = cfg.case_augmentation if cfg.case_augmentation and _is_uncased(model.tokenizer) else 0.0
    if cfg.case_augmentation and not recase:
        logger.warning("case_augmentation needs an uncased encoder (it rewrites case-shape ids only): skipped")
    if teacher is not None:
        _check_teacher(model, teacher, tasks)
        teacher.eval()

    def batch_loss(step: int, rng: random.Random) -> torch.Tensor:
        t, idx = schedule[step]
        windows, tags = featurised[t]
        label_set, batch_tags = tasks[t].labels, [tags[i] for i in idx]
        if cfg.coarse_labels and tasks[t].parents and rng.random() < cfg.coarse_labels:
            label_set, batch_tags = _coarsen(label_set, tasks[t].parents, batch_tags)
        if cfg.label_dropout or cfg.description_dropout:
            label_set, batch_tags = _apply_label_dropout(label_set, batch_tags, rng, cfg)
        if cfg.negative_labels and not linear:
            label_set = _add_negatives(label_set, tasks[t].negatives, rng, cfg.negative_labels)
        chosen = [windows[i] for i in idx]
        if bare is not None:  # read some windows as if the sentence stood alone
            chosen = [bare[t][i] if rng.random() < cfg.context_dropout else w for i, w in zip(idx, chosen, strict=True)]
        if recase:
            chosen = [
                _recase(w, _UPPER_SHAPE if rng.random() < 0.5 else _LOWER_SHAPE) if rng.random() < recase else w
                for w in chosen
            ]
        batch = collate_windows(chosen, pad_id, batch_tags)
        logits = model.logits_for(batch, label_set)
        gold = batch["labels"].to(logits.device)
        loss = tag_loss(logits, gold, scoring)
        if teacher is None:
            return loss
        with torch.no_grad():
            soft = teacher.logits_for(batch, label_set).to(logits.device)
        return (1.0 - cfg.distill_weight) * loss + cfg.distill_weight * distillation_loss(
            logits, soft, gold != -100, cfg.distill_temperature
        )

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
        fingerprint=data_fingerprint(
            [
                [
                    t.name,
                    t.labels.to_dict(),
                    [
                        [e.tokens, [[x.label, x.start, x.end] for x in e.spans]]
                        + ([list(e.context)] if e.context else [])
                        for e in t.examples
                    ],
                ]
                # negatives and parents only enter when there are some, so older runs keep their fingerprint
                + ([[[lb.name, lb.description] for lb in t.negatives]] if t.negatives else [])
                + ([sorted((k, v.name, v.description) for k, v in t.parents.items())] if t.parents else [])
                for t in tasks
            ]
            # a distilled run resumes only with a teacher and the same distillation settings
            + ([["teacher", teacher.config.to_dict(), cfg.distill_weight, cfg.distill_temperature]] if teacher else [])
        ),
    )
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
    return result


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, temperature: float
) -> torch.Tensor:
    """``T^2 * KL(teacher || student)`` of the tag distributions at temperature ``T``, averaged over
    the positions in ``mask`` (the words' first subwords).
    """
    t = temperature
    log_student = torch.log_softmax(student[mask].float() / t, dim=-1)
    log_teacher = torch.log_softmax(teacher[mask].float() / t, dim=-1)
    kl = (log_teacher.exp() * (log_teacher - log_student)).sum(-1)
    return kl.mean() * t * t if kl.numel() else student.sum() * 0.0


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

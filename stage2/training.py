"""One training entry point for every data size: five examples or fifty thousand, one corpus or
many (each with its own label set). Checkpoints are written atomically and a run resumes from them.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stage2.data import NERExample, entity_types
from stage2.labels import Label, LabelSet
from stage2.ner.collator import collate_windows
from stage2.ner.config import HeadType
from stage2.ner.modeling import NERModel, Window

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint-last"


@dataclass
class TrainingConfig:
    """Hyperparameters. Steps are ``max(min_steps, epochs * batches per epoch)`` (``max_steps`` caps it),
    so tiny few-shot sets still get enough updates and large sets get whole epochs.
    """

    epochs: float = field(default=3.0, metadata={"help": "passes over the training windows"})
    min_steps: int = field(default=150, metadata={"help": "at least this many optimizer steps"})
    max_steps: int | None = field(default=None, metadata={"help": "at most this many optimizer steps"})
    batch_size: int = field(default=16, metadata={"help": "windows per step"})
    learning_rate: float = field(default=5e-5, metadata={"help": "encoder learning rate"})
    head_learning_rate: float = field(default=1e-3, metadata={"help": "learning rate of new layers"})
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    seed: int = 42
    label_dropout: float = field(default=0.0, metadata={"help": "chance per step of training on a random label subset"})
    description_dropout: float = field(default=0.0, metadata={"help": "chance per step of dropping label descriptions"})
    evaluations: int = field(default=0, metadata={"help": "dev evaluations during training (0: once per epoch)"})
    output_dir: str | None = field(default=None, metadata={"help": "checkpoints and the best model go here"})
    save_every: int = field(default=0, metadata={"help": "also checkpoint every N steps (0: evaluations and end)"})
    resume: bool = field(default=True, metadata={"help": "continue from output_dir's checkpoint if present"})
    progress: bool = True

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if self.epochs <= 0 and self.min_steps <= 0:
            raise ValueError("give epochs > 0 or min_steps > 0")
        for name in ("label_dropout", "description_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1]")


@dataclass
class NERTask:
    """A training corpus and the label set its tags use."""

    examples: list[NERExample]
    labels: LabelSet
    name: str = "train"
    weight: float = 1.0


@dataclass
class TrainResult:
    """What a run did: steps, wall time, the best dev scores (if dev data was given)."""

    steps: int
    seconds: float
    best_dev: dict[str, Any] | None
    history: list[dict[str, Any]]


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
        for win in model.make_windows(i, ex.tokens):
            windows.append(win)
            tags.append(word_tags[win.start : win.end])
    return windows, tags


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


def _atomic_save(model: NERModel, optimizer: Any, scheduler: Any, state: dict[str, Any], out: Path) -> None:
    tmp = out / (CHECKPOINT_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}, tmp / "optimizer.pt")
    (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    final = out / CHECKPOINT_DIR
    old = out / (CHECKPOINT_DIR + ".old")
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


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


def train(
    model: NERModel,
    train_data: Sequence[NERExample] | Sequence[NERTask],
    dev_data: Sequence[NERExample] | None = None,
    labels: LabelSet | dict[str, str] | Sequence[str] | None = None,
    config: TrainingConfig | None = None,
) -> TrainResult:
    """Fine-tune ``model`` in place on examples (or several :class:`NERTask` corpora).

    ``labels`` (names and descriptions) defaults to the model's own labels when they cover the
    data, else to the entity types found in it. With ``dev_data`` the best dev-F1 weights are kept.
    After training, the model's default labels are the training labels.

    >>> result = train(model, examples, config=TrainingConfig(min_steps=100))  # doctest: +SKIP
    """
    cfg = config or TrainingConfig()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
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
    sizes = [len(w) for w, _ in featurised]
    if not all(sizes):  # a task without windows would loop forever in the schedule (or get weight 0)
        empty = [t.name for t, s in zip(tasks, sizes, strict=True) if not s]
        raise ValueError(f"no words to train on in {empty}: every example there has zero tokens")
    per_epoch = sum(math.ceil(s / cfg.batch_size) for s in sizes)
    steps = max(cfg.min_steps, math.ceil(cfg.epochs * per_epoch))
    if cfg.max_steps is not None:
        steps = min(steps, cfg.max_steps)
    if len(tasks) == 1:
        schedule = _single_task_schedule(featurised[0][0], steps, cfg.batch_size, cfg.seed)
    else:
        schedule = _schedule(sizes, [t.weight for t in tasks], steps, cfg.batch_size, cfg.seed)
    n_evals = cfg.evaluations or max(1, round(steps / max(per_epoch, 1)))
    eval_at = {round(steps * (k + 1) / n_evals) for k in range(n_evals)} if dev_data else set()

    head_params = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    enc_params = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    optimizer = torch.optim.AdamW(
        [
            {"params": enc_params, "lr": cfg.learning_rate},
            {"params": head_params, "lr": cfg.head_learning_rate},
        ],
        weight_decay=cfg.weight_decay,
    )
    warmup = int(cfg.warmup_ratio * steps)

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)
    out_dir = Path(cfg.output_dir) if cfg.output_dir else None
    start_step, best, history = 0, None, []
    label_rng = random.Random(cfg.seed + 1)
    ckpt = _find_checkpoint(out_dir) if out_dir and cfg.resume else None
    if ckpt is not None:
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        loaded = NERModel.from_pretrained(ckpt)
        model.load_state_dict(loaded.state_dict())
        opt_state = torch.load(ckpt / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(opt_state["optimizer"])
        scheduler.load_state_dict(opt_state["scheduler"])
        start_step, best, history = state["step"], state.get("best"), state.get("history", [])
        label_rng.setstate(_rng_state_from_json(state["label_rng"]))
        torch.manual_seed(cfg.seed + start_step)
        logger.info("resuming from %s at step %d of %d", ckpt, start_step, steps)

    from tqdm.auto import tqdm

    pad_id = model.tokenizer.pad_token_id or 0
    model.train()
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=-100)
    started = time.perf_counter()
    bar = tqdm(total=steps, initial=start_step, desc="training", disable=not cfg.progress, unit="step")
    running = 0.0
    for step in range(start_step, steps):
        t, idx = schedule[step]
        windows, tags = featurised[t]
        label_set, batch_tags = tasks[t].labels, [tags[i] for i in idx]
        if cfg.label_dropout or cfg.description_dropout:
            label_set, batch_tags = _apply_label_dropout(label_set, batch_tags, label_rng, cfg)
        batch = collate_windows([windows[i] for i in idx], pad_id, batch_tags)
        logits = model.logits_for(batch, label_set)
        loss = loss_fn(logits.reshape(-1, logits.shape[-1]), batch["labels"].to(logits.device).reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
        optimizer.step()
        scheduler.step()
        running = 0.9 * running + 0.1 * loss.item() if step > start_step else loss.item()
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}")
        done = step + 1
        periodic = bool(cfg.save_every) and done % cfg.save_every == 0
        if done in eval_at or (out_dir and (done == steps or periodic)):
            record: dict[str, Any] = {"step": done, "loss": round(running, 5)}
            if dev_data and done in eval_at:
                scores = model.evaluate(dev_data, tasks[0].labels)
                model.train()
                record["dev"] = {k: scores[k] for k in ("precision", "recall", "f1")}
                logger.info("step %d: dev F1 %.2f", done, scores["f1"])
                if best is None or scores["f1"] > best["f1"]:
                    best = {**record["dev"], "step": done}
                    if out_dir:
                        _save_model_atomic(model, out_dir / "best", tasks[0].labels)
                    else:
                        best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
            history.append(record)
            if out_dir:
                state = {
                    "step": done,
                    "steps": steps,
                    "best": best,
                    "history": history,
                    "label_rng": _rng_state_to_json(label_rng.getstate()),
                    "config": asdict(cfg),
                }
                _atomic_save(model, optimizer, scheduler, state, out_dir)
    bar.close()
    seconds = time.perf_counter() - started
    if best is not None:
        if out_dir:
            model.load_state_dict(NERModel.from_pretrained(out_dir / "best").state_dict())
        else:
            model.load_state_dict(best_state)
    model.eval()
    model.config.labels = tasks[0].labels.to_dict() if len(tasks) == 1 else model.config.labels
    summary = {
        "examples": sum(len(t.examples) for t in tasks),
        "corpora": [t.name for t in tasks],
        "mentions": {t.name: _mention_counts(t) for t in tasks} if len(tasks) > 1 else _mention_counts(tasks[0]),
        "steps": steps,
        "seconds": round(seconds, 1),
        "seed": cfg.seed,
    }
    card = model.config.card
    card.setdefault("training", [])
    card["training"].append(summary)
    if best is not None:
        card.setdefault("scores", {})["dev"] = {k: best[k] for k in ("precision", "recall", "f1")}
    return TrainResult(steps=steps, seconds=seconds, best_dev=best, history=history)


def _find_checkpoint(out_dir: Path) -> Path | None:
    """The last complete checkpoint (a crash between the two renames of a save leaves only ``.old``)."""
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".old"):
        if (out_dir / name / "trainer_state.json").exists():
            return out_dir / name
    return None


def _mention_counts(task: NERTask) -> dict[str, int]:
    counts: dict[str, int] = {}
    for ex in task.examples:
        for span in ex.spans:
            counts[span.label] = counts.get(span.label, 0) + 1
    return dict(sorted(counts.items()))


def _save_model_atomic(model: NERModel, path: Path, labels: LabelSet) -> None:
    saved_labels = model.config.labels
    model.config.labels = labels.to_dict()
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.save_pretrained(tmp)
    model.config.labels = saved_labels
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)


def _rng_state_to_json(state: Any) -> list[Any]:
    return [state[0], list(state[1]), state[2]]


def _rng_state_from_json(data: list[Any]) -> Any:
    return (data[0], tuple(data[1]), data[2])

"""The one optimisation loop every stage2 task trains with: AdamW with separate encoder and head
learning rates, linear warm-up and decay, gradient clipping, dev evaluations that keep the best
weights, atomic checkpoints and resumption. Tasks supply the batches' loss and the evaluation.

The model needs ``named_parameters``, ``save_pretrained`` and a ``from_pretrained`` classmethod.
With ``cfg.output_dir``, checkpoints are written atomically (:mod:`stage2.checkpoints`) and a rerun
resumes; a checkpoint of other data (its ``fingerprint``) or other hyperparameters raises ValueError
instead of silently continuing the old run (a changed step budget is allowed, with a warning).
``is_encoder(name)`` picks the parameters trained at ``cfg.learning_rate`` (default: names starting
with ``encoder.``); the rest train at ``cfg.head_learning_rate``; ``learning_rate_of(name)``, when
given, sets each parameter's learning rate instead. Parameters with ``requires_grad`` off stay frozen.
"""

from __future__ import annotations

import contextlib
import logging
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from stage2.checkpoints import (
    CHECKPOINT_DIR,
    data_fingerprint,
    find_checkpoint,
    load_checkpoint,
    rng_to_json,
    save_atomic,
    save_checkpoint,
)
from stage2.training_config import TrainingConfig

__all__ = [
    "CHECKPOINT_DIR",
    "TrainResult",
    "TrainingConfig",
    "TrainingInterrupted",
    "data_fingerprint",
    "find_checkpoint",
    "run_loop",
    "shuffled_batches",
]

logger = logging.getLogger(__name__)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM during training: the step in progress was finished and, with an output folder,
    checkpointed, so the same call resumes from ``step``."""

    def __init__(self, step: int, steps: int, checkpoint: Path | None) -> None:
        self.step, self.steps, self.checkpoint = step, steps, checkpoint
        where = f"checkpoint {checkpoint}: run the same command again to resume" if checkpoint else "no output folder"
        super().__init__(f"training interrupted after step {step} of {steps} ({where})")


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""Signals that stop training after the step in progress, with a checkpoint: Ctrl-C, and SIGTERM as sent
by ``timeout``, job schedulers and container stops."""


@contextlib.contextmanager
def _sigint_finishes_the_step() -> Iterator[Callable[[], bool]]:
    """While training, a first Ctrl-C or SIGTERM only sets a flag (the loop finishes the step,
    checkpoints and stops); a second one interrupts at once. Outside the main thread signals are left
    alone."""
    hit: list[bool] = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}

    def handler(signum: int, frame: Any) -> None:
        if hit:
            raise KeyboardInterrupt
        hit.append(True)
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        logger.warning("%s: finishing this step and saving a checkpoint (again to stop at once)", name)

    for sig in STOP_SIGNALS:
        signal.signal(sig, handler)
    try:
        yield lambda: bool(hit)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@dataclass
class TrainResult:
    """What a run did: steps, wall time, the best dev scores (if dev data was given)."""

    steps: int
    seconds: float
    best_dev: dict[str, Any] | None
    history: list[dict[str, Any]]


def run_loop(
    model: Any,
    cfg: TrainingConfig,
    steps: int,
    batch_loss: Callable[[int, random.Random], torch.Tensor],
    evaluate: Callable[[], dict[str, Any]] | None = None,
    eval_at: set[int] | None = None,
    metric: str = "f1",
    is_encoder: Callable[[str], bool] | None = None,
    fingerprint: str = "",
    learning_rate_of: Callable[[str], float] | None = None,
) -> TrainResult:
    """Train ``model`` for ``steps`` steps; ``batch_loss(step, rng)`` returns the loss of step ``step``.

    ``evaluate()`` returns dev scores (higher ``metric`` is better) at the steps ``eval_at``; the best
    weights are restored at the end. ``fingerprint`` identifies the training data of a resumable run;
    ``is_encoder``/``learning_rate_of`` choose each parameter's learning rate (see the module docstring).
    """
    from tqdm.auto import tqdm

    eval_at = eval_at if evaluate is not None and eval_at else set()
    saver, run = _prepare_run(model, cfg, steps, is_encoder, fingerprint, learning_rate_of)
    out_dir = saver.out_dir
    model.train()
    started = time.perf_counter()
    bar = tqdm(total=steps, initial=run.step, desc="training", disable=not cfg.progress, unit="step")
    running = 0.0
    with _sigint_finishes_the_step() as interrupted:
        for step in range(run.step, steps):
            loss = _optimise(model, saver.optimizer, saver.scheduler, batch_loss(step, saver.rng), cfg.max_grad_norm)
            running = 0.9 * running + 0.1 * loss if step > run.step else loss
            bar.update(1)
            bar.set_postfix(loss=f"{running:.4f}")
            done = step + 1
            saved = _after_step(saver, run, done, running, evaluate, eval_at, metric)
            if interrupted() and done < steps:
                bar.close()
                if not saved:
                    saver.save(done, run)
                raise TrainingInterrupted(done, steps, out_dir / CHECKPOINT_DIR if out_dir else None)
    bar.close()
    seconds = time.perf_counter() - started
    _restore_best(model, run, out_dir)
    model.eval()
    return TrainResult(steps=steps, seconds=seconds, best_dev=run.best, history=run.history)


def _prepare_run(
    model: Any,
    cfg: TrainingConfig,
    steps: int,
    is_encoder: Callable[[str], bool] | None,
    fingerprint: str,
    learning_rate_of: Callable[[str], float] | None,
) -> tuple[_Saver, _Progress]:
    """Seed torch, build the optimizer and schedule, and resume from ``cfg.output_dir``'s checkpoint
    when there is one (and ``cfg.resume``); the run's saver (which holds that state) and where it stands."""
    torch.manual_seed(cfg.seed)  # dropout and any torch sampling: runs repeat for a seed
    optimizer, scheduler = _optimizer(model, cfg, steps, is_encoder, learning_rate_of)
    out_dir = Path(cfg.output_dir) if cfg.output_dir else None
    rng = random.Random(cfg.seed + 1)
    run = _Progress()
    ckpt = find_checkpoint(out_dir) if out_dir and cfg.resume else None
    if ckpt is not None:
        state = load_checkpoint(ckpt, model, optimizer, scheduler, rng, cfg, steps, fingerprint)
        run = _Progress(state["step"], state.get("best"), state.get("history", []))
        logger.info("resuming from %s at step %d of %d", ckpt, run.step, steps)
    return _Saver(model, optimizer, scheduler, rng, cfg, steps, fingerprint, out_dir), run


def _after_step(
    saver: _Saver,
    run: _Progress,
    done: int,
    running: float,
    evaluate: Callable[[], dict[str, Any]] | None,
    eval_at: set[int],
    metric: str,
) -> bool:
    """The snapshot, dev evaluation and checkpoint due after step ``done`` (``running``: the smoothed
    loss); whether a checkpoint was written."""
    cfg, out_dir = saver.cfg, saver.out_dir
    periodic = bool(cfg.save_every) and done % cfg.save_every == 0
    periodic = periodic or (bool(cfg.save_every_seconds) and saver.due(cfg.save_every_seconds))
    if out_dir and cfg.snapshot_every and done % cfg.snapshot_every == 0:
        save_atomic(saver.model, out_dir / "snapshots" / f"step-{done}")
    if not (done in eval_at or (out_dir and (done == saver.steps or periodic))):
        return False
    record: dict[str, Any] = {"step": done, "loss": round(running, 5)}
    if evaluate is not None and done in eval_at:
        record["dev"] = _evaluate(saver.model, evaluate, metric, done, run, out_dir)
    run.history.append(record)
    return saver.save(done, run)


@dataclass
class _Saver:
    """Writes the run's checkpoint (when it has an output folder)."""

    model: Any
    optimizer: Any
    scheduler: Any
    rng: random.Random
    cfg: TrainingConfig
    steps: int
    fingerprint: str
    out_dir: Path | None
    last: float = field(default_factory=time.monotonic)

    def due(self, seconds: float) -> bool:
        """Whether ``seconds`` have passed since the last checkpoint (or the start), with an output folder."""
        return self.out_dir is not None and time.monotonic() - self.last >= seconds

    def save(self, done: int, run: _Progress) -> bool:
        """Checkpoint the state after step ``done``; False without an output folder."""
        if self.out_dir is None:
            return False
        self.last = time.monotonic()
        state = {
            "step": done,
            "steps": self.steps,
            "best": run.best,
            "history": run.history,
            "rng": rng_to_json(self.rng.getstate()),
            "config": asdict(self.cfg),
            "fingerprint": self.fingerprint,
        }
        save_checkpoint(self.model, self.optimizer, self.scheduler, state, self.out_dir)
        return True


def _optimise(model: Any, optimizer: Any, scheduler: Any, loss: torch.Tensor, max_grad_norm: float) -> float:
    """One optimizer step on ``loss`` (gradients clipped); the loss as a number."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
    optimizer.step()
    scheduler.step()
    return float(loss.item())


@dataclass
class _Progress:
    """Where a run stands: the step it starts from, the best dev scores so far, the dev history and
    (without an output folder) the best weights in memory."""

    step: int = 0
    best: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None


def _optimizer(
    model: Any,
    cfg: TrainingConfig,
    steps: int,
    is_encoder: Callable[[str], bool] | None,
    learning_rate_of: Callable[[str], float] | None,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR]:
    """AdamW with one parameter group per learning rate, and linear warm-up then decay to zero."""
    in_encoder = is_encoder or (lambda name: name.startswith("encoder."))
    lr_of = learning_rate_of or (lambda name: cfg.learning_rate if in_encoder(name) else cfg.head_learning_rate)
    groups: dict[float, list[torch.nn.Parameter]] = {cfg.learning_rate: [], cfg.head_learning_rate: []}
    for name, param in model.named_parameters():
        if param.requires_grad:
            groups.setdefault(lr_of(name), []).append(param)
    optimizer = torch.optim.AdamW(
        [{"params": params, "lr": lr} for lr, params in groups.items()], weight_decay=cfg.weight_decay
    )
    warmup = int(cfg.warmup_ratio * steps)

    def lr_lambda(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (steps - step) / max(1, steps - warmup))

    return optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda)


def _evaluate(
    model: Any, evaluate: Callable[[], dict[str, Any]], metric: str, done: int, run: _Progress, out_dir: Path | None
) -> dict[str, Any]:
    """Dev scores after step ``done``; a new best is kept (in ``out_dir/best``, or in memory)."""
    scores = evaluate()
    model.train()
    logger.info("step %d: dev %s %.2f", done, metric, scores[metric])
    if run.best is None or scores[metric] > run.best[metric]:
        run.best = {**scores, "step": done}
        if out_dir:
            save_atomic(model, out_dir / "best")
        else:
            run.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    return scores


def _restore_best(model: Any, run: _Progress, out_dir: Path | None) -> None:
    """Put the best dev weights back into ``model`` (when there was a dev evaluation)."""
    if run.best is None:
        return
    if out_dir:
        model.load_state_dict(type(model).from_pretrained(out_dir / "best").state_dict())
    elif run.best_state is not None:
        model.load_state_dict(run.best_state)


def shuffled_batches(n: int, batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """Index batches for ``steps`` steps: shuffled passes over ``n`` examples, deterministic per seed."""
    rng = random.Random(seed)
    schedule: list[list[int]] = []
    while len(schedule) < steps:
        idx = list(range(n))
        rng.shuffle(idx)
        schedule += [idx[b : b + batch_size] for b in range(0, len(idx), batch_size)]
    return schedule[:steps]

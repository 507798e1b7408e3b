"""Checkpoints of a training run: written atomically (a crash leaves the old or the new one, never
half of one), found again after a crash, refused when they belong to other data or settings, and read
back to resume the run."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoint-last"


def save_atomic(model: Any, path: Path) -> None:
    """``model.save_pretrained(path)`` that leaves either the old or the new folder, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    with _cleaned_on_failure(tmp, path):
        model.save_pretrained(tmp)
    _swap_in(tmp, path)


@contextlib.contextmanager
def _cleaned_on_failure(tmp: Path, final: Path) -> Iterator[None]:
    """A write that fails (a full disk, a lost mount) removes its half-written ``tmp`` folder and says
    what was kept and how to go on, instead of a traceback and a stray ``.tmp``."""
    try:
        yield
    except OSError as err:
        shutil.rmtree(tmp, ignore_errors=True)
        kept = f"the previous {final.name} is kept" if final.exists() else f"nothing was written at {final}"
        reason = err.strerror or str(err) or type(err).__name__
        raise OSError(
            err.errno,
            f"{final}: could not be written ({reason}); {kept}. Free space (or choose another output folder) "
            "and run the same command again: training resumes from the last checkpoint",
        ) from err


def _swap_in(tmp: Path, final: Path) -> None:
    """Put the complete folder ``tmp`` at ``final``: the previous one is renamed ``.old`` first and
    removed last, so a crash at any point leaves a complete folder (``final``, or ``.old``)."""
    old = final.with_name(final.name + ".old")
    if final.exists() and old.exists():  # left by a save that was killed after its renames
        shutil.rmtree(old)
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    if old.exists():
        shutil.rmtree(old)


def save_checkpoint(model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any], out: Path) -> None:
    """Model, optimizer, scheduler, torch RNG and ``state`` to ``out/checkpoint-last``, atomically."""
    tmp = out / (CHECKPOINT_DIR + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    with _cleaned_on_failure(tmp, out / CHECKPOINT_DIR):
        model.save_pretrained(tmp)
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
            },
            tmp / "optimizer.pt",
        )
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2), encoding="utf-8")
    _swap_in(tmp, out / CHECKPOINT_DIR)


RUN_KEYS = (
    "batch_size",
    "learning_rate",
    "head_learning_rate",
    "weight_decay",
    "warmup_ratio",
    "seed",
    "label_dropout",
    "description_dropout",
    "context_dropout",
    "negative_labels",
    "coarse_labels",
    "parent_labels",
    "name_variants",
    "case_augmentation",
)


def check_same_run(ckpt: Path, state: dict[str, Any], cfg: Any, steps: int, fingerprint: str) -> None:
    """Refuse to resume ``ckpt`` for other data or other settings (a changed step budget only warns)."""
    saved = state.get("config", {})
    diffs = [
        f"{k}: {saved.get(k)!r} -> {getattr(cfg, k)!r}" for k in RUN_KEYS if k in saved and saved[k] != getattr(cfg, k)
    ]
    if state.get("steps") not in (None, steps):  # a longer (or shorter) budget for the same run is allowed
        logger.warning("%s was saved for %s steps; continuing to %d", ckpt, state.get("steps"), steps)
    if state.get("fingerprint") and fingerprint and state["fingerprint"] != fingerprint:
        diffs.append("the training data differ")
    if diffs:
        raise ValueError(
            f"{ckpt} belongs to another run ({'; '.join(diffs)}); pass resume=False (CLI: --no-resume) "
            "or use another output folder"
        )


def load_checkpoint(
    ckpt: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    rng: random.Random,
    cfg: Any,
    steps: int,
    fingerprint: str,
) -> dict[str, Any]:
    """Load model, optimizer, scheduler and random states from ``ckpt`` (once :func:`check_same_run` agrees);
    its trainer state (``step``, ``best``, ``history`` ...). A damaged file is a ValueError naming it and
    the way out (``resume=False``, CLI ``--no-resume``)."""
    with _damaged(ckpt / "trainer_state.json"):
        state = json.loads((ckpt / "trainer_state.json").read_text(encoding="utf-8"))
        if not isinstance(state, dict) or "step" not in state:
            raise ValueError("no 'step' in it")
    check_same_run(ckpt, state, cfg, steps, fingerprint)
    with _damaged(ckpt / "model.safetensors"):
        model.load_state_dict(type(model).from_pretrained(ckpt).state_dict())
    with _damaged(ckpt / "optimizer.pt"):
        opt_state = torch.load(ckpt / "optimizer.pt", weights_only=True)
        optimizer.load_state_dict(opt_state["optimizer"])
        scheduler.load_state_dict(opt_state["scheduler"])
    rng.setstate(rng_from_json(state.get("rng") or state["label_rng"]))
    if "torch_rng" in opt_state:
        torch.set_rng_state(opt_state["torch_rng"])
    else:  # checkpoints of stage2 < 0.1.1
        torch.manual_seed(cfg.seed + state["step"])
    return state


@contextlib.contextmanager
def _damaged(path: Path) -> Iterator[None]:
    """Turn any failure to read a checkpoint file into a ValueError that names it and says what to do."""
    try:
        yield
    except Exception as err:  # json, safetensors, torch.load, a mismatched state dict: all "damaged"
        raise ValueError(
            f"{path}: the checkpoint cannot be resumed ({type(err).__name__}: {err}); pass resume=False "
            f"(CLI: --no-resume) to start afresh, or move {path.parent} away"
        ) from err


def data_fingerprint(items: Any) -> str:
    """A short hash of training data (any JSON-serialisable view of it), stored with checkpoints."""
    import hashlib

    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode("utf-8")).hexdigest()[:16]


def find_checkpoint(out_dir: Path) -> Path | None:
    """The last complete checkpoint (a crash between the two renames of a save leaves only ``.old``)."""
    for name in (CHECKPOINT_DIR, CHECKPOINT_DIR + ".old"):
        if (out_dir / name / "trainer_state.json").exists():
            return out_dir / name
    return None


def rng_to_json(state: Any) -> list[Any]:
    """A ``random.Random`` state as JSON."""
    return [state[0], list(state[1]), state[2]]


def rng_from_json(data: list[Any]) -> Any:
    """The ``random.Random`` state :func:`rng_to_json` wrote."""
    return (data[0], tuple(data[1]), data[2])

"""Training the written summariser on 2 CPU cores: the frozen encoder's outputs are computed once per
document and cached on disk (in chunks written atomically, so an interrupted encoding resumes), then every
step runs the decoder alone on batches of similar source length.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from stage2.batching import length_batches
from stage2.loop import TrainingConfig, TrainResult, data_fingerprint, run_loop
from stage2.summarization.abstractive import AbstractiveSummarizer, copy_ids
from stage2.summarization.data import SummaryExample

logger = logging.getLogger(__name__)

CHUNK = 512


class EncodedSources:
    """Encoder outputs (float16) and subword ids of many documents, held in memory."""

    def __init__(self, memory: list[torch.Tensor], ids: list[torch.Tensor]) -> None:
        self.memory = memory
        self.ids = ids

    @classmethod
    def build(
        cls, model: AbstractiveSummarizer, documents: Sequence[str], folder: Path | None = None, progress: bool = True
    ) -> EncodedSources:
        """Encode ``documents`` (reusing the chunks already in ``folder``, writing the new ones there)."""
        from safetensors.torch import load_file, save_file
        from tqdm.auto import tqdm

        memory: list[torch.Tensor] = []
        ids: list[torch.Tensor] = []
        reads = {k: model.cfg.to_dict()[k] for k in ("encoder", "window", "train_top")}  # what the cache holds
        fingerprint = data_fingerprint([list(documents), reads])[:12]
        chunks = range(0, len(documents), CHUNK)
        for start in tqdm(chunks, desc="encoding sources", disable=not progress, unit="chunk"):
            path = folder / f"sources-{fingerprint}-{start // CHUNK:05d}.safetensors" if folder else None
            if path is not None and path.exists():
                saved = load_file(str(path))
            else:
                saved = _encode_chunk(model, documents[start : start + CHUNK])
                if path is not None:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    tmp = path.with_suffix(".tmp")
                    save_file(saved, str(tmp))
                    os.replace(tmp, path)
            bounds = saved["offsets"].tolist()
            for a, b in itertools.pairwise(bounds):
                memory.append(saved["memory"][a:b])
                ids.append(saved["ids"][a:b])
        return cls(memory, ids)


def _encode_chunk(model: AbstractiveSummarizer, documents: Sequence[str]) -> dict[str, torch.Tensor]:
    """Encoder outputs of ``documents``, windows batched by length, joined per document."""
    windows, owner = [], []
    for i, doc in enumerate(documents):
        for w in model.windows(doc):
            windows.append(w)
            owner.append(i)
    pad = model.tokenizer.pad_token_id
    outputs: list[Any] = [None] * len(windows)
    with torch.no_grad():
        for part in length_batches([len(w) for w in windows], 32, max_tokens=4096):
            width = max(len(windows[i]) for i in part)
            ids = torch.tensor([windows[i] + [pad] * (width - len(windows[i])) for i in part])
            mask = (ids != pad).long()
            hidden = model.encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            for row, i in enumerate(part):
                outputs[i] = hidden[row, : len(windows[i])].half()
    lengths = [0] * len(documents)  # windows are listed document by document, so joining them in order joins each
    for w, i in zip(windows, owner, strict=True):
        lengths[i] += len(w)
    offsets = torch.tensor([0, *lengths]).cumsum(0)
    ids = torch.tensor([t for w in windows for t in w])
    return {"memory": torch.cat(outputs), "ids": ids, "offsets": offsets}


def summary_ids(model: AbstractiveSummarizer, summary: str) -> list[int]:
    """``[CLS] summary [SEP]``, the summary cut to ``max_summary`` subwords."""
    tok = model.tokenizer
    ids = tok(summary, add_special_tokens=False)["input_ids"][: model.cfg.max_summary - 2]
    return [tok.cls_token_id, *ids, tok.sep_token_id]


def teacher_forced_loss(
    model: AbstractiveSummarizer, sources: EncodedSources, targets: list[list[int]], batch: list[int]
) -> torch.Tensor:
    """Mean negative log-likelihood of the reference subwords of ``batch``."""
    pad = model.tokenizer.pad_token_id
    width = max(len(sources.ids[i]) for i in batch)
    memory = torch.zeros(len(batch), width, model.cfg.hidden)
    src = torch.full((len(batch), width), pad, dtype=torch.long)
    mask = torch.zeros(len(batch), width, dtype=torch.long)
    for row, i in enumerate(batch):
        n = len(sources.ids[i])
        memory[row, :n] = sources.memory[i].float()
        src[row, :n] = sources.ids[i]
        mask[row, :n] = 1
    length = max(len(targets[i]) for i in batch)
    tgt = torch.full((len(batch), length), pad, dtype=torch.long)
    for row, i in enumerate(batch):
        tgt[row, : len(targets[i])] = torch.tensor(targets[i])
    if len(model.top):  # each window attends within itself, as the export reads them one by one
        window = (src == model.tokenizer.cls_token_id).cumsum(dim=1)
        same = (window[:, :, None] == window[:, None, :]) & mask.bool()[:, None, :]
        memory = model.refine(memory, ((~same).float() * -1e4)[:, None])
    src = copy_ids(src, model.tokenizer)
    inputs, labels = tgt[:, :-1], tgt[:, 1:].masked_fill(tgt[:, 1:] == pad, -100)
    positions = torch.arange(inputs.shape[1]).expand(len(batch), -1)
    dec = model.decoder
    logp, _ = dec(inputs, positions, dec.empty_past(len(batch)), dec.cross_kv(memory), src, mask, model.words)
    return torch.nn.functional.nll_loss(logp.flatten(0, 1), labels.flatten(), ignore_index=-100)


def similar_length_batches(lengths: Sequence[int], batch_size: int, steps: int, seed: int) -> list[list[int]]:
    """Shuffled passes cut into batches of similar source length (pools of 50 batches sorted by length)."""
    rng = random.Random(seed)
    schedule: list[list[int]] = []
    while len(schedule) < steps:
        order = list(range(len(lengths)))
        rng.shuffle(order)
        pool = 50 * batch_size
        batches = []
        for p in range(0, len(order), pool):
            part = sorted(order[p : p + pool], key=lambda i: lengths[i])
            batches += [part[b : b + batch_size] for b in range(0, len(part), batch_size)]
        rng.shuffle(batches)
        schedule += batches
    return schedule[:steps]


def train_abstractive(
    model: AbstractiveSummarizer,
    train_data: Sequence[SummaryExample],
    dev_data: Sequence[SummaryExample] | None = None,
    config: TrainingConfig | None = None,
    cache: Path | None = None,
    evaluations: int = 0,
) -> TrainResult:
    """Train the decoder on document/summary pairs (the encoder stays frozen); dev ROUGE-1 of greedy summaries
    picks the best weights at ``evaluations`` evenly spaced points (the last step among them)."""
    from stage2.summarization.generation import SearchSettings, beam_search, detokenize
    from stage2.summarization.metrics import rouge_scores

    cfg = config or TrainingConfig(batch_size=16, learning_rate=2e-4, head_learning_rate=2e-4, warmup_ratio=0.05)
    examples = [e for e in train_data if e.document.strip() and e.summary.strip()]
    if not examples:
        raise ValueError("no training pair has both a document and a summary")
    sources = EncodedSources.build(model, [e.document for e in examples], cache, cfg.progress)
    targets = [summary_ids(model, e.summary) for e in examples]
    cut = sum(len(model.tokenizer(e.summary)["input_ids"]) > model.cfg.max_summary for e in examples)
    if cut:
        logger.warning(
            "%d of %d summaries exceed %d subwords and are cut for training", cut, len(examples), model.cfg.max_summary
        )
    per_epoch = math.ceil(len(examples) / cfg.batch_size)
    steps = cfg.total_steps(per_epoch)
    schedule = similar_length_batches([len(i) for i in sources.ids], cfg.batch_size, steps, cfg.seed)

    def batch_loss(step: int, rng: random.Random) -> torch.Tensor:
        return teacher_forced_loss(model, sources, targets, schedule[step])

    def evaluate() -> dict[str, Any]:
        from stage2.summarization.abstractive import TorchSteps

        assert dev_data is not None
        steps_ = TorchSteps(model)
        greedy = SearchSettings(num_beams=1)
        preds = [detokenize(steps_.decode(beam_search(steps_, steps_.source(e.document), greedy))) for e in dev_data]
        return rouge_scores([e.summary for e in dev_data], preds)

    eval_at = {round(steps * (i + 1) / evaluations) for i in range(evaluations)} if evaluations else set()
    result = run_loop(
        model,
        cfg,
        steps,
        batch_loss,
        evaluate if dev_data and eval_at else None,
        eval_at,
        "rouge1",
        is_encoder=lambda name: False,
        fingerprint=data_fingerprint([[e.document, e.summary] for e in examples]),
    )
    model.card.setdefault("training", []).append(
        {"documents": len(examples), "steps": steps, "seconds": round(result.seconds, 1), "seed": cfg.seed}
    )
    return result

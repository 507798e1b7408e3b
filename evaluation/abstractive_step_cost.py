"""Seconds per training step of abstractive-summariser designs warm-started from the bundled MiniLM (issue 26:
measure before choosing). Every design reads the same SAMSum train batches (``--batch`` dialogues, sources cut
at ``--source`` subwords, summaries at ``--target``) and takes ``--steps`` AdamW steps after two warm-up steps.

    python evaluation/abstractive_step_cost.py --steps 10

Designs (a BERT2BERT encoder-decoder, Rothe et al. 2020: the decoder starts from the encoder's layers with
cross-attention added):
- ``full-6x6``: 6-layer encoder and 6-layer decoder, all trained;
- ``frozen-6x6``: the encoder frozen (no gradient through it);
- ``cached-6x2``: the encoder frozen and its outputs computed once per dialogue (the step only runs the
  decoder), a 2-layer decoder from the encoder's layers 0 and 5;
- ``cached-6x2-vocab``: as above with the output layer cut to the subwords of the training summaries.

Rows (evaluation/results/abstractive_step_cost.json, one per design and machine kind): seconds per step (median),
trainable parameters, and what an epoch of SAMSum train would cost at that rate. For ``cached-*`` rows, the
one-off cost of encoding the whole train split is measured per batch and given beside it.
"""

from __future__ import annotations

import argparse
import copy
import logging
import statistics
import sys
import time
from typing import Any

from common import DATA, ResultsFile, git_commit, machine, put_machine_row

logger = logging.getLogger("abstractive_step_cost")


def batches(tokenizer: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """The first ``steps + 2`` batches of SAMSum train, tokenised."""
    from stage2.summarization.data import read_summarization_jsonl

    train = read_summarization_jsonl(DATA / "samsum" / "train.jsonl.gz")
    out = []
    for i in range(args.steps + 2):
        part = train[i * args.batch : (i + 1) * args.batch]
        src = tokenizer(
            [e.document for e in part], truncation=True, max_length=args.source, padding=True, return_tensors="pt"
        )
        tgt = tokenizer(
            [e.summary for e in part], truncation=True, max_length=args.target, padding=True, return_tensors="pt"
        )
        labels = tgt["input_ids"].masked_fill(tgt["attention_mask"] == 0, -100)
        out.append({"src": src, "tgt": tgt, "labels": labels})
    return out


def build(design: str, encoder_path: str, vocab_size: int) -> Any:
    """The encoder-decoder of ``design``."""
    from transformers import AutoModel, BertConfig, BertLMHeadModel, EncoderDecoderModel

    encoder = AutoModel.from_pretrained(encoder_path)
    layers = [0, 5] if "x2" in design else list(range(6))
    config = BertConfig(**{**encoder.config.to_dict(), "is_decoder": True, "add_cross_attention": True})
    config.num_hidden_layers = len(layers)
    decoder = BertLMHeadModel(config)
    decoder.bert.embeddings.load_state_dict(encoder.embeddings.state_dict())
    for new, old in enumerate(layers):
        decoder.bert.encoder.layer[new].load_state_dict(encoder.encoder.layer[old].state_dict(), strict=False)
    if design.endswith("-vocab"):
        import torch

        decoder.cls.predictions.decoder = torch.nn.Linear(config.hidden_size, vocab_size)
    model = EncoderDecoderModel(encoder=encoder, decoder=copy.deepcopy(decoder))
    if design != "full-6x6":
        for p in model.encoder.parameters():
            p.requires_grad_(False)
    return model


def time_design(design: str, data: list[dict[str, Any]], encoder_path: str, vocab: dict[int, int]) -> dict[str, Any]:
    """Seconds per step (and, for cached designs, seconds to encode one batch once)."""
    import torch

    model = build(design, encoder_path, len(vocab))
    model.train()
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=5e-5)
    cached = design.startswith("cached")
    encode_seconds = []
    if cached:
        memory = []
        for b in data:
            t = time.perf_counter()
            with torch.no_grad():
                memory.append(model.encoder(**b["src"]).last_hidden_state)
            encode_seconds.append(time.perf_counter() - t)
    seconds = []
    for i, b in enumerate(data):
        labels = b["labels"]
        if design.endswith("-vocab"):
            labels = labels.clone().apply_(lambda x: vocab.get(x, 0) if x != -100 else -100)
        t = time.perf_counter()
        if cached:
            out = model.decoder(
                input_ids=b["tgt"]["input_ids"][:, :-1],
                attention_mask=b["tgt"]["attention_mask"][:, :-1],
                encoder_hidden_states=memory[i],
                encoder_attention_mask=b["src"]["attention_mask"],
            )
            loss = torch.nn.functional.cross_entropy(
                out.logits.flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100
            )
        else:
            loss = model(
                input_ids=b["src"]["input_ids"],
                attention_mask=b["src"]["attention_mask"],
                decoder_input_ids=b["tgt"]["input_ids"][:, :-1],
                decoder_attention_mask=b["tgt"]["attention_mask"][:, :-1],
                labels=labels[:, 1:].contiguous(),
            ).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if i >= 2:  # two warm-up steps
            seconds.append(time.perf_counter() - t)
    return {
        "seconds_per_step": round(statistics.median(seconds), 3),
        "trainable_millions": round(sum(p.numel() for p in trainable) / 1e6, 1),
        "encode_seconds_per_batch": round(statistics.median(encode_seconds), 3) if encode_seconds else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--source", type=int, default=192)
    parser.add_argument("--target", type=int, default=48)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--designs", nargs="+", default=["full-6x6", "frozen-6x6", "cached-6x2", "cached-6x2-vocab"], help="which"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    import torch
    from transformers import AutoTokenizer

    from stage2.backbone import default_encoder_path
    from stage2.runtime.cpu import cpu_kind
    from stage2.summarization.data import read_summarization_jsonl

    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    path = str(default_encoder_path())
    tokenizer = AutoTokenizer.from_pretrained(path)
    data = batches(tokenizer, args)
    train = read_summarization_jsonl(DATA / "samsum" / "train.jsonl.gz")
    used = sorted(
        {i for e in train for i in tokenizer(e.summary, truncation=True, max_length=args.target)["input_ids"]}
    )
    vocab = {old: new for new, old in enumerate(used)}
    steps_per_epoch = -(-len(train) // args.batch)
    res = ResultsFile("abstractive_step_cost", "summarization", "samsum", "train")
    for design in args.designs:
        found = time_design(design, data, path, vocab)
        epoch = found["seconds_per_step"] * steps_per_epoch
        if found["encode_seconds_per_batch"]:
            epoch_note = (
                f"; encoding the train split once: {found['encode_seconds_per_batch'] * steps_per_epoch / 60:.0f} min"
            )
        else:
            epoch_note = ""
        logger.info("%s: %.3f s/step, %.0f min an epoch%s", design, found["seconds_per_step"], epoch / 60, epoch_note)
        row = {
            "system": design,
            "setting": "train-step",
            "k": None,
            "cpu_kind": cpu_kind(),
            "scores": {
                **found,
                "epoch_minutes": round(epoch / 60, 1),
                "output_vocab": len(vocab) if "vocab" in design else tokenizer.vocab_size,
            },
            "notes": f"SAMSum train, batches of {args.batch}, sources <= {args.source} subwords, summaries <= "
            f"{args.target}; median of {args.steps} AdamW steps after 2 warm-up steps; {args.threads} threads; an "
            f"epoch is {steps_per_epoch} steps" + epoch_note,
            "command": " ".join(["python", *sys.argv]),
            "git_commit": git_commit(),
            "machine": machine(),
        }
        put_machine_row(res, row)
        res.save()


if __name__ == "__main__":
    main()

"""``stage2 summarize train|predict|evaluate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stage2.backbone import stage2_folder
from stage2.cli import ray_jobs
from stage2.cli.common import (
    DEFAULT_SUMMARIZER,
    JSON_SUFFIXES,
    add_budget,
    add_training_args,
    budget,
    prepare_output,
    print_json,
    read_objects,
    set_training_threads,
    training_config,
)
from stage2.loading import SUMMARY_TASKS, find_export, load
from stage2.summarization.config import ADAPTATIONS, FEW_SHOT

DATA_HELP = "JSON lines with 'document' and 'summary' per line (.jsonl, .gz ok)"


def load_summarizer(name: str | None, exports: bool = False) -> Any:
    """A summariser through :func:`stage2.load`: the ONNX export when ``exports`` allows one, else a
    saved stage2 summariser (folder or installed name), else a new zero-shot one on a bare encoder
    (``None``/'': the bundled one)."""
    if exports and (export := find_export(name)) is not None:
        return load(export, backend="onnx", tasks=SUMMARY_TASKS)  # the folder found: not looked up again
    if name == DEFAULT_SUMMARIZER:
        raise FileNotFoundError(
            f"no {DEFAULT_SUMMARIZER} export found (exports/{DEFAULT_SUMMARIZER}); pass --model, or --model '' for "
            "the zero-shot bundled encoder"
        )
    if (saved := stage2_folder(name)) is not None:
        return load(saved, backend="torch", tasks=SUMMARY_TASKS)
    from stage2.summarization.modeling import Summarizer

    return Summarizer.from_encoder(name or None)


def cmd_train(args: argparse.Namespace) -> int:
    from stage2.summarization.data import load_summarization_data

    prepare_output(args.out, args.overwrite)
    set_training_threads(args.threads)
    train_data = load_summarization_data(args.train)
    dev_data = load_summarization_data(args.dev) if args.dev else None
    cfg = training_config(args)
    if args.seq2seq:
        from stage2.summarization.seq2seq import Seq2SeqSummarizer, train_seq2seq

        if args.model:
            raise SystemExit("error: --model and --seq2seq exclude each other (--seq2seq names the model to train)")
        model: Any = Seq2SeqSummarizer.from_pretrained(args.seq2seq)
        result = train_seq2seq(model, train_data, dev_data, cfg)
    else:
        from stage2.summarization.training import train_summarizer

        model = load_summarizer(args.model)
        cfg.feature_learning_rate = args.feature_lr
        result = train_summarizer(
            model,
            train_data,
            dev_data,
            cfg,
            eval_budget=budget(args) or None,
            train_encoder=args.train_encoder,
            residual=args.residual,
            adaptation=args.adaptation,
        )
    model.save_pretrained(args.out)
    print_json(
        {"model": args.out, "steps": result.steps, "seconds": round(result.seconds, 1), "best_dev": result.best_dev}
    )
    return 0


def read_documents(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """``(document, focus)`` pairs from the arguments, ``--input`` (a text file is one document; JSON
    lines with 'document' and an optional 'focus'), or stdin (one document); ``--focus`` is the focus of
    every document without its own."""
    from stage2.io import open_text

    if args.text and args.input:
        raise SystemExit("error: give documents as arguments or --input, not both")
    if args.input and args.input.endswith(JSON_SUFFIXES):
        rows = read_objects(args.input, "document", optional=("focus",))
        return [(r["document"], (r.get("focus") or "").strip() or args.focus) for r in rows]
    if args.input:
        return [("".join(open_text(Path(args.input))), args.focus)]
    if args.text:
        return [(t, args.focus) for t in args.text]
    return [(sys.stdin.read(), args.focus)]


def cmd_predict(args: argparse.Namespace) -> int:
    if args.ray is not None:
        folder = find_export(args.model) if args.model else None
        return ray_jobs.run(args, "summarization", str(folder or args.model), focus=args.focus, **budget(args))
    model = load_summarizer(args.model, exports=True)
    docs = read_documents(args)
    from tqdm.auto import tqdm

    for doc, focus in tqdm(docs, desc="summarising", unit="doc", disable=len(docs) < 20):
        print_json(model.summarize(doc, focus=focus, **budget(args)))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from stage2.summarization.data import load_summarization_data
    from stage2.summarization.metrics import summary_scores

    model = load_summarizer(args.model, exports=True)
    data = load_summarization_data(args.data)
    print(json.dumps(summary_scores(model, data, budget(args)), indent=2))
    return 0


def _add_train(sub: Any) -> None:
    st = sub.add_parser(
        "train",
        help="fine-tune on documents with reference summaries",
        description="Train the extractive summariser on greedy ROUGE-oracle labels (pairwise ranking loss), "
        "or a seq2seq checkpoint given with --seq2seq; saves to --out. The extractive encoder stays frozen "
        "(each sentence is embedded once) unless --train-encoder. With fewer than 1000 documents (few-shot) "
        "a salience direction is fitted in closed form and kept only if cross-validation on the documents "
        "says it helps (--adaptation salience); --adaptation encoder fine-tunes the encoder's top layers instead "
        "(kept on the same condition); --adaptation weights fits the six feature weights.",
    )
    st.add_argument("--train", required=True, help=DATA_HELP)
    st.add_argument("--dev", help="dev data for model selection (" + DATA_HELP + ")")
    st.add_argument("--model", default=None, help="stage2 summariser folder or encoder (default: bundled MiniLM)")
    st.add_argument("--seq2seq", help="train this seq2seq checkpoint (hub id or path) instead: abstractive")
    add_training_args(st, min_steps=100, batch_size=4, batch_help="documents per step", lr=2e-5)
    st.add_argument(
        "--feature-lr", type=float, default=1e-2, help="learning rate of the feature weights (default 1e-2)"
    )
    st.add_argument("--train-encoder", action="store_true", help="fine-tune the encoder too (slow)")
    st.add_argument(
        "--adaptation",
        choices=list(ADAPTATIONS),
        default="auto",
        help="auto: the default few-shot adaptation (" + FEW_SHOT + ") below 1000 documents, the ranking loss "
        "otherwise; salience: a salience direction; encoder: the encoder's top layers; weights: the ranking loss",
    )
    residual = st.add_mutually_exclusive_group()
    residual.add_argument("--residual", dest="residual", action="store_const", const=True, help="train the residual")
    residual.add_argument("--no-residual", dest="residual", action="store_const", const=False, help="never train it")
    add_budget(st)
    st.set_defaults(func=cmd_train)


def _add_predict(sub: Any) -> None:
    sp = sub.add_parser(
        "predict",
        help="summarise documents; prints JSON lines",
        description="Summarise documents given as arguments, a text file (one document), JSON "
        "lines with 'document' (--input), or stdin.",
    )
    sp.add_argument("text", nargs="*", help="documents to summarise")
    sp.add_argument(
        "--model",
        default=DEFAULT_SUMMARIZER,
        help=f"summariser or export: folder or installed name (default: {DEFAULT_SUMMARIZER}; '' for the "
        "zero-shot bundled encoder)",
    )
    sp.add_argument("--input", help="a text file, or JSON lines with 'document' and an optional 'focus' (string)")
    sp.add_argument(
        "--focus",
        help="an optional natural-language focus, e.g. 'financial results' (for documents without their own 'focus')",
    )
    add_budget(sp)
    ray_jobs.add_ray_args(sp)
    sp.set_defaults(func=cmd_predict)


def _add_evaluate(sub: Any) -> None:
    se = sub.add_parser(
        "evaluate",
        help="ROUGE-1/2/Lsum (rouge-score, stemming) on reference summaries",
        description="Print rouge-score F1 (percent) as JSON.",
    )
    se.add_argument("--model", default=None, help="stage2 summariser folder (default: zero-shot bundled encoder)")
    se.add_argument("--data", required=True, help=DATA_HELP)
    add_budget(se)
    se.set_defaults(func=cmd_evaluate)


def add_commands(tasks: Any) -> None:
    """``stage2 summarize`` and its commands."""
    summ = tasks.add_parser("summarize", help="extractive (or seq2seq) summarisation")
    sub = summ.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_predict(sub)
    _add_evaluate(sub)

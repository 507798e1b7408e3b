"""``stage2 ner train|predict|evaluate``."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from typing import Any

from stage2.backbone import stage2_folder
from stage2.cli import ray_jobs
from stage2.cli.common import (
    DEFAULT_NER,
    DEFAULT_ZERO_SHOT,
    JSON_SUFFIXES,
    LABELS_HELP,
    add_training_args,
    parse_labels,
    prepare_output,
    print_json,
    read_lines,
    read_records,
    set_training_threads,
    training_config,
)
from stage2.loading import NER_TASKS, find_export, load
from stage2.ner.decoding import DEFAULT_THRESHOLD, check_threshold

DATA_HELP = "CoNLL column file, or JSON lines with tokens/tags or text/entities (.jsonl, .gz ok)"
MODEL_HELP = "stage2 model or export: folder, installed model name or hub id"


def load_model(name: str | None, head: str | None = None, labels: Any = None, exports: bool = False) -> Any:
    """An NER model through :func:`stage2.load`: the ONNX export when ``exports`` allows one, else the
    saved torch model; a bare encoder (path or hub id) gets a new ``head``."""
    if exports and (export := find_export(name)) is not None:
        return load(export, backend="onnx", tasks=NER_TASKS)  # the folder found: not looked up again
    if name == DEFAULT_NER:
        raise FileNotFoundError(
            f"no {DEFAULT_NER} export found (exports/{DEFAULT_NER} or an installed model package); pass --model"
        )
    if (saved := stage2_folder(name)) is not None:
        return load(saved, backend="torch", tasks=NER_TASKS)
    from stage2.ner.modeling import NERModel

    kwargs: dict[str, Any] = {}
    if head:
        kwargs["head"] = head
    if labels is not None and head == "linear":
        kwargs["labels"] = labels
    return NERModel.from_encoder(name, **kwargs)


def cmd_train(args: argparse.Namespace) -> int:
    from stage2.labels import LabelSet
    from stage2.ner.data import entity_types, load_ner_data
    from stage2.ner.training import train

    prepare_output(args.out, args.overwrite)
    if args.decision_threshold is not None and not 0.0 < args.decision_threshold < 1.0:
        raise ValueError(f"--decision-threshold {args.decision_threshold}: expected a number between 0 and 1")
    set_training_threads(args.threads)
    train_data = load_ner_data(args.train, scheme=args.scheme, repair=args.repair)
    dev_data = load_ner_data(args.dev, scheme=args.scheme, repair=args.repair) if args.dev else None
    labels = parse_labels(args.labels)
    if args.head == "linear" and labels is None:
        labels = LabelSet.from_keys(entity_types(train_data))
    model = load_model(args.model, args.head, labels)
    config = dataclasses.replace(training_config(args), self_distill=args.self_distill)
    result = train(model, train_data, dev_data, labels=labels, config=config)
    if args.decision_threshold is not None:
        model.config.decision_threshold = args.decision_threshold
    if dev_data is not None:
        scores = model.evaluate(dev_data)
        model.config.card.setdefault("scores", {})["dev"] = {k: scores[k] for k in ("precision", "recall", "f1")}
    model.save_pretrained(args.out)
    print_json(
        {"model": args.out, "steps": result.steps, "seconds": round(result.seconds, 1), "best_dev": result.best_dev}
    )
    return 0


def read_texts(args: argparse.Namespace) -> list[str]:
    """Texts from the positional arguments, ``--input`` (one per line, or JSON lines with 'text'), or stdin."""
    if args.text and args.input:
        raise SystemExit("error: give texts as arguments or --input, not both")
    if args.text:
        return list(args.text)
    if args.input and args.input.endswith(JSON_SUFFIXES):
        return read_records(args.input, "text")
    return list(read_lines(args.input))


def cmd_predict(args: argparse.Namespace) -> int:
    name = args.model
    if name is None:  # one default for its own and run-time labels; ner-zero if only it ships
        name = DEFAULT_NER
        if args.labels and find_export(DEFAULT_NER) is None and find_export(DEFAULT_ZERO_SHOT) is not None:
            name = DEFAULT_ZERO_SHOT
    if args.ray is not None:
        folder = find_export(name)
        return ray_jobs.run(
            args,
            "ner",
            str(folder or name),
            labels=parse_labels(args.labels),
            model_batch_size=args.batch_size,
            threshold=args.threshold,
        )
    model = load_model(name, exports=True)
    texts = read_texts(args)
    labels = parse_labels(args.labels)
    from tqdm.auto import tqdm

    if args.format == "pretty":
        from stage2.cli.pretty import Highlighter

        highlighter = Highlighter()
    step = 256
    with tqdm(total=len(texts), desc="predicting", unit="text", disable=len(texts) < step) as bar:
        for b in range(0, len(texts), step):
            chunk = texts[b : b + step]
            found = model.predict(chunk, labels=labels, batch_size=args.batch_size, threshold=args.threshold)
            for text, ents in zip(chunk, found, strict=True):
                if args.format == "pretty":
                    highlighter.print(text, ents)
                else:
                    print_json({"text": text, "entities": ents})
            bar.update(len(chunk))
    return 0


def _warn_label_mismatch(data: list[Any], keys: list[str]) -> None:
    """Warn when the data's entity types are not (all) label keys of the model."""
    gold = sorted({s.label for e in data for s in e.spans})
    if gold and not set(gold) & set(keys):
        print(
            f"warning: none of the data's entity types {gold} is a label key of the model {keys}: every F1 will "
            "be 0. Give --labels with the data's keys, e.g. " + json.dumps({g: "a description" for g in gold[:2]}),
            file=sys.stderr,
        )
    elif missing := [g for g in gold if g not in keys]:
        print(f"warning: entity types {missing} of the data are not label keys of the model {keys}", file=sys.stderr)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from stage2.ner.data import load_ner_data
    from stage2.ner.metrics import ner_scores

    model = load_model(args.model, exports=True)
    data = load_ner_data(args.data, scheme=args.scheme, repair=args.repair)
    contexts = None
    if args.document_context:
        from stage2.ner.data import add_document_context

        contexts = [e.context for e in add_document_context(data, args.document_context)]
    labels = model.resolve_labels(parse_labels(args.labels))  # what predict_words will read: given or own
    _warn_label_mismatch(data, labels.keys)
    preds = model.predict_words([e.tokens for e in data], labels=labels, batch_size=args.batch_size, contexts=contexts)
    scores = ner_scores(data, [[span for span, _ in p] for p in preds])
    print(json.dumps(scores, indent=2))
    return 0


def _add_scheme(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scheme", default="iob2", choices=["iob2", "iob1", "bioes"], help="tag scheme of the data")
    p.add_argument("--repair", action="store_true", help="turn a stray I-X into the start of an entity")


def _add_train(sub: Any) -> None:
    t = sub.add_parser(
        "train",
        help="fine-tune on a few or many labelled sentences",
        description="Fine-tune a stage2 model (or a bare encoder) and save it to --out.",
    )
    t.add_argument("--train", required=True, help=DATA_HELP)
    t.add_argument("--dev", help="dev data for model selection (" + DATA_HELP + ")")
    t.add_argument(
        "--model", default=None, help="stage2 model folder, encoder path or hub id (default: bundled MiniLM)"
    )
    t.add_argument("--head", choices=["label-semantic", "linear"], default=None, help="head for a bare encoder")
    t.add_argument("--labels", help=LABELS_HELP)
    add_training_args(t, min_steps=150, batch_size=16, batch_help="sentences per step", lr=5e-5)
    t.add_argument(
        "--self-distill",
        type=float,
        default=0.0,
        metavar="WEIGHT",
        help="weight of the starting model's own answers beside your tags (default 0: off); for a handful of "
        "examples from ner-zero, 0.25 (README 'Few-shot')",
    )
    t.add_argument(
        "--decision-threshold",
        type=float,
        default=None,
        help="sigmoid models: the threshold saved as the trained model's default (default: the starting model's)",
    )
    _add_scheme(t)
    t.set_defaults(func=cmd_train)


def _add_predict(sub: Any) -> None:
    p = sub.add_parser(
        "predict",
        help="tag texts; prints JSON lines (or highlighted text with --format pretty)",
        description="Tag texts given as arguments, or one per line from --input (.jsonl: a 'text' field).",
    )
    p.add_argument("text", nargs="*", help="texts to tag")
    p.add_argument(
        "--model",
        default=None,
        help=f"{MODEL_HELP} (default: {DEFAULT_NER}: its CoNLL-2003 types, or any types named with --labels; "
        f"{DEFAULT_ZERO_SHOT} when only it is installed)",
    )
    p.add_argument("--input", help="file with one text per line, or JSON lines with 'text'; '-' for stdin")
    p.add_argument("--labels", help=LABELS_HELP + " (default: the model's own)")
    p.add_argument("--batch-size", type=int, default=32, help="texts per forward pass (default 32)")
    p.add_argument(
        "--threshold",
        type=_threshold,
        default=DEFAULT_THRESHOLD,
        help="0 to 1 (default: the model's own). For a sigmoid-scored model (ner-zero), the probability from which "
        "a word is an entity of a label: lower finds more, higher fewer and surer. For the others, entities scoring "
        "below it are dropped",
    )
    p.add_argument(
        "--format",
        choices=["jsonl", "pretty"],
        default="jsonl",
        help="jsonl: one JSON object per text, for pipes (default); pretty: the text with entities highlighted",
    )
    ray_jobs.add_ray_args(p)
    p.set_defaults(func=cmd_predict)


def _threshold(value: str) -> float | None:
    """argparse type of --threshold: a number from 0 to 1."""
    try:
        return check_threshold(float(value))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {value!r}") from None


def _add_evaluate(sub: Any) -> None:
    e = sub.add_parser(
        "evaluate",
        help="seqeval strict IOB2 scores on labelled data",
        description="Print precision, recall and F1 (strict IOB2, micro) as JSON.",
    )
    e.add_argument("--model", required=True, help=MODEL_HELP)
    e.add_argument("--data", required=True, help=DATA_HELP)
    e.add_argument("--labels", help=LABELS_HELP + " (default: the model's own)")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument(
        "--document-context",
        type=int,
        default=0,
        metavar="WORDS",
        help="read each sentence with up to WORDS words of its neighbours (consecutive sentences of documents)",
    )
    _add_scheme(e)
    e.set_defaults(func=cmd_evaluate)


def add_commands(tasks: Any) -> None:
    """``stage2 ner`` and its commands."""
    ner = tasks.add_parser("ner", help="named-entity recognition")
    sub = ner.add_subparsers(dest="command", required=True)
    _add_train(sub)
    _add_predict(sub)
    _add_evaluate(sub)

"""Command line: ``stage2 ner train|predict|evaluate``. Argument parsing only; the work is in the library."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("stage2")


def parse_labels(value: str | None) -> Any:
    """``--labels`` as a JSON file, a JSON string, or comma-separated names.

    A JSON object maps each key to a description or to ``{"name": ..., "description": ...}``.

    >>> parse_labels("person, location")
    ['person', 'location']
    """
    if value is None:
        return None
    from stage2.labels import Label, LabelSet

    text = value
    # os.path.isfile, not Path.is_file: a long JSON string is no valid file name and must not raise OSError.
    if os.path.isfile(value):
        text = Path(value).read_text(encoding="utf-8")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SystemExit(f"error: {value}: not valid JSON ({err.msg}, line {err.lineno})") from None
    elif value.lstrip().startswith(("{", "[")):
        try:
            data = json.loads(value)
        except json.JSONDecodeError as err:
            raise SystemExit(f"error: --labels is not valid JSON ({err.msg})") from None
    else:
        return [v.strip() for v in value.split(",") if v.strip()]
    if isinstance(data, dict) and any(isinstance(v, dict) for v in data.values()):
        items = []
        for key, entry in data.items():
            entry = entry if isinstance(entry, dict) else {"description": entry or ""}
            items.append(Label(key, entry.get("name") or key, entry.get("description") or ""))
        return LabelSet(items)
    return data


def _load_model(name: str | None, head: str | None = None, labels: Any = None) -> Any:
    from stage2.ner.modeling import NERModel

    kwargs: dict[str, Any] = {}
    if head:
        kwargs["head"] = head
    if labels is not None and head == "linear":
        kwargs["labels"] = labels
    return NERModel.from_pretrained(name, **kwargs)


def cmd_train(args: argparse.Namespace) -> int:
    from stage2.data import entity_types, load_ner_data
    from stage2.labels import LabelSet
    from stage2.training import TrainingConfig, train

    train_data = load_ner_data(args.train, scheme=args.scheme, repair=args.repair)
    dev_data = load_ner_data(args.dev, scheme=args.scheme, repair=args.repair) if args.dev else None
    labels = parse_labels(args.labels)
    if args.head == "linear" and labels is None:
        labels = LabelSet.from_keys(entity_types(train_data))
    model = _load_model(args.model, args.head, labels)
    cfg = TrainingConfig(
        epochs=args.epochs,
        min_steps=args.min_steps,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        seed=args.seed,
        output_dir=str(Path(args.out) / "work"),
    )
    result = train(model, train_data, dev_data, labels=labels, config=cfg)
    if dev_data is not None:
        scores = model.evaluate(dev_data)
        model.config.card.setdefault("scores", {})["dev"] = {k: scores[k] for k in ("precision", "recall", "f1")}
    model.save_pretrained(args.out)
    summary = {
        "model": args.out,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "best_dev": result.best_dev,
    }
    print(json.dumps(summary))
    return 0


def _read_texts(args: argparse.Namespace) -> list[str]:
    if args.text:
        return list(args.text)
    source = open(args.input, encoding="utf-8") if args.input and args.input != "-" else sys.stdin  # noqa: SIM115
    texts = []
    with source:
        for lineno, line in enumerate(source, 1):
            line = line.rstrip("\n")
            if args.input and args.input.endswith((".jsonl", ".json")):
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise SystemExit(f"error: {args.input}, line {lineno}: not valid JSON ({err.msg})") from None
                if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                    raise SystemExit(f"error: {args.input}, line {lineno}: expected an object with a 'text' string")
                line = record["text"]
            texts.append(line)
    return texts


def cmd_predict(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    texts = _read_texts(args)
    labels = parse_labels(args.labels)
    from tqdm.auto import tqdm

    step = 256
    with tqdm(total=len(texts), desc="predicting", unit="text", disable=len(texts) < step) as bar:
        for b in range(0, len(texts), step):
            chunk = texts[b : b + step]
            for text, ents in zip(chunk, model.predict(chunk, labels=labels, batch_size=args.batch_size), strict=True):
                print(json.dumps({"text": text, "entities": ents}, ensure_ascii=False))
            bar.update(len(chunk))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from stage2.data import load_ner_data

    model = _load_model(args.model)
    data = load_ner_data(args.data, scheme=args.scheme, repair=args.repair)
    scores = model.evaluate(data, labels=parse_labels(args.labels), batch_size=args.batch_size)
    print(json.dumps(scores, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The ``stage2`` argument parser."""
    from stage2 import __version__

    parser = argparse.ArgumentParser(prog="stage2", description="Small task-specialised encoders for NER.")
    parser.add_argument("--version", action="version", version=f"stage2 {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    tasks = parser.add_subparsers(dest="task", required=True)
    ner = tasks.add_parser("ner", help="named-entity recognition")
    sub = ner.add_subparsers(dest="command", required=True)

    data_help = "CoNLL column file, or JSON lines with tokens/tags or text/entities (.jsonl, .gz ok)"
    labels_help = (
        "entity types: a JSON file or string ({'PER': {'name': 'person', 'description': '...'}} or "
        "{'person': 'a human being'}), or comma-separated names"
    )

    def add_scheme(p: argparse.ArgumentParser) -> None:
        p.add_argument("--scheme", default="iob2", choices=["iob2", "iob1", "bioes"], help="tag scheme of the data")
        p.add_argument("--repair", action="store_true", help="turn a stray I-X into the start of an entity")

    t = sub.add_parser(
        "train",
        help="fine-tune on a few or many labelled sentences",
        description="Fine-tune a stage2 model (or a bare encoder) and save it to --out.",
    )
    t.add_argument("--train", required=True, help=data_help)
    t.add_argument("--dev", help="dev data for model selection (" + data_help + ")")
    t.add_argument(
        "--model", default=None, help="stage2 model folder, encoder path or hub id (default: bundled MiniLM)"
    )
    t.add_argument("--head", choices=["label-semantic", "linear"], default=None, help="head for a bare encoder")
    t.add_argument("--labels", help=labels_help)
    t.add_argument("--out", required=True, help="output folder (checkpoints in OUT/work; a rerun resumes)")
    t.add_argument("--epochs", type=float, default=3.0, help="passes over the data (default 3)")
    t.add_argument("--min-steps", type=int, default=150, help="at least this many steps (default 150)")
    t.add_argument("--max-steps", type=int, default=None, help="at most this many steps")
    t.add_argument("--batch-size", type=int, default=16)
    t.add_argument("--lr", type=float, default=5e-5, help="encoder learning rate")
    t.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the head")
    t.add_argument("--seed", type=int, default=42)
    add_scheme(t)
    t.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help="tag texts; prints JSON lines",
        description="Tag texts given as arguments, or one per line from --input (.jsonl: a 'text' field).",
    )
    p.add_argument("text", nargs="*", help="texts to tag")
    p.add_argument("--model", required=True, help="stage2 model folder or hub id")
    p.add_argument("--input", help="file with one text per line, or JSON lines with 'text'; '-' for stdin")
    p.add_argument("--labels", help=labels_help + " (default: the model's own)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser(
        "evaluate",
        help="seqeval strict IOB2 scores on labelled data",
        description="Print precision, recall and F1 (strict IOB2, micro) as JSON.",
    )
    e.add_argument("--model", required=True, help="stage2 model folder or hub id")
    e.add_argument("--data", required=True, help=data_help)
    e.add_argument("--labels", help=labels_help + " (default: the model's own)")
    e.add_argument("--batch-size", type=int, default=32)
    add_scheme(e)
    e.set_defaults(func=cmd_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stage2`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from stage2.data import DataError

    try:
        return int(args.func(args))
    except (DataError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())

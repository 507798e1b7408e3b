"""Command line: ``stage2 ner|summarize train|predict|evaluate``, ``stage2 export``, ``stage2 package``,
``stage2 serve``; ``stage2 ner "text"`` tags with the shipped default model. Argument parsing only;
the work is in the library.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

logger = logging.getLogger("stage2")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise ValueError(f"duplicated key(s) {dupes}")
    return dict(pairs)


def parse_labels(value: str | None) -> Any:
    """``--labels`` as a JSON file, a JSON string, or comma-separated names.

    JSON is a list of names, or an object mapping each key to a description or to
    ``{"name": ..., "description": ...}``. Anything else exits with an error that names the input.

    >>> parse_labels("person, location")
    ['person', 'location']
    """
    if value is None:
        return None
    from stage2.labels import Label, LabelSet

    where = "--labels"
    # os.path.isfile, not Path.is_file: a long JSON string is no valid file name and must not raise OSError.
    if os.path.isfile(value):
        where = value
        try:
            text = Path(value).read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{value}: --labels file is not UTF-8 text") from None
    elif os.path.isdir(value):
        raise ValueError(f"{value}: --labels is a folder; expected a JSON file, JSON or comma-separated names")
    elif value.lstrip().startswith(("{", "[")):
        text = value
    elif value.endswith(".json") or os.sep in value:
        raise ValueError(f"{value}: --labels file not found (or give names: --labels person,city)")
    else:
        names = [v.strip() for v in value.split(",") if v.strip()]
        if not names:
            raise ValueError(f"--labels {value!r}: no label names (e.g. --labels person,city)")
        return names
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as err:
        raise ValueError(f"{where}: not valid JSON ({err.msg}, line {err.lineno})") from None
    except RecursionError:
        raise ValueError(f"{where}: JSON nested too deeply") from None
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None
    expected = 'a list of names or an object {"name": "description" or {"name": ..., "description": ...}}'
    if isinstance(data, list):
        bad = [x for x in data if not isinstance(x, str) or not x.strip()]
        if bad or not data:
            raise ValueError(f"{where}: expected {expected}; got the list item {bad[0] if bad else '[]'!r}")
        return data
    if not isinstance(data, dict) or not data:
        raise ValueError(f"{where}: expected {expected}; got {json.dumps(data)[:80]}")
    if all(v is None or isinstance(v, str) for v in data.values()) and all(k.strip() for k in data):
        return {k: v or "" for k, v in data.items()}
    items = []
    for key, entry in data.items():
        if entry is None or isinstance(entry, str):
            entry = {"description": entry or ""}
        if not isinstance(entry, dict) or not key.strip():
            raise ValueError(f"{where}: label {key!r}: expected a description string or an object; got {entry!r}")
        name, desc = entry.get("name") or key, entry.get("description") or ""
        unknown = set(entry) - {"name", "description"}
        if not isinstance(name, str) or not isinstance(desc, str) or unknown:
            raise ValueError(f"{where}: label {key!r}: expected string 'name' and 'description'; got {entry!r}")
        items.append(Label(key.strip(), name.strip() or key.strip(), desc.strip()))
    return LabelSet(items)


DEFAULT_NER = "ner-default"
DEFAULT_ZERO_SHOT = "ner-zero"
DEFAULT_SUMMARIZER = "summarizer-default"


def _export_folder(name: str | None) -> Path | None:
    """The folder of an ONNX export given by path or name, or None when ``name`` is something else."""
    if not name:
        return None
    from stage2.registry import EXPORT_CONFIG, find_model

    try:
        return find_model(name, EXPORT_CONFIG)
    except FileNotFoundError:
        return None


def _load_model(name: str | None, head: str | None = None, labels: Any = None, exports: bool = False) -> Any:
    if exports and (folder := _export_folder(name)) is not None:
        from stage2.runtime import NERRuntime

        return NERRuntime(folder)
    if name == DEFAULT_NER:
        raise FileNotFoundError(
            f"no {DEFAULT_NER} export found (exports/{DEFAULT_NER} or an installed model package); pass --model"
        )
    from stage2.ner.modeling import NERModel

    kwargs: dict[str, Any] = {}
    if head:
        kwargs["head"] = head
    if labels is not None and head == "linear":
        kwargs["labels"] = labels
    return NERModel.from_pretrained(name, **kwargs)


def _training_config(args: argparse.Namespace) -> Any:
    """The TrainingConfig of the shared ``train`` flags; checkpoints go to OUT/work."""
    from stage2.loop import TrainingConfig

    return TrainingConfig(
        epochs=args.epochs,
        min_steps=args.min_steps,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        learning_rate=args.lr,
        head_learning_rate=args.head_lr,
        seed=args.seed,
        output_dir=str(Path(args.out) / "work"),
        save_every=args.save_every,
        resume=not args.no_resume,
    )


def cmd_train(args: argparse.Namespace) -> int:
    from stage2.data import entity_types, load_ner_data
    from stage2.labels import LabelSet
    from stage2.training import train

    train_data = load_ner_data(args.train, scheme=args.scheme, repair=args.repair)
    dev_data = load_ner_data(args.dev, scheme=args.scheme, repair=args.repair) if args.dev else None
    labels = parse_labels(args.labels)
    if args.head == "linear" and labels is None:
        labels = LabelSet.from_keys(entity_types(train_data))
    model = _load_model(args.model, args.head, labels)
    cfg = _training_config(args)
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
    """Texts from the positional arguments, ``--input`` (one per line, or JSON lines with 'text'), or stdin."""
    from stage2.data import _open_text

    if args.text and args.input:
        raise SystemExit("error: give texts as arguments or --input, not both")
    if args.text:
        return list(args.text)
    is_json = bool(args.input) and args.input.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz"))
    lines = _open_text(Path(args.input)) if args.input and args.input != "-" else sys.stdin
    texts = []
    for lineno, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        if is_json:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{args.input}, line {lineno}: not valid JSON ({err.msg})") from None
            if not isinstance(record, dict) or not isinstance(record.get("text"), str):
                raise ValueError(f"{args.input}, line {lineno}: expected an object with a 'text' string")
            line = record["text"]
        texts.append(line)
    return texts


def cmd_predict(args: argparse.Namespace) -> int:
    name = args.model
    if name is None:  # run-time labels go to the zero-shot model when it ships, else to ner-default
        name = DEFAULT_ZERO_SHOT if args.labels and _export_folder(DEFAULT_ZERO_SHOT) is not None else DEFAULT_NER
    model = _load_model(name, exports=True)
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
    from stage2.metrics import ner_scores

    model = _load_model(args.model, exports=True)
    data = load_ner_data(args.data, scheme=args.scheme, repair=args.repair)
    contexts = None
    if args.document_context:
        from stage2.data import add_document_context

        contexts = [e.context for e in add_document_context(data, args.document_context)]
    labels = model.resolve_labels(parse_labels(args.labels))  # what predict_words will read: given or own
    keys = labels.keys
    gold = sorted({s.label for e in data for s in e.spans})
    if gold and not set(gold) & set(keys):
        print(
            f"warning: none of the data's entity types {gold} is a label key of the model {keys}: every F1 will "
            "be 0. Give --labels with the data's keys, e.g. " + json.dumps({g: "a description" for g in gold[:2]}),
            file=sys.stderr,
        )
    elif missing := [g for g in gold if g not in keys]:
        print(f"warning: entity types {missing} of the data are not label keys of the model {keys}", file=sys.stderr)
    preds = model.predict_words([e.tokens for e in data], labels=labels, batch_size=args.batch_size, contexts=contexts)
    scores = ner_scores(data, [[span for span, _ in p] for p in preds])
    print(json.dumps(scores, indent=2))
    return 0


def _load_summarizer(name: str | None, exports: bool = False) -> Any:
    from pathlib import Path as _P

    if exports and (folder := _export_folder(name)) is not None:
        from stage2.runtime import SummarizerRuntime

        return SummarizerRuntime(folder)
    if name == DEFAULT_SUMMARIZER:
        raise FileNotFoundError(
            f"no {DEFAULT_SUMMARIZER} export found (exports/{DEFAULT_SUMMARIZER}); pass --model, or --model '' for "
            "the zero-shot bundled encoder"
        )
    name = name or None

    from stage2.registry import read_config
    from stage2.summarization.seq2seq import CONFIG_NAME, Seq2SeqSummarizer

    if name and (_P(name) / CONFIG_NAME).exists():
        task = read_config(_P(name) / CONFIG_NAME).get("task")
        if task == "abstractive-summarization":
            return Seq2SeqSummarizer.from_pretrained(name)
    from stage2.summarization.modeling import Summarizer

    return Summarizer.from_pretrained(name)


def _budget(args: argparse.Namespace) -> dict[str, Any]:
    budget = {"max_sentences": args.max_sentences, "max_words": args.max_words, "ratio": args.ratio}
    return {k: v for k, v in budget.items() if v is not None}


def cmd_summarize_train(args: argparse.Namespace) -> int:
    from stage2.summarization.data import load_summarization_data

    train_data = load_summarization_data(args.train)
    dev_data = load_summarization_data(args.dev) if args.dev else None
    cfg = _training_config(args)
    if args.seq2seq:
        from stage2.summarization.seq2seq import Seq2SeqSummarizer, train_seq2seq

        if args.model:
            raise SystemExit("error: --model and --seq2seq exclude each other (--seq2seq names the model to train)")

        model: Any = Seq2SeqSummarizer.from_pretrained(args.seq2seq)
        result = train_seq2seq(model, train_data, dev_data, cfg)
    else:
        from stage2.summarization.training import train_summarizer

        model = _load_summarizer(args.model)
        cfg.feature_learning_rate = args.feature_lr
        result = train_summarizer(
            model,
            train_data,
            dev_data,
            cfg,
            eval_budget=_budget(args) or None,
            train_encoder=args.train_encoder,
            residual=args.residual,
        )
    model.save_pretrained(args.out)
    print(
        json.dumps(
            {"model": args.out, "steps": result.steps, "seconds": round(result.seconds, 1), "best_dev": result.best_dev}
        )
    )
    return 0


def cmd_summarize_predict(args: argparse.Namespace) -> int:
    model = _load_summarizer(args.model, exports=True)
    from stage2.data import _open_text

    if args.text and args.input:
        raise SystemExit("error: give documents as arguments or --input, not both")
    if args.input:
        path = Path(args.input)
        if args.input.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz")):
            docs = []
            for lineno, line in enumerate(_open_text(path), 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as err:
                    raise ValueError(f"{args.input}, line {lineno}: not valid JSON ({err.msg})") from None
                if not isinstance(record, dict) or not isinstance(record.get("document"), str):
                    raise ValueError(f"{args.input}, line {lineno}: expected an object with a 'document' string")
                docs.append(record["document"])
        else:
            docs = ["".join(_open_text(path))]
    elif args.text:
        docs = list(args.text)
    else:
        docs = [sys.stdin.read()]
    from tqdm.auto import tqdm

    for doc in tqdm(docs, desc="summarising", unit="doc", disable=len(docs) < 20):
        result = model.summarize(doc, focus=args.focus, **_budget(args))
        print(json.dumps(result, ensure_ascii=False))
    return 0


def cmd_summarize_evaluate(args: argparse.Namespace) -> int:
    from stage2.metrics import rouge_scores
    from stage2.summarization.data import load_summarization_data

    model = _load_summarizer(args.model, exports=True)
    data = load_summarization_data(args.data)
    preds = model.summarize([e.document for e in data], **_budget(args))
    hyps = ["\n".join(s["text"] for s in p["sentences"]) if p["sentences"] else p["summary"] for p in preds]
    print(json.dumps(rouge_scores([e.summary for e in data], hyps), indent=2))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from stage2.export import export

    budget = _budget(args) or {"max_sentences": 3}
    report = export(
        args.model,
        args.out,
        quantize=args.quantize,
        dev=args.dev,
        dev_limit=args.dev_limit,
        labels=parse_labels(args.labels),
        budget=budget,
        allow_degraded=args.allow_degraded,
        smoothing=None if args.smoothing <= 0 else args.smoothing,
    )
    if report.get("flagged"):
        print(f"warning: {report['flagged']}", file=sys.stderr)
    print(json.dumps({k: report.get(k) for k in ("task", "quantization", "parity", "metric", "onnx_megabytes")}))
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from stage2.package import build_wheel

    wheel = build_wheel(args.model, args.name, args.version, args.out, args.description, args.follow_symlinks)
    print(json.dumps({"wheel": str(wheel), "install": f"pip install {wheel}"}))
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from stage2.serve import ServeLimits, serve

    token = args.token or os.environ.get("STAGE2_TOKEN") or None
    limits = ServeLimits(
        max_body_bytes=args.max_body_bytes,
        max_items=args.max_items,
        max_chars=args.max_chars,
        max_labels=args.max_labels,
        max_label_chars=args.max_label_chars,
        max_batch=args.max_batch,
        max_wait_ms=args.max_wait_ms,
        large_request_chars=args.large_request_chars,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        keep_alive=args.keep_alive,
        max_connections=args.max_connections,
        token=token,
    )
    serve(args.model, host=args.host, port=args.port, limits=limits)
    return 0


def add_training_args(p: argparse.ArgumentParser, min_steps: int, batch_size: int, batch_help: str, lr: float) -> None:
    """The options every ``train`` command shares (output, schedule, learning rates, seed, resume)."""
    p.add_argument("--out", required=True, help="output folder (checkpoints in OUT/work; a rerun resumes)")
    p.add_argument("--epochs", type=float, default=3.0, help="passes over the data (default 3)")
    p.add_argument("--min-steps", type=int, default=min_steps, help=f"at least this many steps (default {min_steps})")
    p.add_argument("--max-steps", type=int, default=None, help="at most this many steps")
    p.add_argument("--batch-size", type=int, default=batch_size, help=f"{batch_help} (default {batch_size})")
    p.add_argument("--lr", type=float, default=lr, help=f"encoder learning rate (default {lr:g})")
    p.add_argument("--head-lr", type=float, default=1e-3, help="learning rate of the head (default 1e-3)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--no-resume", action="store_true", help="start afresh even if OUT/work holds a checkpoint")
    p.add_argument(
        "--save-every",
        type=int,
        default=100,
        help="checkpoint OUT/work every N steps (default 100; 0: only at dev evaluations and the end), so an "
        "interrupted run resumes when rerun; Ctrl-C also checkpoints the step it stops at",
    )


def build_parser() -> argparse.ArgumentParser:
    """The ``stage2`` argument parser."""
    from stage2 import __version__

    parser = argparse.ArgumentParser(
        prog="stage2", description="Small task-specialised encoders for NER and summarisation."
    )
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
    add_training_args(t, min_steps=150, batch_size=16, batch_help="sentences per step", lr=5e-5)
    add_scheme(t)
    t.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help="tag texts; prints JSON lines",
        description="Tag texts given as arguments, or one per line from --input (.jsonl: a 'text' field).",
    )
    p.add_argument("text", nargs="*", help="texts to tag")
    p.add_argument(
        "--model",
        default=None,
        help="stage2 model or export: folder, installed model name or hub id (default: "
        f"{DEFAULT_NER}, its CoNLL-2003 types; with --labels, {DEFAULT_ZERO_SHOT}, trained to read any type's name)",
    )
    p.add_argument("--input", help="file with one text per line, or JSON lines with 'text'; '-' for stdin")
    p.add_argument("--labels", help=labels_help + " (default: the model's own)")
    p.add_argument("--batch-size", type=int, default=32)
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser(
        "evaluate",
        help="seqeval strict IOB2 scores on labelled data",
        description="Print precision, recall and F1 (strict IOB2, micro) as JSON.",
    )
    e.add_argument("--model", required=True, help="stage2 model or export: folder, installed model name or hub id")
    e.add_argument("--data", required=True, help=data_help)
    e.add_argument("--labels", help=labels_help + " (default: the model's own)")
    e.add_argument("--batch-size", type=int, default=32)
    e.add_argument(
        "--document-context",
        type=int,
        default=0,
        metavar="WORDS",
        help="read each sentence with up to WORDS words of its neighbours (consecutive sentences of documents)",
    )
    add_scheme(e)
    e.set_defaults(func=cmd_evaluate)

    summ = tasks.add_parser("summarize", help="extractive (or seq2seq) summarisation")
    ssub = summ.add_subparsers(dest="command", required=True)
    sdata_help = "JSON lines with 'document' and 'summary' per line (.jsonl, .gz ok)"

    def add_budget(p: argparse.ArgumentParser) -> None:
        g = p.add_mutually_exclusive_group()
        g.add_argument("--max-sentences", type=int, help="summary length in sentences (default 3)")
        g.add_argument("--max-words", type=int, help="summary length in words")
        g.add_argument("--ratio", type=float, help="summary length as a share of the document's words")

    st = ssub.add_parser(
        "train",
        help="fine-tune on documents with reference summaries",
        description="Train the extractive summariser on greedy ROUGE-oracle labels (pairwise ranking loss), "
        "or a seq2seq checkpoint given with --seq2seq; saves to --out. The extractive encoder stays frozen "
        "(each sentence is embedded once) unless --train-encoder; with fewer than 1000 documents only the "
        "hand-made features' weights are fitted unless --residual.",
    )
    st.add_argument("--train", required=True, help=sdata_help)
    st.add_argument("--dev", help="dev data for model selection (" + sdata_help + ")")
    st.add_argument("--model", default=None, help="stage2 summariser folder or encoder (default: bundled MiniLM)")
    st.add_argument("--seq2seq", help="train this seq2seq checkpoint (hub id or path) instead: abstractive")
    add_training_args(st, min_steps=100, batch_size=4, batch_help="documents per step", lr=2e-5)
    st.add_argument(
        "--feature-lr", type=float, default=1e-2, help="learning rate of the feature weights (default 1e-2)"
    )
    st.add_argument("--train-encoder", action="store_true", help="fine-tune the encoder too (slow)")
    residual = st.add_mutually_exclusive_group()
    residual.add_argument("--residual", dest="residual", action="store_const", const=True, help="train the residual")
    residual.add_argument("--no-residual", dest="residual", action="store_const", const=False, help="never train it")
    add_budget(st)
    st.set_defaults(func=cmd_summarize_train)

    sp = ssub.add_parser(
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
    sp.add_argument("--input", help="a text file, or JSON lines with 'document'")
    sp.add_argument("--focus", help="an optional natural-language focus, e.g. 'financial results'")
    add_budget(sp)
    sp.set_defaults(func=cmd_summarize_predict)

    se = ssub.add_parser(
        "evaluate",
        help="ROUGE-1/2/Lsum (rouge-score, stemming) on reference summaries",
        description="Print rouge-score F1 (percent) as JSON.",
    )
    se.add_argument("--model", default=None, help="stage2 summariser folder (default: zero-shot bundled encoder)")
    se.add_argument("--data", required=True, help=sdata_help)
    add_budget(se)
    se.set_defaults(func=cmd_summarize_evaluate)

    x = tasks.add_parser(
        "export",
        help="export a model to ONNX Runtime (parity-checked)",
        description="Write the ONNX graph, head weights, tokenizer, config and export_report.json (parity "
        "against torch, the task metric on --dev before and after quantisation).",
    )
    x.add_argument("model", help="saved stage2 NER model or extractive summariser (folder or installed name)")
    x.add_argument("--out", required=True, help="output folder (replaced if it exists)")
    x.add_argument("--quantize", choices=["int8", "fp16"], help="int8: dynamic quantisation (CPU); fp16: GPU")
    x.add_argument("--dev", help="labelled dev data for the metric check (NER: " + data_help + "; " + sdata_help + ")")
    x.add_argument("--dev-limit", type=int, default=500, help="first N dev examples (default 500)")
    x.add_argument("--labels", help="NER labels for the parity check of a model without labels of its own")
    x.add_argument("--allow-degraded", action="store_true", help="keep an int8 export that costs more than allowed")
    x.add_argument(
        "--smoothing",
        type=float,
        default=0.5,
        metavar="ALPHA",
        help="int8 only: SmoothQuant strength in (0, 1], calibrated on --dev (default 0.5; 0 turns it off)",
    )
    add_budget(x)
    x.set_defaults(func=cmd_export)

    k = tasks.add_parser(
        "package",
        help="build a pip-installable wheel of a model or export",
        description="After `pip install` of the wheel, stage2.load(NAME) or stage2.runtime.load(NAME) finds it.",
    )
    k.add_argument("model", help="a saved stage2 model or an export folder")
    k.add_argument("--name", required=True, help="the model's name, e.g. ner-news")
    k.add_argument("--version", required=True, help="package version, e.g. 1.0.0")
    k.add_argument("--out", default="dist", help="where the wheel goes (default dist/)")
    k.add_argument("--description", default="", help="one-line summary for the package metadata")
    k.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="pack the files that symlinks pointing outside the model folder lead to (default: refuse them)",
    )
    k.set_defaults(func=cmd_package)

    v = tasks.add_parser(
        "serve",
        help="HTTP JSON service (POST /ner, POST /summarize, GET /health)",
        description="Serve exported models with Starlette/uvicorn; concurrent NER requests are micro-batched.",
    )
    v.add_argument("--model", action="append", required=True, help="export folder or name; repeat for both tasks")
    v.add_argument("--host", default="127.0.0.1")
    v.add_argument("--port", type=int, default=8000)
    v.add_argument("--max-body-bytes", type=int, default=1_000_000, help="larger requests get 413")
    v.add_argument("--max-batch", type=int, default=32, help="texts per micro-batch")
    v.add_argument("--max-wait-ms", type=float, default=5.0, help="how long a micro-batch waits to fill")
    v.add_argument("--max-items", type=int, default=64, help="texts or documents per request (default 64)")
    v.add_argument("--max-chars", type=int, default=100_000, help="characters per text or document (default 100000)")
    v.add_argument("--max-labels", type=int, default=50, help="entity types per request (default 50)")
    v.add_argument("--max-label-chars", type=int, default=200, help="characters per label name or description")
    v.add_argument(
        "--large-request-chars",
        type=int,
        default=5_000,
        help="NER requests with more characters run in a second lane, so small ones never wait behind them",
    )
    v.add_argument("--header-timeout", type=float, default=10.0, help="seconds for a request's headers (then dropped)")
    v.add_argument("--body-timeout", type=float, default=30.0, help="seconds for a request's body (then 408)")
    v.add_argument("--keep-alive", type=float, default=5.0, help="seconds an idle keep-alive connection is kept")
    v.add_argument("--max-connections", type=int, default=256, help="concurrent connections; beyond it 503")
    v.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' on POST requests (or set STAGE2_TOKEN; default: no token)",
    )
    v.set_defaults(func=cmd_serve)
    return parser


_COMMANDS = {"ner": {"train", "predict", "evaluate"}, "summarize": {"train", "predict", "evaluate"}}


def _shorthand(argv: list[str]) -> list[str]:
    """``stage2 ner TEXT...`` and ``stage2 summarize TEXT...`` mean ``... predict TEXT...``."""
    for i, arg in enumerate(argv):
        if arg in _COMMANDS:
            rest = argv[i + 1 :]
            if rest and rest[0] not in _COMMANDS[arg] and rest[0] not in ("-h", "--help"):
                return [*argv[: i + 1], "predict", *rest]
            return argv
        if not arg.startswith("-"):
            return argv
    return argv


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``stage2`` console script."""
    args = build_parser().parse_args(_shorthand(list(sys.argv[1:] if argv is None else argv)))
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    from stage2.data import DataError

    try:
        return int(args.func(args))
    except ModuleNotFoundError as err:
        if err.name in ("torch", "transformers", "safetensors", "seqeval", "rouge_score", "onnx"):
            print(f"error: this command needs {err.name}: pip install 'stage2[train]'", file=sys.stderr)
            return 2
        if err.name in ("starlette", "uvicorn"):
            print(f"error: stage2 serve needs {err.name}: pip install 'stage2[serve]'", file=sys.stderr)
            return 2
        raise
    except (DataError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as err:
        print(f"interrupted: {err}" if str(err) else "interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())

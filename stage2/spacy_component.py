"""spaCy pipeline component ``stage2_ner``: sets ``doc.ents`` from a stage2 NER export on ONNX Runtime
(no torch), with the export's own labels or any labels named in the config.

    import spacy

    nlp = spacy.blank("en")  # or any pipeline, e.g. spacy.load("en_core_web_sm")
    nlp.add_pipe("stage2_ner", config={"model": "ner-default", "labels": ["person", "company", "city"]})
    doc = nlp("Tim Cook runs Apple from Cupertino.")
    [(e.text, e.label_, e._.stage2_score) for e in doc.ents]

The factory is registered through the ``spacy_factories`` entry point, so ``add_pipe`` finds it once
stage2 is installed. Whitespace tokens are skipped; every other spaCy token is one word for the model.
With ``overwrite`` (default) the component's entities replace the pipeline's; without it they are
added only where no earlier component found one. ``threshold`` is applied as in ``predict`` (None: the model's own).

Scores: each entity's ``ent._.stage2_score``, and every found entity (also those an earlier component's
entities kept out of ``doc.ents``) in ``doc.spans["stage2_ner"]`` with ``.attrs["scores"]`` (spancat's
convention). ``nlp.evaluate`` scores the component's entities (``ents_p``, ``ents_r``, ``ents_f``,
``ents_per_type``). ``nlp.to_disk`` copies the export into the pipeline folder, so ``spacy.load`` of that folder
needs neither the original export nor its name.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.scorer import get_ner_prf
from spacy.tokens import Doc, SpanGroup
from spacy.tokens import Span as SpacySpan
from spacy.training import Example
from spacy.util import minibatch

from stage2.labels import LabelSet
from stage2.loading import NER_TASKS, load
from stage2.ner.decoding import DEFAULT_THRESHOLD, check_threshold

SPANS_KEY = "stage2_ner"
"""``doc.spans`` key of the component's entities with their scores."""
SCORE_ATTR = "stage2_score"
"""Span extension holding an entity's score (``ent._.stage2_score``)."""
EXPORT_DIR = "export"
"""Folder under the component's ``to_disk`` folder holding the copied export."""

DEFAULT_CONFIG: dict[str, Any] = {
    "model": "ner-default",
    "labels": None,
    "batch_size": 32,
    "overwrite": True,
    "threshold": DEFAULT_THRESHOLD,
}


class Stage2NER:
    """The ``stage2_ner`` component (see the module docstring)."""

    def __init__(
        self,
        model: str,
        labels: Any = None,
        batch_size: int = 32,
        overwrite: bool = True,
        threshold: float | None = DEFAULT_THRESHOLD,
    ) -> None:
        self.threshold = check_threshold(threshold)
        self.model = model
        self._missing: FileNotFoundError | None = None
        try:
            self._load(model)
        except FileNotFoundError as err:  # spacy.load of a saved pipeline: from_disk brings the export
            self._missing = err
        checked = labels is not None and self._missing is None
        self.label_set = self.runtime.resolve_labels(labels) if checked else None  # checked once, here
        if labels is not None and not checked:
            self.label_set = LabelSet.from_user(labels)
        self.batch_size = batch_size
        self.overwrite = overwrite
        if not SpacySpan.has_extension(SCORE_ATTR):
            SpacySpan.set_extension(SCORE_ATTR, default=None)

    def _load(self, model: str | Path) -> None:
        self.runtime = load(model, backend="onnx", tasks=NER_TASKS)
        self._missing = None

    def _ready(self) -> None:
        if self._missing is not None:
            raise self._missing

    @property
    def labels(self) -> tuple[str, ...]:
        """The entity labels this component sets (``nlp.pipe_labels``): the configured ones or the export's."""
        if self.label_set is None and self._missing is not None:
            return ()
        return tuple((self.label_set or self.runtime.labels).keys)

    def to_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> None:
        """Write the component: its settings (``cfg.json``) and a copy of the export's files."""
        self._ready()
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        target = path / EXPORT_DIR
        source = Path(self.runtime.folder).resolve()
        if target.resolve() != source:
            if target.exists():
                shutil.rmtree(target)  # our own earlier copy: this folder is the component's
            target.mkdir()
            for item in source.iterdir():  # regular files only: no links or folders leave the export
                if item.is_file() and not item.is_symlink():
                    shutil.copyfile(item, target / item.name)
        cfg = {
            "labels": self.label_set.to_dict() if self.label_set is not None else None,
            "threshold": self.threshold,
            "batch_size": self.batch_size,
            "overwrite": self.overwrite,
        }
        (path / "cfg.json").write_text(json.dumps(cfg, indent=2), encoding="utf-8")

    def from_disk(self, path: str | Path, *, exclude: Iterable[str] = ()) -> Stage2NER:
        """Read what :meth:`to_disk` wrote: the copied export and the settings."""
        path = Path(path)
        self._load(path / EXPORT_DIR)
        cfg = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
        self.label_set = None if cfg.get("labels") is None else LabelSet.from_dict(cfg["labels"])
        if self.label_set is not None:
            self.runtime.resolve_labels(self.label_set)
        self.threshold = check_threshold(cfg.get("threshold", DEFAULT_THRESHOLD))
        self.batch_size = int(cfg.get("batch_size", self.batch_size))
        self.overwrite = bool(cfg.get("overwrite", self.overwrite))
        return self

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Entities for a stream of docs, predicted ``batch_size`` docs at a time."""
        self._ready()
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            kept = [[t.i for t in doc if not t.is_space] for doc in batch]
            words = [[doc[i].text for i in idx] for doc, idx in zip(batch, kept, strict=True)]
            found = self.runtime.predict_words(
                words, labels=self.label_set, batch_size=self.batch_size, threshold=self.threshold
            )
            for doc, idx, spans in zip(batch, kept, found, strict=True):
                ents = [SpacySpan(doc, idx[s.start], idx[s.end - 1] + 1, label=s.label) for s, _ in spans]
                for ent, (_, score) in zip(ents, spans, strict=True):
                    ent._.set(SCORE_ATTR, float(score))
                doc.spans[SPANS_KEY] = SpanGroup(
                    doc, name=SPANS_KEY, spans=ents, attrs={"scores": [float(score) for _, score in spans]}
                )
                if not self.overwrite:
                    taken = {i for e in doc.ents for i in range(e.start, e.end)}
                    ents = list(doc.ents) + [e for e in ents if not taken & set(range(e.start, e.end))]
                doc.set_ents(sorted(ents, key=lambda e: e.start), default="outside" if self.overwrite else "unmodified")
                yield doc

    def score(self, examples: Iterable[Example], **kwargs: Any) -> dict[str, Any]:
        """Entity precision, recall and F1 (overall and per type) of ``examples`` as spaCy scores them
        (``ents_p``, ``ents_r``, ``ents_f``, ``ents_per_type``): what ``nlp.evaluate`` reports."""
        return get_ner_prf(examples, **kwargs)


@Language.factory(
    "stage2_ner",
    default_config=DEFAULT_CONFIG,
    assigns=["doc.ents", "token.ent_iob", "token.ent_type", "doc.spans", "span._.stage2_score"],
    default_score_weights={"ents_f": 1.0, "ents_p": 0.0, "ents_r": 0.0, "ents_per_type": None},
)
def make_stage2_ner(
    nlp: Language, name: str, model: str, labels: Any, batch_size: int, overwrite: bool, threshold: float | None
) -> Stage2NER:
    """spaCy factory of :class:`Stage2NER` (``nlp.add_pipe("stage2_ner", config={...})``)."""
    return Stage2NER(model, labels, batch_size, overwrite, threshold)

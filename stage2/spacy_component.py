"""spaCy pipeline component ``stage2_ner``: sets ``doc.ents`` from a stage2 NER export on ONNX Runtime
(no torch), with the export's own labels or any labels named in the config.

    import spacy

    nlp = spacy.load("en_core_web_sm")
    nlp.add_pipe("stage2_ner", config={"model": "ner-default", "labels": ["person", "company", "city"]})
    [(e.text, e.label_) for e in nlp("Tim Cook runs Apple from Cupertino.").ents]

The factory is registered through the ``spacy_factories`` entry point, so ``add_pipe`` finds it once
stage2 is installed. Whitespace tokens are skipped; every other spaCy token is one word for the model.
With ``overwrite`` (default) the component's entities replace the pipeline's; without it they are
added only where no earlier component found one. Entities scoring below ``threshold`` are dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc
from spacy.tokens import Span as SpacySpan
from spacy.util import minibatch

from stage2.ner.decoding import DEFAULT_THRESHOLD, check_threshold

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
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        import stage2.runtime as rt

        self.threshold = check_threshold(threshold)
        runtime = rt.load(model)
        if not isinstance(runtime, rt.NERRuntime):
            raise ValueError(f"stage2_ner needs a NER export; {model!r} is a {runtime.task} export")
        self.runtime = runtime
        self.labels = runtime.resolve_labels(labels) if labels is not None else None  # checked once, here
        self.batch_size = batch_size
        self.overwrite = overwrite

    def __call__(self, doc: Doc) -> Doc:
        return next(iter(self.pipe([doc])))

    def pipe(self, docs: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Entities for a stream of docs, predicted ``batch_size`` docs at a time."""
        for batch in minibatch(docs, size=batch_size or self.batch_size):
            kept = [[t.i for t in doc if not t.is_space] for doc in batch]
            words = [[doc[i].text for i in idx] for doc, idx in zip(batch, kept, strict=True)]
            found = self.runtime.predict_words(
                words, labels=self.labels, batch_size=self.batch_size, threshold=self.threshold
            )
            for doc, idx, spans in zip(batch, kept, found, strict=True):
                ents = [SpacySpan(doc, idx[s.start], idx[s.end - 1] + 1, label=s.label) for s, _ in spans]
                if not self.overwrite:
                    taken = {i for e in doc.ents for i in range(e.start, e.end)}
                    ents = list(doc.ents) + [e for e in ents if not taken & set(range(e.start, e.end))]
                doc.set_ents(sorted(ents, key=lambda e: e.start), default="outside" if self.overwrite else "unmodified")
                yield doc


@Language.factory("stage2_ner", default_config=DEFAULT_CONFIG)
def make_stage2_ner(
    nlp: Language, name: str, model: str, labels: Any, batch_size: int, overwrite: bool, threshold: float
) -> Stage2NER:
    """spaCy factory of :class:`Stage2NER` (``nlp.add_pipe("stage2_ner", config={...})``)."""
    return Stage2NER(model, labels, batch_size, overwrite, threshold)

"""Entity label sets and tag-scheme conversions.

Pure Python (no torch), shared by the trainer, the torch model and the ONNX runtime.
The one internal NER format is a list of :class:`Span` on word indices; IOB2 tags exist only at
the edges (reading data, scoring with seqeval).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DEFAULT_TEMPLATE = "{name}: {description}"
"""How a label is written for the encoder when it has a description (``{name}`` alone otherwise)."""


@dataclass(frozen=True)
class Span:
    """An entity on word indices: words ``start`` .. ``end - 1`` carry ``label``."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Label:
    """One entity type.

    ``key`` is what the data and the predictions call it (``PER``); ``name`` is the natural-language
    name the encoder reads (``person``); ``description`` is optional extra text.
    """

    key: str
    name: str
    description: str = ""

    def prompt(self, template: str = DEFAULT_TEMPLATE) -> str:
        """The text the encoder reads for this label.

        >>> Label("PER", "person", "a human being").prompt()
        'person: a human being'
        """
        if not self.description:
            return self.name
        return template.format(name=self.name, description=self.description)


def humanize(key: str) -> str:
    """A readable default name for a tag type: ``Gene_or_gene_product`` -> ``gene or gene product``.

    >>> humanize("creative-work")
    'creative work'
    """
    text = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", key)  # camelCase -> camel Case
    text = re.sub(r"[_\-/]+", " ", text)
    return re.sub(r"\s+", " ", text).strip().lower() if not text.isupper() else text.strip()


@dataclass
class LabelSet:
    """An ordered set of entity types with names and descriptions.

    >>> ls = LabelSet.from_user({"person": "a human being", "city": ""})
    >>> ls.keys
    ['person', 'city']
    """

    labels: list[Label] = field(default_factory=list)

    def __post_init__(self) -> None:
        seen: set[str] = set()
        for label in self.labels:
            if not label.key or not label.key.strip():
                raise ValueError("label names must be non-empty strings")
            if not label.name.strip():
                raise ValueError(f"label {label.key!r} has an empty name")
            folded = label.key.strip().lower()
            if folded in seen:
                raise ValueError(f"label {label.key!r} is given twice")
            seen.add(folded)

    @property
    def keys(self) -> list[str]:
        """The label keys in order."""
        return [label.key for label in self.labels]

    def __len__(self) -> int:
        return len(self.labels)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.labels)

    def prompts(self, template: str = DEFAULT_TEMPLATE) -> list[str]:
        """The encoder texts of all labels, in order."""
        return [label.prompt(template) for label in self.labels]

    def to_dict(self) -> list[dict[str, str]]:
        """JSON-ready form, as saved in a model's config."""
        return [{"key": lb.key, "name": lb.name, "description": lb.description} for lb in self.labels]

    @classmethod
    def from_dict(cls, items: Sequence[Mapping[str, str]]) -> LabelSet:
        """Inverse of :meth:`to_dict`; an entry without a string ``key`` (or with a ``name`` or
        ``description`` that is not a string) is a ValueError naming it."""
        for n, item in enumerate(items):
            ok = isinstance(item, Mapping) and isinstance(item.get("key"), str) and bool(item["key"].strip())
            if not ok or not all(isinstance(item.get(f) or "", str) for f in ("name", "description")):
                raise ValueError(
                    f"label {n}: expected an object with a non-empty string 'key' and optional string 'name' and "
                    f"'description', got {item!r:.80}"
                )
        return cls([Label(i["key"], i.get("name") or i["key"], i.get("description") or "") for i in items])

    @classmethod
    def from_keys(cls, keys: Iterable[str], descriptions: Mapping[str, str] | None = None) -> LabelSet:
        """Labels from tag types found in data, with readable names (``PER`` stays ``PER``)."""
        descriptions = descriptions or {}
        return cls([Label(k, humanize(k), descriptions.get(k, "")) for k in keys])

    @classmethod
    def from_names(cls, text: str) -> LabelSet:
        """Labels from comma-separated names (``--labels person,city``, Ray's ``labels="person,city"``);
        empty names between commas are skipped.

        >>> LabelSet.from_names("person, city,").keys
        ['person', 'city']
        """
        names = [n.strip() for n in text.split(",") if n.strip()]
        if not names:
            raise ValueError(f"labels {text!r}: no label names (e.g. person,city)")
        return cls.from_user(names)

    @classmethod
    def from_user(cls, labels: LabelsInput) -> LabelSet:
        """Normalise what a user passes, the one label grammar of the API, CLI, service and spaCy.

        Accepts a LabelSet; a list of names, of :class:`Label` or of saved entries
        (``{"key", "name", "description"}``); or an object mapping each key to ``None``, a
        description, or ``{"name": ..., "description": ...}`` (the name is what the model reads, the
        key what predictions are tagged with). Errors name the label and what was expected.

        >>> LabelSet.from_user({"PER": {"name": "person", "description": "a human"}}).to_dict()
        [{'key': 'PER', 'name': 'person', 'description': 'a human'}]
        """
        if isinstance(labels, LabelSet):
            return labels
        if isinstance(labels, str):
            raise TypeError("labels must be a list or dict of label names, not a single string")
        if isinstance(labels, Mapping):
            out = [_label_of_entry(k, v) for k, v in labels.items()]
        else:
            out = [_label_of_item(item) for item in labels]
        if not out:
            raise ValueError("labels is empty: give at least one entity type")
        return cls(out)


LabelsInput = LabelSet | Mapping[str, Any] | Sequence[Any]
"""What :meth:`LabelSet.from_user` accepts."""

_ENTRY_FIELDS = {"key", "name", "description"}


def _label_of_entry(key: Any, entry: Any) -> Label:
    """One ``key: description-or-object`` entry of a label object."""
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"label name {key!r} is empty or not a string")
    if entry is None or isinstance(entry, str):
        return Label(key.strip(), key.strip(), (entry or "").strip())
    if not isinstance(entry, Mapping):
        raise TypeError(f"label {key!r}: expected a description string or an object with 'name' and 'description'")
    name, desc = entry.get("name") or key, entry.get("description") or ""
    unknown = set(entry) - {"name", "description"}
    if not isinstance(name, str) or not isinstance(desc, str) or unknown:
        raise ValueError(f"label {key!r}: expected string 'name' and 'description' only; got {dict(entry)!r:.80}")
    return Label(key.strip(), name.strip() or key.strip(), desc.strip())


def _label_of_item(item: Any) -> Label:
    """One item of a label list: a name, a Label, or a saved ``{"key", "name", "description"}`` entry."""
    if isinstance(item, Label):
        return item
    if isinstance(item, str):
        return _label_of_entry(item, None)
    if isinstance(item, Mapping) and "key" in item and not set(item) - _ENTRY_FIELDS:
        return _label_of_entry(item["key"], {k: v for k, v in item.items() if k != "key"})
    raise TypeError(f"label {item!r:.60} is not a string (or a {{'key', 'name', 'description'}} object)")


class TagError(ValueError):
    """A tag sequence that breaks the scheme; the message names where."""


_TAG_RE = re.compile(r"^(?P<prefix>[BIES])-(?P<type>.+)$")


def parse_tag(tag: str) -> tuple[str, str | None]:
    """Split ``B-PER`` into (``B``, ``PER``); ``O`` into (``O``, None)."""
    if tag == "O":
        return "O", None
    match = _TAG_RE.match(tag)
    if match is None:
        raise TagError(f"unknown tag {tag!r}: expected 'O' or B-/I-/E-/S- followed by a type")
    return match["prefix"], match["type"]


def tags_to_spans(tags: Sequence[str], scheme: str = "iob2", repair: bool = False) -> list[Span]:
    """Convert a tag sequence to spans.

    ``scheme`` is ``iob2`` (strict: ``I-X`` must follow ``B-X`` or ``I-X``), ``iob1`` (an ``I-X``
    may open an entity; ``B-X`` only separates two adjacent ones) or ``bioes``. ``repair=True``
    turns a stray ``I-X`` into the start of a new entity instead of raising :class:`TagError`.

    >>> tags_to_spans(["B-PER", "I-PER", "O", "B-LOC"])
    [Span(label='PER', start=0, end=2), Span(label='LOC', start=3, end=4)]
    """
    scheme = scheme.lower()
    if scheme not in {"iob2", "iob1", "bioes"}:
        raise ValueError(f"unknown tag scheme {scheme!r}: expected iob2, iob1 or bioes")
    spans: list[Span] = []
    cur_type: str | None = None
    cur_start = 0
    for i, tag in enumerate(tags):
        prefix, typ = parse_tag(tag)
        if scheme == "bioes":
            prefix = {"S": "B", "E": "I"}.get(prefix, prefix)
        elif prefix in {"E", "S"}:
            raise TagError(f"tag {tag!r} at position {i} is not allowed in scheme {scheme}")
        if prefix == "O":
            if cur_type is not None:
                spans.append(Span(cur_type, cur_start, i))
            cur_type = None
        elif prefix == "B":
            if cur_type is not None:
                spans.append(Span(cur_type, cur_start, i))
            cur_type, cur_start = typ, i
        else:  # I
            if cur_type == typ:
                continue
            if scheme == "iob2" and not repair:
                prev = tags[i - 1] if i else "start of sentence"
                raise TagError(
                    f"tag {tag!r} at position {i} follows {prev!r}: IOB2 needs B-{typ} first "
                    "(pass scheme='iob1' or repair=True to accept it)"
                )
            if cur_type is not None:
                spans.append(Span(cur_type, cur_start, i))
            cur_type, cur_start = typ, i
    if cur_type is not None:
        spans.append(Span(cur_type, cur_start, len(tags)))
    return spans


def spans_to_tags(spans: Iterable[Span], length: int) -> list[str]:
    """IOB2 tags for ``length`` words; overlapping spans raise ValueError.

    >>> spans_to_tags([Span("PER", 0, 2)], 3)
    ['B-PER', 'I-PER', 'O']
    """
    tags = ["O"] * length
    for span in sorted(spans, key=lambda s: s.start):
        if not 0 <= span.start < span.end <= length:
            raise ValueError(f"span {span} lies outside a sentence of {length} words")
        if any(t != "O" for t in tags[span.start : span.end]):
            raise ValueError(f"span {span} overlaps another span")
        tags[span.start] = f"B-{span.label}"
        for j in range(span.start + 1, span.end):
            tags[j] = f"I-{span.label}"
    return tags


MAX_LABELS = 50
"""Default cap on the entity types one prediction may ask for (a model's ``max_labels``): every label
costs an encoder pass and a column of scores per word, so an unbounded set is unbounded memory."""

MAX_LABEL_CHARS = 1000
"""Longest label prompt (name plus description) accepted at predict time, in characters."""


def resolve_label_set(labels: Any, own: LabelSet, fixed: bool, max_labels: int = MAX_LABELS) -> LabelSet:
    """The label set a prediction uses: ``labels`` validated, or the model's ``own`` when None.
    A ``fixed`` (linear-head) model accepts only a subset of its own labels; more than
    ``max_labels`` labels, or a label prompt over :data:`MAX_LABEL_CHARS` characters, is a ValueError.
    """
    if labels is None:
        if not len(own):
            raise ValueError("this model has no labels of its own yet: pass labels=... to predict")
        return own
    label_set = LabelSet.from_user(labels)
    if len(label_set) > max_labels:
        raise ValueError(
            f"{len(label_set)} labels given; this model takes at most {max_labels} per call "
            "(its config's max_labels): split the label set over several calls"
        )
    long = [lb.key for lb in label_set if len(lb.prompt()) > MAX_LABEL_CHARS]
    if long:
        raise ValueError(f"label(s) {long[:3]} have a name plus description over {MAX_LABEL_CHARS} characters")
    if fixed:
        unknown = [k for k in label_set.keys if k not in own.keys]
        if unknown:
            raise ValueError(
                f"this model was trained on its own labels {own.keys} only (a linear head, or a label-semantic model "
                f"trained on one label set) and cannot read others: {unknown}; pass a subset of its labels, or use "
                "a model trained for run-time labels (ner-default, ner-zero)"
            )
        mine = {lb.key: lb for lb in own}
        return LabelSet([mine[k] for k in label_set.keys])  # its own names and descriptions, as trained
    return label_set

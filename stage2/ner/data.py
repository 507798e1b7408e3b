"""NER data: readers (CoNLL columns, JSON lines, ``datasets.Dataset``), a word tokenizer with
character offsets, and K-shot sampling. Pure Python, no torch.

Every reader returns :class:`NERExample` objects whose entities are :class:`~stage2.labels.Span`
on word indices. Errors name the file, the line and what was expected.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stage2.io import DataError, iter_jsonl, open_text
from stage2.labels import Span, TagError, spans_to_tags, tags_to_spans


@dataclass
class NERExample:
    """One sentence: words, entity spans on word indices, and where it came from."""

    tokens: list[str]
    spans: list[Span] = field(default_factory=list)
    source: str = ""
    context: tuple[list[str], list[str]] | None = None
    """Unlabelled words before and after the sentence (see :func:`add_document_context`)."""

    @property
    def tags(self) -> list[str]:
        """IOB2 tags for the words."""
        return spans_to_tags(self.spans, len(self.tokens))


_FORMAT = "\u0000\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
"""Characters that never split or make a word: Unicode format characters (soft hyphen, zero-width
space, word joiner, bidi marks and isolates, byte-order mark) and NUL. Inside a word or at its edges they
stay in it (the tokenizer drops them); one standing alone is a symbol, as before. The zero-width
(non-)joiners are left to the mark rule below (they belong to the word before them)."""
_CONNECT = f"(?:[{_FORMAT}]*['’\\-\u2010\u2011\u00b7][{_FORMAT}]*|[{_FORMAT}]+)"
"""What may join two runs of word characters: apostrophes, hyphens (ASCII, U+2010, non-breaking),
the middle dot (Catalan ``Col·legi``) and format characters."""

_WORD_RE = re.compile(
    r"(?:[A-Za-z]\.){2,}"  # U.S. / e.g.
    r"|\d+(?:[.,:/]\d+)*"  # 3.5, 1,000, 12:30
    rf"|[{_FORMAT}]*\w+(?:{_CONNECT}\w+)*[{_FORMAT}]*"  # words, don't, well-known, Jean‐Pierre, Mer\u00adkel
    r"|[^\w\s]",  # any other single symbol
    re.UNICODE,
)


_JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner / joiner: inside Persian, Indic words


def _is_mark(ch: str) -> bool:
    """A combining mark (accents in NFD text, Indic vowel signs) or a zero-width joiner."""
    return ch in _JOINERS or unicodedata.category(ch).startswith("M")


def tokenize_words(text: str) -> list[tuple[str, int, int]]:
    """Split text into words with character offsets ``(word, start, end)``.

    Combining marks stay inside their word, so NFD text (``Montre\u0301al``) and Indic scripts
    (``मुंबई``) give whole words.

    >>> tokenize_words("Ada met Bob.")
    [('Ada', 0, 3), ('met', 4, 7), ('Bob', 8, 11), ('.', 11, 12)]
    """
    out: list[tuple[str, int, int]] = []
    for m in _WORD_RE.finditer(text):
        start, end = m.start(), m.end()
        if out and out[-1][2] == start:
            prev_start = out[-1][1]
            # "Montre" + "\u0301" + "al": a mark joins the word before it, and a word joins a mark before it
            if _is_mark(text[start]) or (_is_mark(text[start - 1]) and text[start].isalnum()):
                out[-1] = (text[prev_start:end], prev_start, end)
                continue
        out.append((m.group(), start, end))
    return out


def _example_from_tags(
    tokens: Any, tags: Any, where: str, scheme: str, repair: bool, allowed: set[str] | None
) -> NERExample:
    if not isinstance(tokens, list) or not all(isinstance(t, str) for t in tokens):
        raise DataError(f"{where}: field 'tokens' must be a list of strings")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise DataError(f"{where}: field 'tags' must be a list of strings")
    if len(tokens) != len(tags):
        raise DataError(f"{where}: {len(tokens)} tokens but {len(tags)} tags; they must match one to one")
    try:
        spans = tags_to_spans(tags, scheme=scheme, repair=repair)
    except TagError as err:
        raise DataError(f"{where}: {err}") from None
    if allowed is not None:
        for span in spans:
            if span.label not in allowed:
                raise DataError(f"{where}: unknown entity type {span.label!r}; expected one of {sorted(allowed)}")
    return NERExample(list(tokens), spans, where)


def _example_from_text(record: Mapping[str, Any], where: str, allowed: set[str] | None) -> NERExample:
    text = record["text"]
    if not isinstance(text, str):
        raise DataError(f"{where}: field 'text' must be a string")
    words = tokenize_words(text)
    starts = {s: i for i, (_, s, _) in enumerate(words)}
    ends = {e: i for i, (_, _, e) in enumerate(words)}
    spans = []
    for j, ent in enumerate(record.get("entities") or record.get("spans") or []):
        try:
            if isinstance(ent, Mapping):
                start, end, label = ent["start"], ent["end"], ent["label"]
            else:
                start, end, label = ent
        except (KeyError, ValueError, TypeError):
            raise DataError(
                f"{where}: entity {j} must be {{'start': int, 'end': int, 'label': str}} or [start, end, label]"
            ) from None
        if not (isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(text)):
            raise DataError(f"{where}: entity {j} has character offsets {start}..{end} outside the text")
        if start not in starts or end not in ends:
            raise DataError(
                f"{where}: entity {j} ({text[start:end]!r}, {start}..{end}) does not start and end on word "
                "boundaries of stage2's tokenizer; give 'tokens' and 'tags' instead"
            )
        if allowed is not None and label not in allowed:
            raise DataError(f"{where}: unknown entity type {label!r}; expected one of {sorted(allowed)}")
        spans.append(Span(str(label), starts[start], ends[end] + 1))
    try:
        spans_to_tags(spans, len(words))
    except ValueError as err:
        raise DataError(f"{where}: {err}") from None
    return NERExample([w for w, _, _ in words], spans, where)


def read_jsonl(
    path: str | Path, scheme: str = "iob2", repair: bool = False, labels: Iterable[str] | None = None
) -> list[NERExample]:
    """Read JSON lines (optionally gzipped): ``{"tokens": [...], "tags": [...]}`` or
    ``{"text": ..., "entities": [{"start", "end", "label"}]}`` per line.

    ``labels`` restricts the allowed entity types; anything else raises :class:`DataError`.
    """
    path = Path(path)
    allowed = set(labels) if labels is not None else None
    out = []
    for where, record in iter_jsonl(path):
        if not isinstance(record, dict):
            raise DataError(f"{where}: expected a JSON object")
        if "tokens" in record:
            if "tags" not in record:
                raise DataError(f"{where}: has 'tokens' but no 'tags'")
            out.append(_example_from_tags(record["tokens"], record["tags"], where, scheme, repair, allowed))
        elif "text" in record:
            out.append(_example_from_text(record, where, allowed))
        else:
            raise DataError(f"{where}: expected fields 'tokens' and 'tags', or 'text' and 'entities'")
    if not out:
        raise DataError(f"{path}: no examples found (the file is empty)")
    return out


def read_conll(
    path: str | Path,
    scheme: str = "iob2",
    repair: bool = False,
    labels: Iterable[str] | None = None,
    tag_column: int = -1,
) -> list[NERExample]:
    """Read a CoNLL column file: one word per line, the tag in the last column (``tag_column``),
    sentences separated by blank lines; ``-DOCSTART-`` lines are skipped.
    """
    path = Path(path)
    allowed = set(labels) if labels is not None else None
    out: list[NERExample] = []
    tokens: list[str] = []
    tags: list[str] = []
    first_line = 0

    def flush() -> None:
        if tokens:
            where = f"{path}, sentence starting at line {first_line}"
            out.append(_example_from_tags(list(tokens), list(tags), where, scheme, repair, allowed))
        tokens.clear()
        tags.clear()

    for lineno, line in enumerate(open_text(path), 1):
        line = line.rstrip("\n")
        if not line.strip():
            flush()
            continue
        if line.startswith("-DOCSTART-"):
            flush()
            continue
        cols = line.split()
        if len(cols) < 2:
            raise DataError(f"{path}, line {lineno}: expected a word and a tag separated by whitespace, got {line!r}")
        if not tokens:
            first_line = lineno
        tokens.append(cols[0])
        tags.append(cols[tag_column])
    flush()
    if not out:
        raise DataError(f"{path}: no sentences found (the file is empty)")
    return out


def from_dataset(
    dataset: Any,
    tokens_field: str = "tokens",
    tags_field: str = "tags",
    tag_names: Sequence[str] | None = None,
    scheme: str = "iob2",
    repair: bool = False,
) -> list[NERExample]:
    """Convert a ``datasets.Dataset`` (or any list of dicts) with word and tag columns.

    Integer tags (``ner_tags`` of a ClassLabel) are mapped through ``tag_names`` or the
    dataset's own feature names.
    """
    if tag_names is None and hasattr(dataset, "features"):
        feature = dataset.features.get(tags_field)
        inner = getattr(feature, "feature", None)
        tag_names = getattr(inner, "names", None)
    out = []
    for i, row in enumerate(dataset):
        where = f"dataset row {i}"
        if tokens_field not in row or tags_field not in row:
            raise DataError(f"{where}: expected fields {tokens_field!r} and {tags_field!r}")
        tags = row[tags_field]
        if tags and isinstance(tags[0], int):
            if tag_names is None:
                raise DataError(f"{where}: tags are integers; pass tag_names to map them")
            tags = [tag_names[t] for t in tags]
        out.append(_example_from_tags(list(row[tokens_field]), list(tags), where, scheme, repair, None))
    if not out:
        raise DataError("the dataset is empty")
    return out


def load_ner_data(source: Any, scheme: str = "iob2", repair: bool = False) -> list[NERExample]:
    """Load NER examples from a path (``.jsonl``/``.json``/``.gz`` JSON lines, anything else CoNLL
    columns), a ``datasets.Dataset``, or a list of :class:`NERExample`.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file")
        name = path.name.lower()
        if name.endswith((".jsonl", ".json", ".jsonl.gz", ".json.gz", ".ndjson")):
            return read_jsonl(path, scheme=scheme, repair=repair)
        return read_conll(path, scheme=scheme, repair=repair)
    if isinstance(source, list) and all(isinstance(e, NERExample) for e in source):
        if not source:
            raise DataError("the list of examples is empty")
        return source
    return from_dataset(source, scheme=scheme, repair=repair)


def add_document_context(
    examples: Sequence[NERExample], words: int = 64, boundaries: Iterable[int] = ()
) -> list[NERExample]:
    """Copies of ``examples`` (consecutive sentences of documents) whose ``context`` holds up to
    ``words`` words of the neighbouring sentences on each side. Context never crosses a document
    boundary: ``boundaries`` are the indices of the examples that start a new document.
    """
    if words < 0:
        raise ValueError(f"words must be >= 0, got {words}")
    starts = sorted(set(boundaries) | {0})
    doc_of = []
    d = -1
    for i in range(len(examples)):
        while d + 1 < len(starts) and starts[d + 1] <= i:
            d += 1
        doc_of.append(d)
    out = []
    for i, ex in enumerate(examples):
        before: list[str] = []
        j = i - 1
        while j >= 0 and doc_of[j] == doc_of[i] and len(before) < words:
            before = examples[j].tokens + before
            j -= 1
        after: list[str] = []
        j = i + 1
        while j < len(examples) and doc_of[j] == doc_of[i] and len(after) < words:
            after = after + examples[j].tokens
            j += 1
        ctx = (before[len(before) - words :] if words else [], after[:words])
        out.append(NERExample(ex.tokens, ex.spans, ex.source, ctx))
    return out


def entity_types(examples: Iterable[NERExample]) -> list[str]:
    """The sorted entity types that occur in the examples."""
    return sorted({s.label for e in examples for s in e.spans})


def kshot_sample(
    examples: Sequence[NERExample], k: int, seed: int, types: Sequence[str] | None = None
) -> list[NERExample]:
    """Greedy per-type K-shot sampling (Yang and Katiyar 2020).

    Visit types from rarest to most frequent; for each, add random sentences containing it until
    it has at least ``k`` mentions (counting mentions that earlier additions brought along).

    >>> data = [NERExample(["A"], [Span("X", 0, 1)]), NERExample(["B"], [Span("Y", 0, 1)])]
    >>> len(kshot_sample(data, 1, seed=1))
    2
    """
    rng = random.Random(seed)
    types = list(types) if types is not None else entity_types(examples)
    freq = Counter(s.label for e in examples for s in e.spans)
    order = sorted(types, key=lambda t: (freq[t], t))
    counts: Counter[str] = Counter()
    chosen: list[int] = []
    taken: set[int] = set()
    for typ in order:
        pool = [i for i, e in enumerate(examples) if any(s.label == typ for s in e.spans)]
        rng.shuffle(pool)
        for i in pool:
            if counts[typ] >= k:
                break
            if i in taken:
                continue
            taken.add(i)
            chosen.append(i)
            counts.update(s.label for s in examples[i].spans if s.label in types)
    return [examples[i] for i in chosen]

"""Property-based tests (hypothesis) over the readers, ``predict`` and ``summarize``, torch and runtime.

Random unicode in NFC and NFD (combining marks, every script, control characters, lone surrogates),
random label sets and budgets. Invariants: only the documented errors, offsets that slice the input
exactly, entities that never start or end inside a word, torch and the runtime agreeing, and every
budget honoured. Derandomised, so a run is repeatable and CI cannot flake.
"""

from __future__ import annotations

import gzip
import json
import unicodedata

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import stage2.runtime as rt  # noqa: E402
from stage2.io import DataError  # noqa: E402
from stage2.ner.data import read_jsonl, tokenize_words  # noqa: E402
from stage2.summarization.segmenting import split_sentences  # noqa: E402

SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None)
FEW = settings(max_examples=15, deadline=None, derandomize=True, database=None)

_WORDS = st.sampled_from(
    ["Ada", "Lovelace", "met", "Bob", "in", "Paris", ".", ",", "Zoë", "Montréal", "मुंबई", "東京", "القاهرة", "!", "?"]
)
_ANY = st.characters(codec=None, exclude_categories=("Cs",))
_ODD = st.sampled_from(["\u0301", "\u0308", "\u200d", "\u200c", "\x00", "\x07", "\t", "\n", "\ud800", "\udce9", " "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    """Words, random characters and odd ones (marks, controls, lone surrogates), in NFC or NFD."""
    parts = draw(st.lists(st.one_of(_WORDS, st.text(_ANY, max_size=6), _ODD), max_size=25))
    text = " ".join(parts) if draw(st.booleans()) else "".join(parts)
    form = draw(st.sampled_from(["NFC", "NFD", None]))
    if form is not None and not any("\ud800" <= ch <= "\udfff" for ch in text):
        text = unicodedata.normalize(form, text)
    return text


# Label names a user would type. Two names the uncased tokenizer cannot tell apart ("ʓ" and "ſ" are both
# [UNK]; "Café" and "cafe" are the same subwords) tie exactly, and torch and the runtime may then pick
# either: names here are distinct lower-case words, or real names in several scripts.
label_sets = st.lists(
    st.one_of(
        st.from_regex(r"[a-z]{2,10}( [a-z]{2,8})?", fullmatch=True),
        st.sampled_from(["person", "city", "東京の区", "Zoë's band", "القاهرة", "gene or protein", "मुंबई"]),
    ),
    min_size=1,
    max_size=6,
    unique=True,
)


def _is_mark(ch: str) -> bool:
    return unicodedata.category(ch).startswith("M") or ch in "\u200c\u200d"


def _word_edges(text: str) -> tuple[set[int], set[int]]:
    words = tokenize_words(text)
    return {s for _, s, _ in words}, {e for _, _, e in words}


@SETTINGS
@given(texts())
def test_words_slice_the_text_and_never_split_a_mark_from_its_letter(text):
    words = tokenize_words(text)
    assert all(text[s:e] == w and w for w, s, e in words)
    covered = sorted(i for _, s, e in words for i in range(s, e))
    assert covered == [i for i, ch in enumerate(text) if not ch.isspace()]
    for _, s, e in words:
        assert e == len(text) or not _is_mark(text[e])  # a word never ends before its combining mark
        assert s == 0 or text[s - 1].isspace() or not _is_mark(text[s])


@pytest.fixture(scope="module")
def engines(ner_export):
    return rt.load(ner_export[0]), ner_export[1]


@FEW
@given(st.lists(texts(), min_size=1, max_size=4), st.one_of(st.none(), label_sets))
def test_predict_offsets_words_and_engines_agree(engines, batch, labels):
    runtime, torch_model = engines
    got = runtime.predict(batch, labels=labels)
    assert len(got) == len(batch)
    for text, entities in zip(batch, got, strict=True):
        starts, ends = _word_edges(text)
        for ent in entities:
            assert text[ent["char_start"] : ent["char_end"]] == ent["text"]
            assert ent["char_start"] in starts and ent["char_end"] in ends  # whole words only
            assert labels is None or ent["label"] in [lb.strip() for lb in labels]
    assert [[(e["label"], e["char_start"], e["char_end"]) for e in ents] for ents in got] == [
        [(e["label"], e["char_start"], e["char_end"]) for e in ents]
        for ents in torch_model.predict(batch, labels=labels)
    ]


@FEW
@given(st.one_of(st.integers(), st.floats(), st.binary(), st.none(), st.lists(st.integers(), min_size=1)))
def test_predict_rejects_non_text_with_a_type_error(engines, value):
    with pytest.raises(TypeError):
        engines[0].predict(value)


@st.composite
def documents(draw: st.DrawFn) -> str:
    sentences = draw(st.lists(texts(), min_size=1, max_size=8))
    end = draw(st.sampled_from([". ", "! ", "。", "? ", "\n", "। "]))
    return end.join(sentences)


budgets = st.one_of(
    st.fixed_dictionaries({"max_sentences": st.integers(1, 5)}),
    st.fixed_dictionaries({"max_words": st.integers(1, 40)}),
    st.fixed_dictionaries({"ratio": st.floats(0.05, 1.0)}),
)


@FEW
@given(documents(), budgets, st.one_of(st.none(), st.text(max_size=20)))
def test_summaries_slice_the_document_and_honour_the_budget(summarizer_export, doc, budget, focus):
    runtime = rt.load(summarizer_export[0])
    result = runtime.summarize(doc, focus=focus, **budget)
    sents = split_sentences(doc)
    chosen = result["sentences"]
    for s in chosen:
        assert doc[s["start"] : s["end"]] == s["text"] == sents[s["index"]].text
    assert [s["index"] for s in chosen] == sorted({s["index"] for s in chosen})
    if "max_sentences" in budget:
        assert len(chosen) <= budget["max_sentences"]
    if "max_words" in budget and len(chosen) > 1:  # the best sentence alone may be longer (documented)
        assert sum(len(s["text"].split()) for s in chosen) <= budget["max_words"]
    assert bool(chosen) == bool(sents)
    torch_result = summarizer_export[1].summarize(doc, focus=focus, **budget)
    assert [s["index"] for s in torch_result["sentences"]] == [s["index"] for s in chosen]


@SETTINGS
@given(st.binary(max_size=300))
def test_reading_any_bytes_gives_examples_or_a_data_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("read") / "data.jsonl"
    path.write_bytes(raw)
    try:
        read_jsonl(path)
    except DataError as err:
        assert str(path) in str(err)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=12,
)
records = st.dictionaries(st.sampled_from(["tokens", "tags", "text", "entities", "spans", "label"]), json_values)


@SETTINGS
@given(st.lists(records, max_size=4))
def test_reading_any_json_records_gives_examples_or_a_data_error(tmp_path_factory, records):
    path = tmp_path_factory.mktemp("read") / "data.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    try:
        read_jsonl(path)
    except DataError as err:
        assert str(path) in str(err)

from __future__ import annotations

import gzip
import json
import shutil
from collections import Counter

import pytest

from stage2.io import DataError
from stage2.labels import Span
from stage2.ner.data import (
    NERExample,
    entity_types,
    from_dataset,
    kshot_sample,
    load_ner_data,
    read_conll,
    read_jsonl,
    tokenize_words,
)


def write_jsonl(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


# ----------------------------------------------------------------- CoNLL


def test_read_conll_fixture(fixtures_dir):
    examples = read_conll(fixtures_dir / "tiny.conll")
    assert [e.tokens for e in examples] == [
        ["Ada", "Lovelace", "lived", "in", "London", "."],
        ["Alan", "Turing", "visited", "Paris", "."],
    ]
    assert examples[0].spans == [Span("person", 0, 2), Span("city", 4, 5)]
    assert examples[1].tags == ["B-person", "I-person", "O", "B-city", "O"]
    assert "line 3" in examples[0].source
    assert "line 10" in examples[1].source


def test_read_conll_docstart_without_blank_line_and_no_trailing_newline(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("-DOCSTART- O\nAda B-PER\n\n\n\nin O\nRome B-LOC\n-DOCSTART- O\nBob B-PER", encoding="utf-8")
    examples = read_conll(path)
    assert [e.tokens for e in examples] == [["Ada"], ["in", "Rome"], ["Bob"]]
    assert [e.spans for e in examples] == [[Span("PER", 0, 1)], [Span("LOC", 1, 2)], [Span("PER", 0, 1)]]


def test_read_conll_tag_column(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("Ada B-PER NNP\nsang O VBD\n", encoding="utf-8")
    assert read_conll(path, tag_column=1)[0].spans == [Span("PER", 0, 1)]


def test_read_conll_one_column_line_names_file_and_line(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Ada B-PER\nsang O\n\nLondon\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.conll, line 4") as info:
        read_conll(path)
    assert "'London'" in str(info.value)


def test_read_conll_bad_tag_names_sentence(tmp_path):
    path = tmp_path / "bad.conll"
    path.write_text("Ada B-PER\n\nsang O\nLovelace I-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"bad\.conll, sentence starting at line 3"):
        read_conll(path)
    assert read_conll(path, repair=True)[1].spans == [Span("PER", 1, 2)]
    assert read_conll(path, scheme="iob1")[1].spans == [Span("PER", 1, 2)]


def test_read_conll_unknown_type(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("Ada B-PER\n", encoding="utf-8")
    with pytest.raises(DataError, match="unknown entity type 'PER'"):
        read_conll(path, labels=["LOC"])


def test_read_conll_empty(tmp_path):
    path = tmp_path / "empty.conll"
    path.write_text("-DOCSTART- O\n\n\n", encoding="utf-8")
    with pytest.raises(DataError, match="empty"):
        read_conll(path)


def test_read_conll_gz(tmp_path, fixtures_dir):
    path = tmp_path / "tiny.conll.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write((fixtures_dir / "tiny.conll").read_text(encoding="utf-8"))
    assert [e.spans for e in read_conll(path)] == [e.spans for e in read_conll(fixtures_dir / "tiny.conll")]
    assert load_ner_data(path)[1].tokens == ["Alan", "Turing", "visited", "Paris", "."]


# ----------------------------------------------------------------- JSON lines


def test_read_jsonl_fixture_both_forms(fixtures_dir):
    examples = read_jsonl(fixtures_dir / "tiny.jsonl")
    assert examples[0].tokens == ["Bob", "went", "to", "Berlin", "."]
    assert examples[0].spans == [Span("person", 0, 1), Span("city", 3, 4)]
    assert examples[1].tokens == ["Grace", "Hopper", "flew", "to", "Rome", "."]
    assert examples[1].spans == [Span("person", 0, 2), Span("city", 4, 5)]
    assert examples[1].source.endswith("line 2")


def test_read_jsonl_skips_blank_lines_and_accepts_spans_field(tmp_path):
    path = tmp_path / "a.jsonl"
    path.write_text('\n{"text": "Ada sang.", "spans": [[0, 3, "PER"]]}\n\n', encoding="utf-8")
    assert read_jsonl(path)[0].spans == [Span("PER", 0, 1)]


def test_read_jsonl_gz(tmp_path):
    path = tmp_path / "a.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps({"tokens": ["Ada"], "tags": ["B-PER"]}) + "\n")
    assert read_jsonl(path)[0].spans == [Span("PER", 0, 1)]
    assert load_ner_data(path)[0].spans == [Span("PER", 0, 1)]


@pytest.mark.parametrize(
    ("second_line", "message"),
    [
        ({"tokens": ["a", "b"], "tags": ["O"]}, "2 tokens but 1 tags"),
        ({"tokens": ["a"], "tags": ["B-PER"]}, "unknown entity type 'PER'"),
        ({"text": "Ada sang", "entities": [[0, 3, "PER"]]}, "unknown entity type 'PER'"),
        ({"text": "Adams sang", "entities": [[0, 3, "person"]]}, "word boundaries"),
        ({"text": "Ada sang", "entities": [[1, 3, "person"]]}, "word boundaries"),
        ({"text": "Ada sang", "entities": [[0, 30, "person"]]}, "outside the text"),
        ({"text": "Ada sang", "entities": [{"start": 0, "label": "person"}]}, "entity 0 must be"),
        ({"text": "Ada Lovelace", "entities": [[0, 12, "person"], [4, 12, "person"]]}, "overlaps"),
        ({"tokens": ["a"]}, "no 'tags'"),
        ({"tokens": "a b", "tags": ["O", "O"]}, "'tokens' must be a list"),
        ({"words": ["a"]}, "expected fields"),
        (["a", "b"], "expected a JSON object"),
        ({"tokens": ["a"], "tags": ["I-person"]}, "IOB2 needs B-person"),
    ],
)
def test_read_jsonl_errors_name_file_and_line(tmp_path, second_line, message):
    path = write_jsonl(tmp_path / "data.jsonl", [{"tokens": ["Ada"], "tags": ["B-person"]}, second_line])
    with pytest.raises(DataError) as info:
        read_jsonl(path, labels=["person"])
    text = str(info.value)
    assert f"{path}, line 2" in text
    assert message in text


def test_read_jsonl_bad_json_names_line(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"tokens": ["a"], "tags": ["O"]}\n{"tokens": [\n', encoding="utf-8")
    with pytest.raises(DataError, match=r"data\.jsonl, line 2: not valid JSON"):
        read_jsonl(path)


def test_read_jsonl_empty_file(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("\n  \n", encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.jsonl: no examples"):
        read_jsonl(path)


# ----------------------------------------------------------------- dispatch and datasets


def test_load_ner_data_dispatch(tmp_path, fixtures_dir):
    conll = load_ner_data(fixtures_dir / "tiny.conll")
    assert len(conll) == 2
    # A CoNLL file with an unusual suffix is still read as CoNLL; a .json file as JSON lines.
    shutil.copy(fixtures_dir / "tiny.conll", tmp_path / "train.txt")
    assert [e.spans for e in load_ner_data(str(tmp_path / "train.txt"))] == [e.spans for e in conll]
    shutil.copy(fixtures_dir / "tiny.jsonl", tmp_path / "train.json")
    assert load_ner_data(tmp_path / "train.json")[0].tokens[0] == "Bob"
    assert load_ner_data(conll) is conll
    with pytest.raises(FileNotFoundError, match=r"missing\.conll"):
        load_ner_data(tmp_path / "missing.conll")
    with pytest.raises(DataError, match="empty"):
        load_ner_data([])


def test_load_ner_data_passes_scheme(tmp_path):
    path = tmp_path / "a.conll"
    path.write_text("Ada S-PER\nsang O\n", encoding="utf-8")
    with pytest.raises(DataError):
        load_ner_data(path)
    assert load_ner_data(path, scheme="bioes")[0].spans == [Span("PER", 0, 1)]


def test_from_dataset_with_classlabel_ints():
    datasets = pytest.importorskip("datasets")
    names = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    features = datasets.Features(
        {
            "tokens": datasets.Sequence(datasets.Value("string")),
            "ner_tags": datasets.Sequence(datasets.ClassLabel(names=names)),
        }
    )
    ds = datasets.Dataset.from_dict(
        {"tokens": [["Ada", "Lovelace", "in", "Rome"], ["hello"]], "ner_tags": [[1, 2, 0, 3], [0]]},
        features=features,
    )
    examples = from_dataset(ds, tags_field="ner_tags")
    assert examples[0].spans == [Span("PER", 0, 2), Span("LOC", 3, 4)]
    assert examples[1].spans == []
    assert load_ner_data(ds.rename_column("ner_tags", "tags"))[0].tags == ["B-PER", "I-PER", "O", "B-LOC"]


def test_from_dataset_plain_rows():
    rows = [{"tokens": ["Ada"], "tags": [1]}]
    assert from_dataset(rows, tag_names=["O", "B-PER"])[0].spans == [Span("PER", 0, 1)]
    with pytest.raises(DataError, match="tag_names"):
        from_dataset(rows)
    with pytest.raises(DataError, match="row 0"):
        from_dataset([{"words": ["Ada"]}])
    with pytest.raises(DataError, match="empty"):
        from_dataset([])


# ----------------------------------------------------------------- words


@pytest.mark.parametrize(
    "text",
    [
        "Ada met Bob.",
        "The U.S. spent $1,000.50 at 12:30 on e.g. well-known don't-stop items!",
        "  Zoë   visited  São Paulo\tand\nKraków (Poland) — naïve café ",
        "\u0301lone mark . \u0301 and Montre\u0301al",
        "",
        "   ",
    ],
)
def test_tokenize_words_offsets(text):
    words = tokenize_words(text)
    assert all(text[s:e] == w for w, s, e in words)
    assert all(w.strip() == w and w for w, _, _ in words)
    assert [s for _, s, _ in words] == sorted(s for _, s, _ in words)
    # Every non-space character belongs to exactly one word.
    covered = sorted(i for _, s, e in words for i in range(s, e))
    assert covered == [i for i, ch in enumerate(text) if not ch.isspace()]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Zoe\u0308 Salda\u0303na met Franc\u0327ois Hollande in Montre\u0301al.",
            ["Zoe\u0308", "Salda\u0303na", "met", "Franc\u0327ois", "Hollande", "in", "Montre\u0301al", "."],
        ),
        (
            "Angela Merkel visited \u092e\u0941\u0902\u092c\u0908.",
            ["Angela", "Merkel", "visited", "\u092e\u0941\u0902\u092c\u0908", "."],
        ),
        ("\u06a9\u062a\u0627\u0628\u200c\u0647\u0627 x", ["\u06a9\u062a\u0627\u0628\u200c\u0647\u0627", "x"]),
    ],
)
def test_tokenize_words_keeps_combining_marks_inside_words(text, expected):
    """NFD accents, Indic vowel signs and zero-width joiners never cut a word."""
    assert [w for w, _, _ in tokenize_words(text)] == expected
    assert all(text[s:e] == w for w, s, e in tokenize_words(text))


def test_tokenize_words_keeps_abbreviations_and_numbers():
    words = [w for w, _, _ in tokenize_words("The U.S. paid 1,000.50 for well-known items.")]
    assert words == ["The", "U.S.", "paid", "1,000.50", "for", "well-known", "items", "."]


# ----------------------------------------------------------------- K-shot


def _synthetic(n: int = 300):
    import random

    rng = random.Random(0)
    types = ["PER", "LOC", "ORG", "MISC"]
    out = []
    for i in range(n):
        spans = []
        pos = 0
        for _ in range(rng.randint(0, 3)):
            start = pos + rng.randint(0, 2)
            end = start + rng.randint(1, 2)
            spans.append(Span(rng.choice(types if i % 10 else ["MISC"]), start, end))
            pos = end
        out.append(NERExample([f"w{i}_{j}" for j in range(pos + 1)], spans))
    return out


@pytest.mark.parametrize("k", [1, 5, 10])
def test_kshot_sample_reaches_k_per_type(k):
    data = _synthetic()
    sample = kshot_sample(data, k, seed=3)
    counts = Counter(s.label for e in sample for s in e.spans)
    assert all(counts[t] >= k for t in entity_types(data))
    assert len(sample) == len({id(e) for e in sample})  # no sentence twice
    assert len(sample) < len(data)


def test_kshot_sample_deterministic_per_seed_and_differs_across_seeds():
    data = _synthetic()
    first = kshot_sample(data, 5, seed=1)
    assert [id(e) for e in first] == [id(e) for e in kshot_sample(data, 5, seed=1)]
    assert [id(e) for e in first] != [id(e) for e in kshot_sample(data, 5, seed=2)]


def test_kshot_sample_restricted_types():
    data = _synthetic()
    sample = kshot_sample(data, 2, seed=0, types=["ORG"])
    assert all(any(s.label == "ORG" for s in e.spans) for e in sample)
    assert sum(s.label == "ORG" for e in sample for s in e.spans) >= 2


def test_kshot_sample_docstring_case():
    data = [NERExample(["A"], [Span("X", 0, 1)]), NERExample(["B"], [Span("Y", 0, 1)]), NERExample(["C"])]
    assert sorted(e.tokens[0] for e in kshot_sample(data, 1, seed=1)) == ["A", "B"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Angela Mer\u00adkel", ["Angela", "Mer\u00adkel"]),  # soft hyphen
        ("Jean\u200bPierre and a\u2060b", ["Jean\u200bPierre", "and", "a\u2060b"]),  # ZWSP, word joiner
        ("\u200eParis\u200f.", ["\u200eParis\u200f", "."]),  # bidi marks at a word's edges stay with it
        ("x\x00y", ["x\x00y"]),
        ("Jean\u2010Pierre went to Col\u00b7legi", ["Jean\u2010Pierre", "went", "to", "Col\u00b7legi"]),
        ("a \u00b7 b - c", ["a", "\u00b7", "b", "-", "c"]),  # a spaced dot or hyphen is still a symbol
    ],
)
def test_format_characters_and_word_internal_hyphens_never_split_a_word(text, expected, tokenizer):
    """Issue 23: a soft hyphen, ZWSP, WJ, LRM, NUL, U+2010 or the middle dot used to cut words."""
    words = tokenize_words(text)
    assert [w for w, _, _ in words] == expected
    assert all(text[s:e] == w for w, s, e in words)
    # the encoder reads a word with a soft hyphen as the word without it
    plain = tokenizer(["Merkel"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    soft = tokenizer(["Mer\u00adkel"], is_split_into_words=True, add_special_tokens=False)["input_ids"]
    assert plain == soft

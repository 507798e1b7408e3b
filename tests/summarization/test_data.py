from __future__ import annotations

import gzip
import json

import pytest

from stage2.io import DataError
from stage2.summarization.data import (
    SummaryExample,
    budget_in_words,
    greedy_oracle,
    load_summarization_data,
    read_summarization_jsonl,
    summarization_from_dataset,
    word_count,
)

GOOD = {"document": "Ada sang. Bob danced.", "summary": "Ada sang."}


def write_lines(path, lines):
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_read_jsonl(tmp_path, fixtures_dir):
    examples = read_summarization_jsonl(fixtures_dir / "summarization" / "tiny.jsonl")
    assert len(examples) == 4
    first = examples[0]
    assert first.summary.startswith("The central bank")
    assert len(first.sentences) == 4
    assert all(first.document[s.start : s.end] == s.text for s in first.sentences)
    assert first.source.endswith("tiny.jsonl, line 1")


def test_read_jsonl_skips_blank_lines_and_reads_gzip(tmp_path):
    path = tmp_path / "data.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write(json.dumps(GOOD) + "\n\n" + json.dumps(GOOD) + "\n")
    examples = read_summarization_jsonl(path)
    assert [e.source for e in examples] == [f"{path}, line 1", f"{path}, line 3"]


def test_read_jsonl_reads_an_optional_focus(tmp_path):
    lines = [json.dumps({**GOOD, "focus": "What did Ada do?"}), json.dumps({**GOOD, "focus": None}), json.dumps(GOOD)]
    examples = read_summarization_jsonl(write_lines(tmp_path / "q.jsonl", lines))
    assert [e.focus for e in examples] == ["What did Ada do?", None, None]


def test_read_jsonl_custom_fields(tmp_path):
    path = write_lines(
        tmp_path / "samsum.jsonl", [json.dumps({"dialogue": "Ann: hi\nBo: yo", "summary": "They greet."})]
    )
    (ex,) = read_summarization_jsonl(path, document_field="dialogue")
    assert ex.document == "Ann: hi\nBo: yo" and [s.text for s in ex.sentences] == ["Ann: hi", "Bo: yo"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ('{"summary": "x"}', "missing field 'document'"),
        ('{"document": "x"}', "missing field 'summary'"),
        ('{"document": "x", "summary": ', "not valid JSON"),
        ('{"document": 3, "summary": "x"}', "field 'document' must be a string"),
        ('{"document": "x", "summary": ["x"]}', "field 'summary' must be a string"),
        ('["x", "y"]', "expected a JSON object"),
        ('{"document": "x", "summary": "x", "focus": 3}', "field 'focus' must be a string or null, got int"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, bad, message):
    path = write_lines(tmp_path / "bad.jsonl", [json.dumps(GOOD), "", bad])
    with pytest.raises(DataError) as info:
        read_summarization_jsonl(path)
    assert f"{path}, line 3" in str(info.value)
    assert message in str(info.value)


@pytest.mark.parametrize("content", ["", "\n  \n"])
def test_empty_file(tmp_path, content):
    path = tmp_path / "empty.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataError, match=r"empty\.jsonl: no examples"):
        read_summarization_jsonl(path)


def test_from_datasets_dataset():
    from datasets import Dataset

    ds = Dataset.from_dict(
        {"dialogue": ["Ann: hi\nBo: hello", "Ann: bye\nBo: see you"], "summary": ["They greet.", "They part."]}
    )
    examples = summarization_from_dataset(ds, document_field="dialogue")
    assert [e.summary for e in examples] == ["They greet.", "They part."]
    assert examples[1].source == "dataset row 1"
    assert len(examples[0].sentences) == 2
    with pytest.raises(DataError, match="dataset row 0: missing field 'document'"):
        summarization_from_dataset(ds)
    with pytest.raises(DataError, match="empty"):
        summarization_from_dataset(ds.select([]))


def test_load_summarization_data_sources(tmp_path):
    path = write_lines(tmp_path / "d.jsonl", [json.dumps(GOOD)])
    assert load_summarization_data(str(path))[0].summary == "Ada sang."
    examples = [SummaryExample("Ada sang.", "Ada sang.")]
    assert load_summarization_data(examples) is examples
    assert load_summarization_data([GOOD])[0].document == GOOD["document"]
    with pytest.raises(FileNotFoundError, match=r"nope\.jsonl"):
        load_summarization_data(tmp_path / "nope.jsonl")


SENTS = [
    "The central bank raised interest rates by half a point on Tuesday.",
    "The weather was sunny in the capital.",
    "Inflation hit its highest level in a decade last month.",
    "A local football team won the cup.",
]
REFERENCE = "Inflation hit its highest level in a decade, so the central bank raised interest rates by half a point."


def test_greedy_oracle_picks_matching_sentences_in_document_order():
    assert greedy_oracle(SENTS, REFERENCE) == [0, 2]
    # reversed, the best sentence (picked first) is the later one: the result is still sorted
    assert greedy_oracle(list(reversed(SENTS)), REFERENCE, max_sentences=1) == [3]
    assert greedy_oracle(list(reversed(SENTS)), REFERENCE) == [1, 3]


def test_greedy_oracle_limits():
    assert greedy_oracle(SENTS, REFERENCE, max_sentences=1) == [0]
    # the first choice (12 words) is taken; the second (10 more words) does not fit in 14 words
    assert greedy_oracle(SENTS, REFERENCE, max_words=14) == [0]
    assert greedy_oracle(SENTS, REFERENCE, max_words=5) == [0]  # the first is always taken
    assert greedy_oracle(SENTS, REFERENCE, max_words=30) == [0, 2]


def test_greedy_oracle_degenerate():
    assert greedy_oracle([], "anything") == []
    assert greedy_oracle(SENTS, "") == []
    assert greedy_oracle(SENTS, "zebras quietly yawn") == []
    assert greedy_oracle(["", "...", "the cat"], "the cat") == [2]


def test_budget_in_words():
    assert budget_in_words(100, None, None) is None
    assert budget_in_words(100, 12, None) == 12
    assert budget_in_words(100, None, 0.25) == 25
    assert budget_in_words(3, None, 0.1) == 1  # never zero
    assert word_count("  a b\nc ") == 3

from __future__ import annotations

import json
import logging

import pytest
import torch

from stage2.loop import TrainingConfig
from stage2.registry import TORCH_CONFIG
from stage2.summarization.data import SummaryExample
from stage2.summarization.seq2seq import Seq2SeqSummarizer, train_seq2seq

SHORT = "Acme said profit rose. Shares rose 3% in New York."


def test_summarize_returns_a_string_summary(tiny_seq2seq):
    result = tiny_seq2seq.summarize(SHORT, max_words=4, num_beams=1)
    assert set(result) == {"summary", "sentences"}
    assert isinstance(result["summary"], str) and result["summary"]
    assert result["sentences"] == []
    batch = tiny_seq2seq.summarize([SHORT, " "], max_words=4, num_beams=1)
    assert isinstance(batch, list) and batch[0] == result


@pytest.mark.parametrize("doc", ["", "  \n "])
def test_empty_document_gives_empty_summary(tiny_seq2seq, doc):
    assert tiny_seq2seq.summarize(doc) == {"summary": "", "sentences": []}


def test_bad_budget_is_rejected(tiny_seq2seq):
    with pytest.raises(ValueError, match="only one"):
        tiny_seq2seq.summarize(SHORT, max_words=3, ratio=0.5)


def test_long_document_is_chunked(tiny_seq2seq, summ_fixtures, caplog):
    doc = summ_fixtures["news"]
    chunks = tiny_seq2seq._chunks(doc)
    assert len(chunks) > 1
    # whole sentences, in order, nothing left out
    assert " ".join(chunks).split() == doc.split()
    assert tiny_seq2seq._chunks(SHORT) == [SHORT]
    with caplog.at_level(logging.INFO, logger="stage2.summarization.seq2seq"):
        result = tiny_seq2seq.summarize(doc, max_words=8, num_beams=1)
    assert isinstance(result["summary"], str)
    assert f"in {len(chunks)} chunks" in caplog.text


def test_training_changes_weights(tiny_seq2seq, summ_examples):
    before = {k: v.detach().clone() for k, v in tiny_seq2seq.state_dict().items()}
    cfg = TrainingConfig(min_steps=2, epochs=1, batch_size=2, progress=False, learning_rate=1e-3)
    result = train_seq2seq(tiny_seq2seq, summ_examples[:3], config=cfg, max_target_length=16)
    assert result.steps == 2
    after = tiny_seq2seq.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert tiny_seq2seq.card["training"][-1]["documents"] == 3


def test_training_needs_pairs(tiny_seq2seq):
    with pytest.raises(ValueError, match="both a document and a summary"):
        train_seq2seq(tiny_seq2seq, [SummaryExample("Ada sang.", "")], config=TrainingConfig(progress=False))


def test_save_and_load_round_trip(tiny_seq2seq, tmp_path):
    tiny_seq2seq.card = {"note": "tiny"}
    expected = tiny_seq2seq.summarize(SHORT, max_words=6, num_beams=1)
    tiny_seq2seq.save_pretrained(tmp_path / "s2s")
    settings = json.loads((tmp_path / "s2s" / TORCH_CONFIG).read_text(encoding="utf-8"))
    assert settings["task"] == "abstractive-summarization"
    assert (settings["prefix"], settings["max_source_length"]) == ("summarize: ", 32)
    loaded = Seq2SeqSummarizer.from_pretrained(tmp_path / "s2s")
    assert (loaded.prefix, loaded.max_source_length, loaded.card) == ("summarize: ", 32, {"note": "tiny"})
    assert not loaded.training
    assert loaded.summarize(SHORT, max_words=6, num_beams=1) == expected
    other = Seq2SeqSummarizer.from_pretrained(tmp_path / "s2s", prefix="", max_source_length=64)
    assert (other.prefix, other.max_source_length) == ("", 64)

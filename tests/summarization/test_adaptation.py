from __future__ import annotations

import pytest
import torch

import stage2.summarization.adaptation as adaptation
from stage2.summarization.data import SummaryExample
from stage2.summarization.training import train_summarizer

TOPICS = ["prices", "weather", "football", "music", "trains", "schools"]


def corpus(n: int) -> list[SummaryExample]:
    """Documents whose reference is always the sentence about prices, wherever it stands."""
    out = []
    for i in range(n):
        order = TOPICS[i % 6 :] + TOPICS[: i % 6]
        sentences = [f"The report on {t} came out on day {i}." for t in order]
        out.append(SummaryExample(" ".join(sentences), f"The report on prices came out on day {i}."))
    return out


def test_kept_salience_changes_scores_and_is_recorded(tiny_summarizer, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: (10.0, 20.0))  # the check says it helps
    docs = corpus(12)
    before = tiny_summarizer.score_sentences([s.text for s in docs[0].sentences], "x").clone()
    report = adaptation.fit_salience(tiny_summarizer, docs, {"max_sentences": 1}, min_documents=2)
    assert report["kept"] == "salience" and report["kind"] == "prose" and report["documents"] == 12
    assert float(tiny_summarizer.salience.abs().sum()) > 0
    assert float(tiny_summarizer.dialogue_salience.abs().sum()) == 0  # only the documents' kind
    after = tiny_summarizer.score_sentences([s.text for s in docs[0].sentences], "x")
    assert not torch.allclose(before, after)
    assert tiny_summarizer.config.card["training"][-1] == report


def test_the_prior_is_kept_when_cross_validation_sees_no_gain(tiny_summarizer, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: (20.0, 20.0))
    with torch.no_grad():
        tiny_summarizer.salience.fill_(1.0)  # an earlier fit is replaced, not added to
    report = adaptation.fit_salience(tiny_summarizer, corpus(6), min_documents=2)
    assert report["kept"].startswith("prior")
    assert float(tiny_summarizer.salience.abs().sum()) == 0


def test_cross_validation_scores_held_out_documents(tiny_summarizer):
    report = adaptation.fit_salience(tiny_summarizer, corpus(12), {"max_sentences": 1}, folds=3, min_documents=2)
    assert 0 <= report["cv_rouge1_prior"] <= 100 and 0 <= report["cv_rouge1_adapted"] <= 100
    kept = report["cv_rouge1_adapted"] > report["cv_rouge1_prior"]
    assert (report["kept"] == "salience") == kept
    assert (float(tiny_summarizer.salience.abs().sum()) > 0) == kept


def test_too_few_documents_keep_the_prior_without_trying(tiny_summarizer, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: pytest.fail("no check below the minimum"))
    with torch.no_grad():
        tiny_summarizer.salience.fill_(1.0)
    report = adaptation.fit_salience(tiny_summarizer, corpus(12), min_documents=13)
    assert report["kept"] == "prior (fewer than 13 documents)"
    assert float(tiny_summarizer.salience.abs().sum()) == 0


def test_few_shot_training_can_fit_salience(tiny_summarizer, summ_examples):
    result = train_summarizer(tiny_summarizer, summ_examples[:2], summ_examples[2:], adaptation="salience")
    assert result.steps == 0 and result.best_dev is not None and 0 <= result.best_dev["rouge1"] <= 100
    assert tiny_summarizer.config.card["training"][-1]["adaptation"] == "salience"
    with pytest.raises(ValueError, match="adaptation"):
        train_summarizer(tiny_summarizer, summ_examples, adaptation="magic")
    with pytest.raises(ValueError, match="at least 2 documents"):
        adaptation.fit_salience(tiny_summarizer, summ_examples[:1])


def test_saved_and_reloaded_with_salience_and_older_models_load(tiny_summarizer, tmp_path):
    from safetensors.torch import load_file, save_file

    from stage2.summarization.modeling import Summarizer

    with torch.no_grad():
        tiny_summarizer.dialogue_salience.normal_()
    tiny_summarizer.save_pretrained(tmp_path / "m")
    loaded = Summarizer.from_pretrained(tmp_path / "m")
    assert torch.equal(loaded.dialogue_salience, tiny_summarizer.dialogue_salience)
    weights = load_file(str(tmp_path / "m" / "model.safetensors"))
    save_file({k: v for k, v in weights.items() if "salience" not in k}, str(tmp_path / "m" / "model.safetensors"))
    older = Summarizer.from_pretrained(tmp_path / "m")  # saved before salience existed: zero vectors
    assert float(older.dialogue_salience.abs().sum()) == 0


def test_focused_documents_are_scored_with_their_focus(tiny_summarizer, monkeypatch):
    seen = []
    real = tiny_summarizer.intent_prompt
    monkeypatch.setattr(
        tiny_summarizer, "intent_prompt", lambda doc, focus=None: seen.append(focus) or real(doc, focus)
    )
    docs = corpus(4)
    for d in docs[:2]:
        d.focus = "What about prices?"
    adaptation.fit_salience(tiny_summarizer, docs, {"max_sentences": 1}, folds=2, min_documents=2)
    assert seen == ["What about prices?"] * 2 + [None] * 2

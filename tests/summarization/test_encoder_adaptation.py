from __future__ import annotations

import math
import random

import pytest
import torch

import stage2.summarization.encoder_adaptation as adaptation
import stage2.summarization.training as training
from stage2.summarization.data import SummaryExample
from stage2.summarization.objectives import oracle_labels, ranking_loss
from stage2.summarization.training import train_summarizer

CV = {"rouge1_prior": 10.0, "rouge1_adapted": 5.0, "ranking_prior": 60.0, "ranking_adapted": 55.0}
CV_NOISE = CV | {"ranking_change": -5.0, "ranking_change_se": 4.0}  # a fall within the noise: kept
CV_HARM = CV | {"ranking_change": -5.0, "ranking_change_se": 2.0}  # beyond 1.645 standard errors: rejected
TOPICS = ["prices", "weather", "football", "music", "trains", "schools"]


def corpus(n: int, topics: list[str] = TOPICS) -> list[SummaryExample]:
    """Documents whose reference is always the sentence about prices, wherever it stands."""
    out = []
    for i in range(n):
        k = i % len(topics)
        sentences = [f"The report on {t} came out on day {i}." for t in topics[k:] + topics[:k]]
        out.append(SummaryExample(" ".join(sentences), f"The report on prices came out on day {i}."))
    return out


@pytest.fixture
def model(tiny_summarizer):
    """The tiny summariser with a prose weight on relevance (the default prose prior has none, so no
    gradient would reach the encoder)."""
    with torch.no_grad():
        tiny_summarizer.prior[tiny_summarizer.config.features.index("relevance")] = 2.0
    return tiny_summarizer


def weights(model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def changed(before: dict[str, torch.Tensor], model) -> set[str]:
    return {n for n, p in model.named_parameters() if not torch.equal(before[n], p.detach())}


def mean_loss(model, docs) -> float:
    labels = oracle_labels(docs)
    with torch.no_grad():
        losses = [
            ranking_loss(model.score_sentences([s.text for s in e.sentences], model.intent_prompt(e.document)), y)
            for e, y in zip(docs, labels, strict=True)
        ]
    return float(torch.stack(losses).mean())


def test_top_layers_are_found_by_number(model):
    top = adaptation.top_layer_parameters(model, 1)
    assert top and all(".layer.1." in n for n in top)  # the tiny BERT has layers 0 and 1
    both = adaptation.top_layer_parameters(model, 5)  # more than the encoder has: all of them
    assert {n.split(".layer.")[1][0] for n in both} == {"0", "1"}
    assert all(p is dict(model.named_parameters())[n] for n, p in top.items())
    with pytest.raises(ValueError, match="at least 1"):
        adaptation.top_layer_parameters(model, 0)


def test_a_kept_adaptation_trains_the_top_layers_only_and_is_recorded(model, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: CV_NOISE)  # the check says it helps
    before = weights(model)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    report = adaptation.fit_encoder(model, corpus(8), {"max_sentences": 1}, layers=1, steps=3)
    assert report["kept"] == "encoder" and report["documents"] == 8 and report["layers"] == 1
    assert changed(before, model) == set(adaptation.top_layer_parameters(model, 1))
    assert {n: p.requires_grad for n, p in model.named_parameters()} == flags  # restored
    assert not model.training
    assert model.config.card["training"][-1] == report


def test_fine_tuning_lowers_the_ranking_loss_on_its_documents(model):
    docs = corpus(6)
    labels = oracle_labels(docs)
    params = adaptation.top_layer_parameters(model, 2)
    start = mean_loss(model, docs)
    adaptation._tune(model, docs, labels, params, learning_rate=3e-3, steps=20, seed=0)
    assert mean_loss(model, docs) < start


def test_the_prior_is_kept_exactly_when_cross_validation_shows_harm(model, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: CV_HARM)
    before = weights(model)
    report = adaptation.fit_encoder(model, corpus(8), steps=3)
    assert report["kept"] == "prior (cross-validation: the ranking of held-out documents got worse)"
    assert not changed(before, model)


def test_cross_validation_restores_the_prior_between_folds(model):
    before = weights(model)
    report = adaptation.fit_encoder(model, corpus(9), {"max_sentences": 1}, folds=3, steps=4)
    assert 0 <= report["cv_rouge1_prior"] <= 100 and 0 <= report["cv_rouge1_adapted"] <= 100
    assert 0 <= report["cv_ranking_prior"] <= 100 and report["cv_held_out_documents"] == 9
    assert report["cv_ranking_change"] == pytest.approx(
        report["cv_ranking_adapted"] - report["cv_ranking_prior"], abs=0.02
    )
    kept = report["cv_ranking_change"] + adaptation.HARM_Z * report["cv_ranking_change_se"] >= 0
    assert (report["kept"] == "encoder") == kept
    assert bool(changed(before, model)) == kept


def test_no_gradient_to_the_encoder_keeps_the_prior_without_trying(tiny_summarizer, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: pytest.fail("nothing to adapt"))
    before = weights(tiny_summarizer)  # the default prose prior: relevance weight 0, no focus
    report = adaptation.fit_encoder(tiny_summarizer, corpus(8))
    assert report["kept"].startswith("prior (no gradient reaches the encoder")
    assert not changed(before, tiny_summarizer)
    focused = [SummaryExample(e.document, e.summary, focus="prices") for e in corpus(8)]
    assert adaptation._reaches_encoder(tiny_summarizer, focused, oracle_labels(focused), weights_of(tiny_summarizer))


def weights_of(model) -> dict[str, torch.nn.Parameter]:
    return adaptation.top_layer_parameters(model, 1)


def test_ranking_accuracy_counts_ordered_pairs(model, monkeypatch):
    docs = corpus(2)
    monkeypatch.setattr(adaptation, "_logits", lambda m, e: torch.tensor([3.0, 1.0, 2.0, 0.0, 2.0, 5.0]))
    got = adaptation.ranking_accuracies(model, docs, [[1, 0, 0, 0, 0, 0], [0, 0, 1, 0, 0, 0]])
    assert got == pytest.approx([4 / 5, 2.5 / 5])  # 3 beats 1, 2, 0, 2; 2 beats 1, 0 and ties 2
    assert all(math.isnan(a) for a in adaptation.ranking_accuracies(model, docs, [[1] * 6, [0] * 6]))  # no pair


def test_too_few_documents_keep_the_prior_without_trying(model, monkeypatch):
    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: pytest.fail("no check below the minimum"))
    before = weights(model)
    report = adaptation.fit_encoder(model, corpus(4))
    assert report["kept"] == "prior (fewer than 5 documents)"
    assert not changed(before, model)
    with pytest.raises(ValueError, match="at least 2 documents"):
        adaptation.fit_encoder(model, corpus(1))


def test_long_documents_re_embed_a_sample_of_their_sentences(model, monkeypatch):
    monkeypatch.setattr(adaptation, "SENTENCES_PER_STEP", 3)
    embedded: list[int] = []
    embed = model.embed

    def counting(texts, *args, **kwargs):
        embedded.append(len(texts))
        return embed(texts, *args, **kwargs)

    monkeypatch.setattr(model, "embed", counting)
    docs = corpus(4)  # 6 sentences each: longer than 3
    before = weights(model)
    params = adaptation.top_layer_parameters(model, 1)
    shared: dict[str, torch.Tensor] = {}
    adaptation._tune(model, docs, oracle_labels(docs), params, learning_rate=1e-3, steps=2, seed=0, embedded=shared)
    assert changed(before, model) == set(params)
    assert embedded[:4] == [6, 6, 6, 6] and len(shared) == 4  # each document's frozen embeddings, once
    assert 3 in embedded[4:] and 6 not in embedded[4:]  # then samples of 3 sentences (and 1-text prompts)
    embedded.clear()
    adaptation._tune(model, docs, oracle_labels(docs), params, learning_rate=1e-3, steps=1, seed=0, embedded=shared)
    assert 6 not in embedded  # a second run from the same start reuses them


def test_a_sample_keeps_the_oracle_sentences_and_its_size():
    picked = adaptation._sample([0, 1, 0, 0, 1] + [0] * 100, random.Random(0))
    assert len(picked) == adaptation.SENTENCES_PER_STEP and {1, 4} <= set(picked) and picked == sorted(picked)
    assert adaptation._sample([1, 0, 0], random.Random(0)) == [0, 1, 2]


def test_train_summarizer_dispatches_the_encoder_adaptation(model, monkeypatch):
    seen = {}

    def fake(model, examples, budget, seed, progress):
        seen.update(documents=len(examples), budget=budget, seed=seed)
        report = {"adaptation": "encoder", "kept": "encoder"}
        model.config.card.setdefault("training", []).append(report)
        return report

    monkeypatch.setattr(training, "fit_encoder", fake)  # the name training dispatches to
    from stage2.loop import TrainingConfig

    train_summarizer(model, corpus(6), None, TrainingConfig(seed=7), {"max_sentences": 1}, adaptation="encoder")
    assert seen == {"documents": 6, "budget": {"max_sentences": 1}, "seed": 7}
    with pytest.raises(ValueError, match="encoder"):
        train_summarizer(model, corpus(6), adaptation="layers")


def test_an_adapted_encoder_saves_loads_and_exports_with_parity(model, monkeypatch, tmp_path):
    import stage2.runtime as rt
    from stage2.export import export
    from stage2.summarization.modeling import Summarizer

    monkeypatch.setattr(adaptation, "_cross_validate", lambda *a: CV_NOISE)
    docs = corpus(8)
    adaptation.fit_encoder(model, docs, layers=1, learning_rate=1e-2, steps=5)
    texts = [s.text for s in docs[0].sentences]
    with torch.no_grad():
        scores = model.score_sentences(texts, model.intent_prompt(docs[0].document))
    model.save_pretrained(tmp_path / "torch")
    loaded = Summarizer.from_pretrained(tmp_path / "torch")
    with torch.no_grad():
        assert torch.allclose(loaded.score_sentences(texts, loaded.intent_prompt(docs[0].document)), scores, atol=1e-5)
    assert loaded.config.card["training"][-1]["adaptation"] == "encoder"
    report = export(model, tmp_path / "onnx")
    assert report["parity"]["max_abs_diff"] <= 1e-4
    got = rt.load(tmp_path / "onnx").summarize(docs[0].document, max_sentences=2)
    want = model.summarize(docs[0].document, max_sentences=2)
    assert got["summary"] == want["summary"]
    assert [s["score"] for s in got["sentences"]] == pytest.approx([s["score"] for s in want["sentences"]], abs=1e-3)


def test_few_shot_training_defaults_to_the_encoder_adaptation(model, summ_examples):
    result = train_summarizer(model, summ_examples[:2], summ_examples[2:])
    assert result.steps == 0 and result.best_dev is not None
    assert model.config.card["training"][-1]["adaptation"] == "encoder"


def test_the_gradient_probe_skips_documents_without_a_pair(model):
    docs = corpus(5)
    labels = [[1] * 6] * 4 + [[1, 0, 0, 0, 0, 0]]  # only the fifth document ranks anything
    params = adaptation.top_layer_parameters(model, 1)
    assert adaptation._reaches_encoder(model, docs, labels, params)
    assert not adaptation._reaches_encoder(model, docs[:4], labels[:4], params)
    assert all(p.grad is None for p in params.values())  # the probe leaves no gradient behind

from __future__ import annotations

import json

import pytest
import torch

from stage2.loop import TrainingConfig
from stage2.summarization.data import SummaryExample, greedy_oracle
from stage2.summarization.objectives import oracle_labels, ranking_loss
from stage2.summarization.training import train_summarizer


def fast(**kwargs):
    return TrainingConfig(**{"min_steps": 3, "epochs": 1, "batch_size": 2, "progress": False, **kwargs})


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(before, model):
    return {k for k, v in model.state_dict().items() if not torch.equal(before[k], v)}


def test_oracle_labels(summ_examples):
    labels = oracle_labels(summ_examples)
    assert [len(x) for x in labels] == [len(e.sentences) for e in summ_examples]
    for ex, lab in zip(summ_examples, labels, strict=True):
        chosen = greedy_oracle([s.text for s in ex.sentences], ex.summary)
        assert [i for i, v in enumerate(lab) if v] == chosen
        assert chosen  # every fixture summary overlaps its document
    assert labels[0] == [1, 0, 1, 0]  # the rate rise and the inflation figure


def test_ranking_loss():
    logits = torch.tensor([2.0, -1.0, 0.5], requires_grad=True)
    loss = ranking_loss(logits, [1, 0, 0])
    expected = (torch.nn.functional.softplus(torch.tensor(-3.0)) + torch.nn.functional.softplus(torch.tensor(-1.5))) / 2
    assert loss.item() == pytest.approx(expected.item())
    loss.backward()
    assert logits.grad[0] < 0 < logits.grad[1]  # raise the oracle sentence, lower the others
    assert ranking_loss(logits, [1, 1, 1]).item() == 0.0  # no pair: zero, but still differentiable
    assert ranking_loss(logits, [0, 0, 0]).requires_grad


def test_few_documents_fit_only_the_feature_weights_of_their_kind(tiny_summarizer, summ_examples):
    prose = [e for e in summ_examples if ":" not in e.document.split("\n")[0]]
    before = snapshot(tiny_summarizer)
    result = train_summarizer(tiny_summarizer, prose, config=fast(), adaptation="weights")
    assert result.steps == 3 and result.best_dev is None
    assert changed(before, tiny_summarizer) == {"prior"}  # frozen encoder, no residual, no dialogue weights
    assert all(p.requires_grad for p in tiny_summarizer.parameters())  # restored afterwards
    assert not tiny_summarizer.training
    run = tiny_summarizer.config.card["training"][-1]
    assert run["documents"] == len(prose) and run["steps"] == 3 and run["oracle_sentences"] > 0
    assert run["encoder"] == "frozen" and run["trained"] == "feature weights"


def test_residual_and_encoder_training_on_request(tiny_summarizer, summ_examples):
    before = snapshot(tiny_summarizer)
    train_summarizer(tiny_summarizer, summ_examples, config=fast(), residual=True)
    diff = changed(before, tiny_summarizer)
    assert "mlp.2.weight" in diff and not any(k.startswith("encoder.") for k in diff)
    before = snapshot(tiny_summarizer)
    train_summarizer(tiny_summarizer, summ_examples, config=fast(), train_encoder=True, residual=True)
    diff = changed(before, tiny_summarizer)
    assert "prior" in diff and "mlp.2.weight" in diff
    assert any(k.startswith("encoder.") for k in diff)
    assert tiny_summarizer.config.card["training"][-1]["encoder"] == "fine-tuned"
    result = tiny_summarizer.summarize(summ_examples[0].document, max_sentences=2)
    assert len(result["sentences"]) == 2


def test_training_with_dev_data(tiny_summarizer, summ_examples):
    result = train_summarizer(
        tiny_summarizer,
        summ_examples,
        summ_examples[:2],
        config=fast(),
        eval_budget={"ratio": 0.5},
        adaptation="weights",
    )
    assert result.best_dev is not None
    assert {"rouge1", "rouge2", "rougeLsum", "step"} <= set(result.best_dev)
    assert 0.0 < result.best_dev["rouge1"] <= 100.0
    assert [h["step"] for h in result.history if "dev" in h]
    assert tiny_summarizer.config.card["scores"]["dev"]["rouge1"] == result.best_dev["rouge1"]


def test_documents_without_summaries_raise(tiny_summarizer):
    data = [SummaryExample("Ada sang. Bob danced."), SummaryExample("", "x"), SummaryExample("A b.", "  ")]
    with pytest.raises(ValueError, match="reference summary"):
        train_summarizer(tiny_summarizer, data, config=fast())


def test_resume_from_output_dir(tiny_summarizer, summ_examples, tmp_path):
    out = tmp_path / "work"
    first = train_summarizer(
        tiny_summarizer, summ_examples, config=fast(min_steps=2, output_dir=str(out)), adaptation="weights"
    )
    assert first.steps == 2
    state = json.loads((out / "checkpoint-last" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["step"] == 2
    after_first = snapshot(tiny_summarizer)
    second = train_summarizer(
        tiny_summarizer, summ_examples, config=fast(min_steps=4, output_dir=str(out)), adaptation="weights"
    )
    assert second.steps == 4
    # the history goes on from the saved step 2 instead of starting again
    assert [h["step"] for h in second.history] == [2, 4]
    state = json.loads((out / "checkpoint-last" / "trainer_state.json").read_text(encoding="utf-8"))
    assert state["step"] == 4
    assert changed(after_first, tiny_summarizer)
    # a third call with nothing left to do trains no further
    after_second = snapshot(tiny_summarizer)
    third = train_summarizer(
        tiny_summarizer, summ_examples, config=fast(min_steps=4, output_dir=str(out)), adaptation="weights"
    )
    assert [h["step"] for h in third.history] == [2, 4]
    assert not changed(after_second, tiny_summarizer)


def test_training_reads_each_documents_focus(tiny_summarizer, summ_examples, monkeypatch):
    seen = []
    real = tiny_summarizer.intent_prompt
    monkeypatch.setattr(
        tiny_summarizer, "intent_prompt", lambda doc, focus=None: seen.append(focus) or real(doc, focus)
    )
    docs = [
        SummaryExample(e.document, e.summary, focus="rates?" if i == 0 else None) for i, e in enumerate(summ_examples)
    ]
    train_summarizer(tiny_summarizer, docs + docs, config=fast(), adaptation="weights")
    assert seen[: len(docs)] == ["rates?"] + [None] * (len(docs) - 1)

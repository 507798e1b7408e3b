from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from stage2.registry import TORCH_CONFIG
from stage2.summarization.config import WEIGHTS_NAME
from stage2.summarization.features import FEATURES, lexical_salience, lexrank
from stage2.summarization.modeling import Summarizer
from stage2.summarization.segmenting import split_sentences


def check_result(result, doc):
    assert set(result) == {"summary", "sentences"}
    indices = [s["index"] for s in result["sentences"]]
    assert indices == sorted(set(indices))
    sents = split_sentences(doc)
    for s in result["sentences"]:
        assert set(s) == {"index", "text", "start", "end", "score"}
        assert doc[s["start"] : s["end"]] == s["text"] == sents[s["index"]].text
        assert isinstance(s["score"], float) and math.isfinite(s["score"])
    assert result["summary"] == " ".join(s["text"] for s in result["sentences"])


def test_summarize_one_document(tiny_summarizer, summ_fixtures):
    doc = summ_fixtures["news"]
    result = tiny_summarizer.summarize(doc, max_sentences=3)
    assert isinstance(result, dict)
    check_result(result, doc)
    assert len(result["sentences"]) == 3


def test_summarize_batch_returns_a_list(tiny_summarizer, summ_fixtures):
    docs = [summ_fixtures["news"], "", summ_fixtures["dialogue"], summ_fixtures["bullets"]]
    results = tiny_summarizer.summarize(docs, max_sentences=2)
    assert isinstance(results, list) and len(results) == 4
    for doc, result in zip(docs, results, strict=True):
        check_result(result, doc)
        assert result == tiny_summarizer.summarize(doc, max_sentences=2)
    assert tiny_summarizer.summarize([]) == []


@pytest.mark.parametrize("doc", ["", "   ", "\n\n\t"])
def test_empty_document_gives_empty_summary(tiny_summarizer, doc):
    assert tiny_summarizer.summarize(doc) == {"summary": "", "sentences": []}


def test_fewer_sentences_than_asked_returns_all(tiny_summarizer):
    doc = "Ada sang a song. Bob danced all night."
    result = tiny_summarizer.summarize(doc, max_sentences=5)
    assert [s["text"] for s in result["sentences"]] == ["Ada sang a song.", "Bob danced all night."]
    assert len(tiny_summarizer.summarize("Just one sentence here.")["sentences"]) == 1


def test_word_budgets(tiny_summarizer, summ_fixtures):
    doc = summ_fixtures["news"]
    total = sum(len(s.text.split()) for s in split_sentences(doc))
    for kwargs, budget in (({"max_words": 25}, 25), ({"ratio": 0.3}, round(0.3 * total)), ({"max_words": 1}, 1)):
        result = tiny_summarizer.summarize(doc, **kwargs)
        check_result(result, doc)
        words = [len(s["text"].split()) for s in result["sentences"]]
        assert words  # the best sentence is always taken
        assert sum(words) <= budget or len(words) == 1
    assert len(tiny_summarizer.summarize(doc, ratio=1.0)["sentences"]) >= 3


def test_bad_arguments(tiny_summarizer):
    with pytest.raises(ValueError, match="only one"):
        tiny_summarizer.summarize("A b. C d.", max_sentences=1, ratio=0.5)
    with pytest.raises(ValueError, match="ratio"):
        tiny_summarizer.summarize("A b. C d.", ratio=2.0)
    with pytest.raises(TypeError, match="document 1"):
        tiny_summarizer.summarize(["A b.", 3])
    with pytest.raises(TypeError, match="max_sentences must be an int"):
        tiny_summarizer.summarize("A b. C d.", max_sentences="3")
    with pytest.raises(TypeError, match="max_words must be an int"):
        tiny_summarizer.summarize("A b. C d.", max_words=2.5)
    with pytest.raises(TypeError, match="focus must be a string"):
        tiny_summarizer.summarize("A b. C d.", focus=5)


@pytest.mark.parametrize(
    "doc",
    [
        "the first point is here. the second point follows. a third one ends it.",
        "هذه الجملة الأولى. هذه الجملة الثانية. هذه الجملة الثالثة.",
        "这是第一句话。这是第二句话。这是第三句话。",
    ],
)
def test_budget_holds_on_text_without_capitals(tiny_summarizer, doc):
    """Lower-case, Arabic and Chinese documents split into sentences, so max_sentences=1 gives one."""
    result = tiny_summarizer.summarize(doc, max_sentences=1)
    assert len(result["sentences"]) == 1
    assert result["summary"] != doc
    check_result(result, doc)


def test_intent_prompt_prose_dialogue_and_focus(tiny_summarizer, summ_fixtures):
    cfg = tiny_summarizer.config
    assert tiny_summarizer.intent_prompt(summ_fixtures["news"]) == cfg.intent
    assert tiny_summarizer.intent_prompt(summ_fixtures["dialogue"]) == cfg.dialogue_intent
    focused = tiny_summarizer.intent_prompt(summ_fixtures["news"], focus="  share prices ")
    assert focused == "share prices"  # the default template: the focus alone
    assert tiny_summarizer.intent_prompt(summ_fixtures["dialogue"], focus="share prices") == "share prices"
    cfg.focus_template = "{intent}, especially {focus}"  # saved models of older versions keep theirs
    older = tiny_summarizer.intent_prompt(summ_fixtures["news"], focus="share prices")
    assert older == f"{cfg.intent}, especially share prices"


def test_focus_changes_the_scores(tiny_summarizer, summ_fixtures):
    doc = summ_fixtures["news"]
    n = len(split_sentences(doc))
    plain = tiny_summarizer.summarize(doc, max_sentences=n)
    focused = tiny_summarizer.summarize(doc, max_sentences=n, focus="football")
    # the prose prior gives relevance no weight, so a focus acts through focus_weight alone
    assert tiny_summarizer.config.prior["relevance"] == 0.0 and tiny_summarizer.config.focus_weight > 0
    assert [s["score"] for s in plain["sentences"]] != [s["score"] for s in focused["sentences"]]


def test_a_focus_adds_its_neighbourhood_term(tiny_summarizer):
    from stage2.summarization.features import focus_context

    doc = "\n".join(f"P{i % 3}: We discuss item {i}, the {('budget', 'design', 'colour')[i // 10]}." for i in range(30))
    texts = [s.text for s in split_sentences(doc)]
    focus = "the design"
    cfg = tiny_summarizer.config
    with torch.no_grad():
        full = tiny_summarizer.score_sentences(texts, focus, cfg.focus_weight, True, focus)
        saved = cfg.focus_context_weight, cfg.focus_lexical_weight
        cfg.focus_context_weight, cfg.focus_lexical_weight = 0.0, 0.0
        try:
            bare = tiny_summarizer.score_sentences(texts, focus, cfg.focus_weight, True, focus)
        finally:
            cfg.focus_context_weight, cfg.focus_lexical_weight = saved
        emb = tiny_summarizer.embed(texts)
        prompt = tiny_summarizer.embed([focus])[0]
        relevance = torch.nn.functional.normalize(emb, dim=-1) @ torch.nn.functional.normalize(prompt, dim=-1)
    term = focus_context(relevance.numpy(), texts, focus, cfg.to_dict())
    assert torch.allclose(full - bare, torch.from_numpy(term), atol=1e-4)
    assert term[10:20].mean() > term[:10].mean() and term[10:20].mean() > term[20:].mean()  # the design passage


def test_a_blank_focus_is_no_focus(tiny_summarizer, summ_fixtures):
    doc = summ_fixtures["news"]
    plain = tiny_summarizer.summarize(doc, max_sentences=2)
    assert tiny_summarizer.summarize(doc, max_sentences=2, focus="  ") == plain


def test_dialogue_is_scored_against_the_dialogue_intent(tiny_summarizer, summ_fixtures):
    doc = summ_fixtures["dialogue"]
    texts = [s.text for s in split_sentences(doc)]
    result = tiny_summarizer.summarize(doc, max_sentences=len(texts))
    with torch.no_grad():
        dialogue = tiny_summarizer.score_sentences(texts, tiny_summarizer.config.dialogue_intent, dialogue=True)
        prose = tiny_summarizer.score_sentences(texts, tiny_summarizer.config.intent, dialogue=True)
    got = torch.tensor([s["score"] for s in result["sentences"]])
    assert torch.allclose(got, dialogue, atol=1e-4)
    assert not torch.allclose(got, prose, atol=1e-4)


def _mean_pool(model, ids):
    with torch.no_grad():
        out = model.encoder(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long))
    return out.last_hidden_state[0].mean(0)


def test_embed_long_text_in_chunks(tiny_summarizer):
    model, tok = tiny_summarizer, tiny_summarizer.tokenizer
    long = "The committee met again on Tuesday to discuss the budget for the coming year and the new hospital. " * 2
    ids = tok(long, add_special_tokens=False)["input_ids"]
    budget = model.config.max_length - 2
    assert len(ids) > 2 * budget  # three windows at least
    with torch.no_grad():
        emb = model.embed([long, "Short text."])
    assert emb.shape == (2, model.encoder.config.hidden_size)
    assert torch.isfinite(emb).all()
    # token-count weighted mean of the windows' mean-pooled embeddings: nothing is cut off
    chunks = [[tok.cls_token_id, *ids[b : b + budget], tok.sep_token_id] for b in range(0, len(ids), budget)]
    weights = torch.tensor([float(len(c)) for c in chunks])
    pooled = torch.stack([_mean_pool(model, c) for c in chunks])
    expected = (pooled * weights[:, None]).sum(0) / weights.sum()
    assert torch.allclose(emb[0], expected, atol=1e-5)
    assert not torch.allclose(emb[0], pooled[0], atol=1e-3)  # differs from the first window alone
    with torch.no_grad():
        assert torch.allclose(model.embed(["Short text."])[0], emb[1], atol=1e-5)  # padding changes nothing
        assert model.embed([]).shape == (0, model.encoder.config.hidden_size)


def test_untrained_scores_are_the_prior_features(tiny_summarizer, summ_fixtures):
    model = tiny_summarizer
    assert model.config.features == list(FEATURES)
    doc = summ_fixtures["news"]
    texts = [s.text for s in split_sentences(doc)]
    prompt = model.intent_prompt(doc)
    with torch.no_grad():
        scores = model.score_sentences(texts, prompt)
        unit = torch.nn.functional.normalize(model.embed(texts), dim=-1)
        q = torch.nn.functional.normalize(model.embed([prompt])[0], dim=-1)
        n = len(texts)
        basic = torch.stack(
            [
                unit @ q,
                torch.from_numpy(lexrank(unit.numpy().astype("float64"))).float() * n - 1.0,
                1.0 / torch.sqrt(1.0 + torch.arange(n, dtype=torch.float)),
                torch.log1p(torch.tensor([float(len(t.split())) for t in texts])) / 4.0,
            ],
            dim=-1,
        )
        feats = torch.cat([basic, torch.from_numpy(lexical_salience(texts))], dim=-1)
        assert torch.allclose(scores, feats @ model.prior, atol=1e-5)
        dialogue = model.score_sentences(texts, prompt, dialogue=True)
        assert torch.allclose(dialogue, feats @ model.dialogue_prior, atol=1e-5)
        assert not torch.allclose(dialogue, scores)
        focused = model.score_sentences(texts, prompt, extra_relevance=3.0)
        assert torch.allclose(focused, feats @ model.prior + 3.0 * feats[:, 0], atol=1e-5)
        model.prior.copy_(torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 0.0]))
        lead = model.score_sentences(texts, prompt)
    assert torch.allclose(lead, feats[:, 2], atol=1e-6)
    assert all(a > b for a, b in itertools.pairwise(lead.tolist()))
    model._prompt_cache.clear()
    assert [s["index"] for s in model.summarize(doc, max_sentences=2)["sentences"]] == [0, 1]


def test_models_saved_with_the_four_original_features_still_load(tiny_summarizer, tmp_path, summ_fixtures):
    from stage2.summarization.config import SummarizerConfig

    data = tiny_summarizer.config.to_dict()
    for key in ("features", "dialogue_prior", "format"):  # an old file: no format field either
        data.pop(key)
    data["prior"] = {"relevance": 2.0, "centrality": 4.0, "position": 4.0, "length": 4.0}
    data.pop("redundancy")
    config = SummarizerConfig.from_dict(data)
    assert config.features == ["relevance", "centrality", "position", "length"]
    assert config.dialogue_prior == config.prior and config.redundancy == "trigram"
    old = Summarizer(config, tiny_summarizer.encoder, tiny_summarizer.tokenizer).eval()
    old.save_pretrained(tmp_path / "old")
    again = Summarizer.from_pretrained(tmp_path / "old")
    assert again.config.features == config.features and again.prior.shape == (4,)
    news = summ_fixtures["news"]
    assert again.summarize(news, max_sentences=2) == old.summarize(news, max_sentences=2)


def test_summarize_restores_training_mode(tiny_summarizer):
    tiny_summarizer.train()
    tiny_summarizer.summarize("Ada sang. Bob danced.")
    assert tiny_summarizer.training
    tiny_summarizer.eval()


def test_mmr_redundancy(tiny_summarizer, summ_fixtures):
    tiny_summarizer.config.redundancy = "mmr"
    result = tiny_summarizer.summarize(summ_fixtures["news"], max_sentences=3)
    check_result(result, summ_fixtures["news"])
    assert len(result["sentences"]) == 3


def test_save_and_load_round_trip(tiny_summarizer, summ_fixtures, tmp_path):
    with torch.no_grad():
        tiny_summarizer.prior.copy_(torch.tensor([1.5, 2.0, 3.0, 0.5, 1.0, 0.0]))
        tiny_summarizer.dialogue_prior.copy_(torch.tensor([0.5, 0.0, 1.0, 2.0, 0.0, 1.0]))
        tiny_summarizer.mlp[-1].bias.fill_(0.25)
    docs = [summ_fixtures["news"], summ_fixtures["dialogue"]]
    before = tiny_summarizer.summarize(docs, max_sentences=2, focus="money")
    tiny_summarizer.save_pretrained(tmp_path / "m")
    for name in (TORCH_CONFIG, WEIGHTS_NAME, "README.md", "tokenizer_config.json"):
        assert (tmp_path / "m" / name).is_file()
    config = json.loads((tmp_path / "m" / TORCH_CONFIG).read_text(encoding="utf-8"))
    assert config["task"] == "extractive-summarization"
    assert config["prior"] == dict(zip(FEATURES, [1.5, 2.0, 3.0, 0.5, 1.0, 0.0], strict=True))
    assert config["dialogue_prior"] == dict(zip(FEATURES, [0.5, 0.0, 1.0, 2.0, 0.0, 1.0], strict=True))
    assert config["encoder_config"]["hidden_size"] == 32
    assert "extractive summariser" in (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    loaded = Summarizer.from_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.summarize(docs, max_sentences=2, focus="money") == before
    for (name, a), (_, b) in zip(tiny_summarizer.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(a, b), name


def test_from_pretrained_rejects_another_task(tiny_summarizer, tmp_path):
    tiny_summarizer.save_pretrained(tmp_path)
    config = json.loads((tmp_path / TORCH_CONFIG).read_text(encoding="utf-8"))
    (tmp_path / TORCH_CONFIG).write_text(json.dumps({**config, "task": "ner"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"stage2_config.json: field 'task': a SummarizerConfig holds 'extractive-s"):
        Summarizer.from_pretrained(tmp_path)

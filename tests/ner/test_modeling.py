from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stage2.labels import LabelSet
from stage2.ner.collator import IGNORE_INDEX, collate_windows
from stage2.ner.config import WEIGHTS_NAME, NERConfig
from stage2.ner.data import tokenize_words
from stage2.ner.modeling import NERModel
from stage2.registry import TORCH_CONFIG

TEXT = "Ada Lovelace met Charles Babbage in London."
KEYS = {"label", "score", "text", "word_start", "word_end", "char_start", "char_end"}


def raw_logits(model: NERModel, sentences, labels=None) -> torch.Tensor:
    label_set = model.resolve_labels(labels)
    windows = [w for i, words in enumerate(sentences) for w in model.make_windows(i, words)]
    batch = collate_windows(windows, model.tokenizer.pad_token_id)
    model.eval()
    with torch.no_grad():
        return model.logits_for(batch, label_set)


def assert_well_formed(text: str, entities: list[dict]) -> None:
    words = tokenize_words(text)
    starts, ends = {s for _, s, _ in words}, {e for _, _, e in words}
    for ent in entities:
        assert set(ent) == KEYS
        assert text[ent["char_start"] : ent["char_end"]] == ent["text"]
        assert 0 <= ent["word_start"] < ent["word_end"] <= len(words)
        # Entities start and end on word boundaries of stage2's tokenizer, never inside a word.
        assert ent["char_start"] == words[ent["word_start"]][1] in starts
        assert ent["char_end"] == words[ent["word_end"] - 1][2] in ends
        assert 0.0 <= ent["score"] <= 1.0


def test_predict_single_text(entity_model):
    entities = entity_model.predict(TEXT)
    assert isinstance(entities, list)
    assert entities, "with O pushed down every word is in an entity"
    assert {e["label"] for e in entities} <= {"person", "city"}
    assert_well_formed(TEXT, entities)
    # Every word is covered exactly once.
    covered = [w for e in entities for w in range(e["word_start"], e["word_end"])]
    assert covered == list(range(len(tokenize_words(TEXT))))


def test_predict_batch_returns_one_list_per_text(entity_model):
    texts = [TEXT, "", "Grace Hopper flew to Rome.", "   "]
    results = entity_model.predict(texts, batch_size=2)
    assert isinstance(results, list) and len(results) == 4
    assert all(isinstance(r, list) for r in results)
    assert results[1] == [] and results[3] == []
    assert results[0] == entity_model.predict(TEXT)
    for text, ents in zip(texts, results, strict=True):
        assert_well_formed(text, ents)


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_predict_empty_text(entity_model, text):
    assert entity_model.predict(text) == []
    assert entity_model.predict([text]) == [[]]


def test_predict_rejects_non_strings(tiny_model):
    with pytest.raises(TypeError, match="text 1"):
        tiny_model.predict(["fine", 3])


@pytest.mark.parametrize("labels", [{}, [], ["person", "Person"], {"city": "", "CITY": "x"}, [""], {"": "x"}])
def test_predict_label_validation(tiny_model, labels):
    with pytest.raises(ValueError):
        tiny_model.predict(TEXT, labels=labels)


def test_predict_bare_string_labels(tiny_model):
    with pytest.raises(TypeError):
        tiny_model.predict(TEXT, labels="person")


def test_model_without_labels_needs_labels(tokenizer, tiny_model):
    bare = NERModel(NERConfig(**{**tiny_model.config.to_dict(), "labels": []}), tiny_model.encoder, tokenizer)
    with pytest.raises(ValueError, match="no labels"):
        bare.predict(TEXT)
    assert isinstance(bare.predict(TEXT, labels=["person"]), list)


def test_long_text_is_windowed(entity_model):
    words = [f"word{i % 7}" if i % 5 else "Ada" for i in range(600)]
    text = " ".join(words)
    windows = entity_model.make_windows(0, words)
    assert len(windows) > 1
    assert all(len(w.input_ids) <= entity_model.config.max_length for w in windows)
    assert windows[0].start == 0 and windows[-1].end == 600
    spans = entity_model.predict_words([words])[0]
    assert spans
    assert all(0 <= s.start < s.end <= 600 for s, _ in spans)
    # No truncation: the entity spans (every word is one) partition all 600 words.
    assert sorted(w for s, _ in spans for w in range(s.start, s.end)) == list(range(600))
    entities = entity_model.predict(text)
    assert entities[-1]["char_end"] == len(text)
    assert_well_formed(text, entities)


def test_overlong_word_gets_its_own_truncated_window(entity_model):
    words = ["Ada", "abcdefghij" * 8, "met", "Bob"]  # the long word is 40 subwords, the budget 30
    assert len(entity_model.word_subwords(words)[1]) > entity_model.config.max_length
    windows = entity_model.make_windows(0, words)
    assert all(len(w.input_ids) <= entity_model.config.max_length for w in windows)
    assert any((w.start, w.end) == (1, 2) for w in windows)
    spans = entity_model.predict_words([words])[0]
    assert sorted(w for s, _ in spans for w in range(s.start, s.end)) == [0, 1, 2, 3]


def test_windows_align_words_with_subwords(tiny_model):
    words = ["Ada", "Lovelace", "met", "unbelievably", "Babbage", "."]
    (window,) = tiny_model.make_windows(0, words)
    tok = tiny_model.tokenizer
    assert window.input_ids[0] == tok.cls_token_id and window.input_ids[-1] == tok.sep_token_id
    assert len(window.first_subword) == len(words)
    assert len(window.shape_ids) == len(window.input_ids)
    for word, pos in zip(words, window.first_subword, strict=True):
        assert tok.convert_ids_to_tokens(window.input_ids[pos]) == tok.tokenize(word)[0]
    assert window.shape_ids[window.first_subword[0]] == 2  # "Ada" is Title case
    assert window.shape_ids[0] == 0


def test_collate_windows_pads_and_places_tags(tiny_model):
    windows = tiny_model.make_windows(0, ["Ada", "Lovelace"]) + tiny_model.make_windows(1, ["hi"])
    batch = collate_windows(windows, pad_id=0, tags=[[1, 2], [0]])
    assert batch["input_ids"].shape == batch["labels"].shape == batch["shape_ids"].shape
    assert batch["attention_mask"][1].sum() == len(windows[1].input_ids)
    assert batch["labels"][0, windows[0].first_subword].tolist() == [1, 2]
    assert (batch["labels"] != IGNORE_INDEX).sum() == 3
    assert "labels" not in collate_windows(windows, pad_id=0)


def test_label_semantic_head_changes_labels_at_predict_time(entity_model):
    words = ["Ada", "sang", "in", "Rome"]
    assert raw_logits(entity_model, [words]).shape[-1] == 1 + 2 * 2
    three = {"person": "", "city": "", "song": "a piece of music"}
    assert raw_logits(entity_model, [words], three).shape[-1] == 1 + 2 * 3
    assert raw_logits(entity_model, [words], ["organisation"]).shape[-1] == 3
    ents = entity_model.predict(" ".join(words), labels=["organisation"])
    assert ents and {e["label"] for e in ents} == {"organisation"}
    ents = entity_model.predict(" ".join(words), labels=three)
    assert {e["label"] for e in ents} <= set(three)


def test_label_descriptions_change_logits(tiny_model):
    words = ["Ada", "sang"]
    plain = raw_logits(tiny_model, [words], {"person": ""})
    described = raw_logits(tiny_model, [words], {"person": "a human being"})
    assert not torch.allclose(plain, described)


def test_linear_head_rejects_unknown_labels(tiny_linear_model):
    with pytest.raises(ValueError, match="cannot read others"):
        tiny_linear_model.predict(TEXT, labels=["person", "song"])
    assert raw_logits(tiny_linear_model, [["Ada"]]).shape[-1] == 5
    # A subset of its own labels selects the matching columns.
    full = raw_logits(tiny_linear_model, [["Ada", "sang"]])
    city = raw_logits(tiny_linear_model, [["Ada", "sang"]], ["city"])
    torch.testing.assert_close(city, full[..., [0, 3, 4]])


def test_linear_head_needs_labels(tokenizer, tiny_linear_model):
    config = NERConfig(**{**tiny_linear_model.config.to_dict(), "labels": []})
    with pytest.raises(ValueError, match="label set"):
        NERModel(config, tiny_linear_model.encoder, tokenizer)


@pytest.mark.parametrize(("field", "value"), [("head", "crf"), ("max_length", 4), ("window_overlap", -1)])
def test_config_validation(field, value):
    with pytest.raises(ValueError, match=field.split("_")[0]):
        NERConfig(**{field: value})


def test_config_ignores_unknown_keys():
    cfg = NERConfig(max_length=64)
    assert NERConfig.from_dict({**cfg.to_dict(), "from_the_future": 1}) == cfg


@pytest.mark.parametrize("model_fixture", ["entity_model", "tiny_linear_model"])
def test_save_and_load_round_trip(request, tmp_path, model_fixture):
    model = request.getfixturevalue(model_fixture)
    with torch.no_grad():
        model.shape_embedding.weight.normal_()  # make sure non-default weights travel too
    model.config.labels = LabelSet.from_user({"person": "a human being", "city": "a town or a city"}).to_dict()
    sentences = [["Ada", "Lovelace", "met", "Babbage", "in", "London", "."], ["Grace", "flew"]]
    before = model.predict_words(sentences)
    logits_before = raw_logits(model, sentences)

    model.save_pretrained(tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert {"README.md", TORCH_CONFIG, WEIGHTS_NAME, "tokenizer.json", "tokenizer_config.json"} <= files
    assert not any(name.endswith((".bin", ".pt", ".pkl")) for name in files)
    saved = json.loads((tmp_path / "m" / TORCH_CONFIG).read_text(encoding="utf-8"))
    assert saved["stage2_version"] and saved["head"] == model.config.head
    card = (tmp_path / "m" / "README.md").read_text(encoding="utf-8")
    assert "| person | person | a human being |" in card
    assert "| city | city | a town or a city |" in card

    loaded = NERModel.from_pretrained(tmp_path / "m")
    assert not loaded.training
    assert loaded.config.to_dict() == json.loads(json.dumps(model.config.to_dict()))  # JSON turns int keys to str
    assert loaded.labels.keys == ["person", "city"]
    torch.testing.assert_close(raw_logits(loaded, sentences), logits_before, rtol=0, atol=0)
    after = loaded.predict_words(sentences)
    assert after == before
    if model_fixture == "entity_model":
        assert before[0], "the round trip must be checked on actual entities"
    assert loaded.predict(TEXT) == model.predict(TEXT)


def test_from_pretrained_rejects_mismatched_weights(tmp_path, tiny_model):
    tiny_model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / TORCH_CONFIG).read_text(encoding="utf-8"))
    config["head"] = "linear"
    (tmp_path / "m" / TORCH_CONFIG).write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ValueError, match="do not match"):
        NERModel.from_pretrained(tmp_path / "m")


def test_from_pretrained_rejects_a_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        NERModel.from_pretrained(path)


def test_predict_keeps_training_mode(tiny_model):
    tiny_model.train()
    tiny_model.predict(TEXT)
    assert tiny_model.training
    tiny_model.eval()
    first = tiny_model.predict(TEXT)
    assert tiny_model.predict(TEXT) == first  # eval mode: deterministic


def test_evaluate_returns_seqeval_scores(entity_model, examples):
    scores = entity_model.evaluate(examples)
    assert set(scores) >= {"precision", "recall", "f1", "per_type", "sentences"}
    assert scores["sentences"] == len(examples)
    assert 0.0 <= scores["f1"] <= 100.0
    # With the model's own logits, gold = predictions gives 100.
    preds = [[s for s, _ in p] for p in entity_model.predict_words([e.tokens for e in examples])]
    from stage2.ner.data import NERExample
    from stage2.ner.metrics import ner_scores

    silver = [NERExample(e.tokens, p) for e, p in zip(examples, preds, strict=True)]
    assert entity_model.evaluate(silver)["f1"] == 100.0
    assert ner_scores(silver, preds)["f1"] == 100.0
    assert np.isfinite(scores["precision"])


@pytest.mark.integration
def test_bundled_encoder_zero_shot_and_round_trip(tmp_path):
    model = NERModel.from_pretrained(None, labels={"person": "a human being", "city": "a town or a city"})
    assert model.config.projection_dim == model.encoder.config.hidden_size == 384
    entities = model.predict(TEXT)
    assert_well_formed(TEXT, entities)
    other = model.predict(TEXT, labels=["organisation", "date", "event"])
    assert {e["label"] for e in other} <= {"organisation", "date", "event"}
    assert raw_logits(model, [["Ada", "sang"]], ["organisation", "date", "event"]).shape[-1] == 7
    model.save_pretrained(tmp_path / "m")
    loaded = NERModel.from_pretrained(tmp_path / "m")
    assert loaded.predict(TEXT) == entities
    assert loaded.tokenizer.tokenize("Lovelace") == model.tokenizer.tokenize("Lovelace")


def test_fresh_head_is_the_same_whatever_the_global_rng(tiny_model):
    """Two fresh models on the same encoder get the same head (issue: `outside.*` differed between runs
    with the same --seed), and building one leaves the global RNG where it was."""
    import copy

    import torch

    from stage2.ner.modeling import NERModel

    heads = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        before = torch.random.get_rng_state()
        model = NERModel(copy.deepcopy(tiny_model.config), copy.deepcopy(tiny_model.encoder), tiny_model.tokenizer)
        assert torch.equal(torch.random.get_rng_state(), before)
        heads.append({k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")})
    assert heads[0].keys() == heads[1].keys() and any(k.startswith("outside.") for k in heads[0])
    assert all(torch.equal(heads[0][k], heads[1][k]) for k in heads[0])


def test_threshold_drops_entities_scoring_below_it(entity_model):
    everything = entity_model.predict(TEXT, threshold=0.0)
    scores = sorted({e["score"] for e in everything})
    assert len(scores) > 1  # the cut below splits them
    cut = (scores[len(scores) // 2 - 1] + scores[len(scores) // 2]) / 2  # between two (rounded) scores
    kept = entity_model.predict(TEXT, threshold=cut)
    assert kept and all(e["score"] >= cut for e in kept)
    assert kept == [e for e in everything if e["score"] >= cut]
    assert len(kept) < len(everything)
    assert entity_model.predict([TEXT], threshold=1.0) == [[e for e in everything if e["score"] >= 1.0]]


@pytest.mark.parametrize("bad", [-0.1, 1.5, "0.5", True, float("nan")])
def test_a_bad_threshold_is_refused_by_name(entity_model, bad):
    with pytest.raises(ValueError, match="threshold must be a number from 0 to 1"):
        entity_model.predict(TEXT, threshold=bad)


def test_a_model_folder_never_runs_its_own_code(tiny_model, tmp_path, monkeypatch):
    """A folder whose tokenizer config names custom code (auto_map) is read with the library's own classes: the
    code is not run and nobody is asked whether to run it (model folders are untrusted input)."""
    folder = tmp_path / "m"
    tiny_model.save_pretrained(folder)
    marker = tmp_path / "ran"
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('x')\n", encoding="utf-8")
    cfg = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg["auto_map"] = {"AutoTokenizer": ["evil.EvilTokenizer", None]}
    cfg["tokenizer_class"] = "EvilTokenizer"  # no class of the library's own to fall back on
    (folder / "tokenizer_config.json").write_text(json.dumps(cfg), encoding="utf-8")
    monkeypatch.setattr("builtins.input", lambda *a: pytest.fail("asked whether to run the folder's code"))
    try:
        loaded = NERModel.from_pretrained(folder)
    except ValueError as err:  # refusing the folder is as good as ignoring its code
        assert "remote code" in str(err) or "trust_remote_code" in str(err)
    else:
        assert loaded.predict("Ada met Bob.") == tiny_model.predict("Ada met Bob.")
    assert not marker.exists()

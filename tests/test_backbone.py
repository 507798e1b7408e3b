from __future__ import annotations

import pytest

from stage2.backbone import keep_layers, narrow_feed_forward
from stage2.ner.modeling import NERModel

WORDS = [["Ada", "Lovegood", "visited", "Berlin", "."]]


def test_keep_layers_shrinks_the_encoder_and_round_trips(tiny_model, tmp_path):
    before = sum(p.numel() for p in tiny_model.parameters())
    second = tiny_model.encoder.encoder.layer[1]
    keep_layers(tiny_model, [1])
    assert len(tiny_model.encoder.encoder.layer) == 1 and tiny_model.encoder.encoder.layer[0] is second
    assert tiny_model.encoder.config.num_hidden_layers == 1
    assert tiny_model.config.encoder_config["num_hidden_layers"] == 1
    assert sum(p.numel() for p in tiny_model.parameters()) < before
    predicted = tiny_model.predict_words(WORDS)
    tiny_model.save_pretrained(tmp_path / "small")
    again = NERModel.from_pretrained(tmp_path / "small")
    assert again.encoder.config.num_hidden_layers == 1
    assert again.predict_words(WORDS) == predicted


@pytest.mark.parametrize("layers", [[], [2], [1, 0], [0, 0], [-1]])
def test_keep_layers_rejects_bad_indices(tiny_model, layers):
    with pytest.raises(ValueError, match="layers must be"):
        keep_layers(tiny_model, layers)


def test_narrow_feed_forward_keeps_the_strongest_units_and_round_trips(tiny_model, tmp_path):
    layer = tiny_model.encoder.encoder.layer[0]
    full = layer.intermediate.dense.out_features
    width = full // 2
    score = layer.intermediate.dense.weight.norm(dim=1) * layer.output.dense.weight.norm(dim=0)
    strongest = layer.intermediate.dense.weight[score.argmax()].clone()
    narrow_feed_forward(tiny_model, width)
    assert layer.intermediate.dense.out_features == width and layer.output.dense.in_features == width
    assert any(bool((row == strongest).all()) for row in layer.intermediate.dense.weight)
    assert tiny_model.config.encoder_config["intermediate_size"] == width
    predicted = tiny_model.predict_words(WORDS)
    tiny_model.save_pretrained(tmp_path / "narrow")
    again = NERModel.from_pretrained(tmp_path / "narrow")
    assert again.encoder.encoder.layer[0].intermediate.dense.out_features == width
    assert again.predict_words(WORDS) == predicted
    with pytest.raises(ValueError, match="width must be"):
        narrow_feed_forward(tiny_model, width + 1)


def test_unknown_name_fails_at_once_with_the_names_that_exist(tmp_path, monkeypatch):
    """A typo'd model name is no hub id: it fails without any hub call (it spent 48 s in retries offline)."""
    import time

    from stage2.backbone import check_source, load_encoder

    started = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=r"no model 'ner-defualt'.*org/name"):
        load_encoder("ner-defualt")
    assert time.perf_counter() - started < 5
    with pytest.raises(FileNotFoundError, match="not a model folder"):
        check_source(str(tmp_path))  # a folder without any config: not a sentencepiece message
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        check_source(str(tmp_path / "f.txt"))
    monkeypatch.setattr("stage2.backbone.hub_reachable", lambda timeout=2.0: True)
    assert check_source("bert-base-cased") is False  # clearly hub ids pass (downloads allowed, hub reachable)
    assert check_source("google/bert_uncased_L-2_H-128_A-2") is False
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(FileNotFoundError, match="HF_HUB_OFFLINE"):
        check_source("org/not-cached-model")


def test_a_hub_id_fails_fast_when_the_hub_cannot_be_reached(tmp_path, monkeypatch):
    """Issue 23: a hub id typo (``nobody/ner-defualt``) spent 75.7 s in retries offline."""
    import time

    import huggingface_hub.constants as hub

    from stage2.backbone import check_source, hub_reachable, load_encoder

    monkeypatch.setattr(hub, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens: refused at once
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    assert hub_reachable() is False
    started = time.perf_counter()
    with pytest.raises(FileNotFoundError, match=r"no model 'nobody/ner-defualt'.*cannot be reached"):
        load_encoder("nobody/ner-defualt")
    assert time.perf_counter() - started < 5
    # a cached hub id loads from the cache alone
    snapshot = tmp_path / "cache" / "models--org--cached" / "snapshots" / "abc"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (tmp_path / "cache" / "models--org--cached" / "refs").mkdir()
    (tmp_path / "cache" / "models--org--cached" / "refs" / "main").write_text("abc")
    assert check_source("org/cached") is True

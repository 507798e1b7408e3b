from __future__ import annotations

import logging

import pytest
import torch

from stage2.export.smoothquant import smooth_encoder, smoothing_groups


def _outputs(model, sentences):
    from stage2.ner.collator import collate_windows

    windows = [w for i, words in enumerate(sentences) for w in model.make_windows(i, words)]
    batch = collate_windows(windows, 0)
    with torch.no_grad():
        return model.logits_for(batch, model.resolve_labels(None))


SENTENCES = [["Ada", "Lovelace", "lives", "in", "London", "."], ["Bob", "visited", "Paris", "on", "Monday"]]


def test_groups_cover_attention_and_feed_forward_inputs(tiny_model):
    groups = smoothing_groups(tiny_model.encoder)
    attention = [g for g in groups.values() if len(g) == 3]
    assert len(attention) == 2 and all(n.endswith(("query", "key", "value")) for g in attention for n in g)
    assert sorted(n for g in groups.values() if len(g) == 1 for n in g) == [
        "encoder.layer.0.intermediate.dense",
        "encoder.layer.1.intermediate.dense",
    ]


def test_smoothing_keeps_the_float_function_and_moves_range_to_the_weights(tiny_model, copy_model):

    before = _outputs(tiny_model, SENTENCES)
    smoothed = copy_model(tiny_model)
    weight = smoothed.encoder.encoder.layer[0].intermediate.dense.weight.detach().clone()
    info = smooth_encoder(smoothed.encoder, lambda: smoothed.predict_words(SENTENCES, batch_size=1))
    assert info["alpha"] == 0.5 and len(info["smoothed"]) == 8
    assert torch.allclose(_outputs(smoothed, SENTENCES), before, atol=1e-4)
    assert not torch.equal(smoothed.encoder.encoder.layer[0].intermediate.dense.linear.weight, weight)
    assert torch.equal(tiny_model.encoder.encoder.layer[0].intermediate.dense.weight, weight)  # only the copy


def test_smoothing_rejects_a_bad_alpha_and_a_calibration_that_runs_nothing(tiny_model):
    with pytest.raises(ValueError, match="alpha"):
        smooth_encoder(tiny_model.encoder, lambda: None, alpha=1.5)
    with pytest.raises(ValueError, match="calibration"):
        smooth_encoder(tiny_model.encoder, lambda: None)


def test_an_unknown_architecture_is_left_alone(caplog):
    encoder = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU())
    with caplog.at_level(logging.WARNING, logger="stage2.export.smoothquant"):
        info = smooth_encoder(encoder, lambda: encoder(torch.ones(1, 4)))
    assert info["smoothed"] == [] and "without smoothing" in caplog.text


def _fake_int8(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """``x @ weight.T`` as dynamic int8 computes it: one uint8 scale for the activations, int8 per
    output channel for the weights."""
    lo, hi = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (hi - lo) / 255
    zero = round(-lo / scale)
    xq = (torch.clamp(torch.round(x / scale) + zero, 0, 255) - zero) * scale
    wscale = weight.abs().amax(1, keepdim=True) / 127
    return xq @ (torch.round(weight / wscale) * wscale).T


def test_smoothing_shrinks_the_int8_error_of_an_outlier_channel(tiny_model, copy_model):
    """A layer-norm channel 40x larger than the rest (as trained BERT encoders have) spoils per-tensor
    int8 activations; after smoothing the same layer computes much closer to float32 under int8."""

    with torch.no_grad():
        tiny_model.encoder.encoder.layer[0].attention.output.LayerNorm.weight[3] = 40.0
    smoothed = copy_model(tiny_model)
    smooth_encoder(smoothed.encoder, lambda: smoothed.predict_words(SENTENCES, batch_size=1))
    seen = {}
    plain_layer = tiny_model.encoder.encoder.layer[0].intermediate.dense
    smooth_layer = smoothed.encoder.encoder.layer[0].intermediate.dense.linear
    hooks = [
        plain_layer.register_forward_hook(lambda m, i, o: seen.__setitem__("plain", (i[0], o))),
        smooth_layer.register_forward_hook(lambda m, i, o: seen.__setitem__("smooth", (i[0], o))),
    ]
    _outputs(tiny_model, SENTENCES[:1])
    _outputs(smoothed, SENTENCES[:1])
    for h in hooks:
        h.remove()
    errors = {}
    with torch.no_grad():
        for name, layer in (("plain", plain_layer), ("smooth", smooth_layer)):
            x, exact = seen[name]
            errors[name] = float((_fake_int8(x, layer.weight) + layer.bias - exact).abs().mean())
    assert torch.allclose(seen["plain"][1], seen["smooth"][1], atol=1e-4)
    assert errors["smooth"] < 0.5 * errors["plain"]


def test_int8_export_records_smoothing(_semantic_model, tmp_path, copy_model):
    import stage2.export as ex

    plain = ex.export(copy_model(_semantic_model), tmp_path / "plain", quantize="int8", smoothing=None)
    smooth = ex.export(copy_model(_semantic_model), tmp_path / "smooth", quantize="int8")
    assert "smoothing" not in plain and len(smooth["smoothing"]["smoothed"]) == 8
    assert smooth["parity"]["max_abs_diff"] <= 1e-4  # smoothing is exact in float32


def test_export_leaves_the_callers_model_alone(_semantic_model, tmp_path, copy_model):
    import stage2.export as ex

    model = copy_model(_semantic_model)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    attention = model.encoder.config._attn_implementation
    ex.export(model, tmp_path / "q", quantize="int8")
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert model.encoder.config._attn_implementation == attention
    assert not any(m._forward_pre_hooks or m._forward_hooks for m in model.modules())


def test_smoothing_that_is_not_exact_is_not_used(_semantic_model, tmp_path, monkeypatch, caplog, copy_model):
    """An architecture whose hooked module also uses its input elsewhere would change the model: the
    exporter compares the smoothed copy with the model and exports without smoothing."""
    import stage2.export as ex

    def broken(encoder, calibrate, alpha):
        with torch.no_grad():
            encoder.encoder.layer[0].intermediate.dense.weight.mul_(2.0)
        return {"method": "SmoothQuant", "alpha": alpha, "smoothed": ["encoder.layer.0.intermediate.dense"]}

    import stage2.export.quantize as quantize

    monkeypatch.setattr(quantize, "smooth_encoder", broken)
    with caplog.at_level(logging.WARNING, logger="stage2.export"):
        report = ex.export(copy_model(_semantic_model), tmp_path / "q", quantize="int8")
    assert report["smoothing"]["smoothed"] == [] and "not exact" in report["smoothing"]["skipped"]
    assert report["parity"]["max_abs_diff"] <= 1e-4
    assert "without it" in caplog.text

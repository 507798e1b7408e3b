from __future__ import annotations

import json

import pytest

import stage2.export as ex
from stage2.labels import Span
from stage2.ner.data import NERExample
from tests.conftest import _copy


def dev_examples():
    return [
        NERExample(["Ada", "Lovelace", "lives", "in", "London", "."], [Span("person", 0, 2), Span("city", 4, 5)]),
        NERExample(["Bob", "visited", "Paris"], [Span("person", 0, 1), Span("city", 2, 3)]),
    ]


def test_int8_export_reports_metric_and_what_was_quantised(_semantic_model, tmp_path):
    import stage2.export as ex
    from tests.conftest import _copy

    report = ex.export(_copy(_semantic_model), tmp_path / "q", quantize="int8", dev=dev_examples(), allow_degraded=True)
    assert report["quantization"] == "int8"
    assert any("int8 weight matrices" in q for q in report["quantized"])
    metric = report["metric"]
    assert metric["name"] == "entity F1" and metric["examples"] == 2
    assert {"torch", "exported", "onnx_fp32", "drop"} <= set(metric)
    meta = json.loads((tmp_path / "q" / "stage2_export.json").read_text())
    assert meta["quantization"] == "int8"


def test_int4_word_embeddings_shrink_the_graph_and_keep_its_answers_close(_semantic_model, tmp_path):
    """``embedding_bits=4``: the word-embedding table in 4 bits (two values a byte), read by the runtime."""
    import numpy as np
    import onnx

    import stage2.runtime as rt

    eight = ex.export(_copy(_semantic_model), tmp_path / "8", quantize="int8", smoothing=None)
    four = ex.export(_copy(_semantic_model), tmp_path / "4", quantize="int8", smoothing=None, embedding_bits=4)
    assert four["onnx_megabytes"] < eight["onnx_megabytes"]
    assert any("in 4 bits" in q for q in four["quantized"])
    tables = {i.name: i for i in onnx.load(str(tmp_path / "4" / "model.onnx")).graph.initializer}
    packed = [i for n, i in tables.items() if n.endswith("word_embeddings.weight_int4")]
    assert len(packed) == 1 and packed[0].data_type == onnx.TensorProto.UINT8
    assert not any(n.endswith("word_embeddings.weight_quantized") for n in tables)
    words = [e.tokens for e in dev_examples()]
    a, b = rt.load(tmp_path / "8"), rt.load(tmp_path / "4")
    window = a.make_windows(0, words[0])
    logits = [m.window_logits(window, m.resolve_labels(None))[0] for m in (a, b)]
    assert np.abs(logits[0] - logits[1]).max() < 0.5
    with pytest.raises(ValueError, match="embedding_bits"):
        ex.export(_copy(_semantic_model), tmp_path / "x", embedding_bits=4)


def test_int8_is_refused_when_the_metric_drops(_semantic_model, tmp_path, monkeypatch):
    import stage2.export as ex
    from tests.conftest import _copy

    monkeypatch.setitem(ex.MAX_METRIC_DROP, "ner", -1.0)  # any result now counts as too big a drop
    with pytest.raises(ex.ExportError, match="refused"):
        ex.export(_copy(_semantic_model), tmp_path / "r", quantize="int8", dev=dev_examples())
    assert not (tmp_path / "r").exists()
    report = ex.export(_copy(_semantic_model), tmp_path / "r", quantize="int8", dev=dev_examples(), allow_degraded=True)
    assert "int8 costs" in report["flagged"]


def test_a_stricter_target_drop_keeps_matrices_in_float32(_semantic_model, tmp_path):
    import stage2.export as ex
    from tests.conftest import _copy

    loose = ex.export(_copy(_semantic_model), tmp_path / "a", quantize="int8", dev=dev_examples(), target_drop=100.0)
    assert loose["kept_float32"] == [] and loose["target_drop"] == 100.0
    strict = ex.export(
        _copy(_semantic_model),
        tmp_path / "b",
        quantize="int8",
        dev=dev_examples(),
        target_drop=-1.0,
        allow_degraded=True,
    )  # never met: every feed-forward output projection is tried in float32, bottom layer first
    kept = strict["kept_float32"]
    assert kept and all("/output/dense/" in k for k in kept)
    assert [s["kept_float32"] for s in strict["quantization_search"]][-1] == kept
    assert strict["onnx_megabytes"] > loose["onnx_megabytes"]


def test_export_rejects_unknown_quantisation(_semantic_model, tmp_path):
    import stage2.export as ex

    with pytest.raises(ValueError, match="quantize"):
        ex.export(_semantic_model, tmp_path / "z", quantize="int4")


def test_export_from_a_saved_folder_and_cli(_semantic_model, tmp_path, capsys):
    from stage2.cli import main
    from tests.conftest import _copy

    _copy(_semantic_model).save_pretrained(tmp_path / "saved")
    assert main(["export", str(tmp_path / "saved"), "--out", str(tmp_path / "exp")]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["task"] == "ner" and printed["parity"]["max_abs_diff"] <= 1e-4
    assert main(["ner", "Ada Lovelace met Bob in Paris.", "--model", str(tmp_path / "exp")]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[0])
    assert line["text"] == "Ada Lovelace met Bob in Paris." and isinstance(line["entities"], list)


def test_export_never_deletes_a_folder_that_is_not_an_export(_semantic_model, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(FileExistsError, match="not a stage2 export"):
        ex.export(_copy(_semantic_model), notes)
    with pytest.raises(FileExistsError, match="not a stage2 export"):
        ex.export(_copy(_semantic_model), notes, overwrite=True)
    assert (notes / "todo.txt").read_text(encoding="utf-8") == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["notes"]  # no staging folder left behind


def test_export_replaces_a_previous_export_only_when_told(_semantic_model, tmp_path):
    out = tmp_path / "x"
    out.mkdir()  # an empty folder is fine
    ex.export(_copy(_semantic_model), out)
    with pytest.raises(FileExistsError, match="--overwrite"):
        ex.export(_copy(_semantic_model), out)
    (out / "stale.txt").write_text("old export file", encoding="utf-8")
    ex.export(_copy(_semantic_model), out, overwrite=True)
    assert (out / "stage2_export.json").exists() and not (out / "stale.txt").exists()


def test_export_refuses_to_replace_the_model_it_reads(_semantic_model, tmp_path):
    model_dir = tmp_path / "models" / "m"
    _copy(_semantic_model).save_pretrained(model_dir)
    for target in (model_dir, model_dir.parent):
        with pytest.raises(ValueError, match="would replace the model being exported"):
            ex.export(str(model_dir), target, overwrite=True)
    assert (model_dir / "model.safetensors").exists()

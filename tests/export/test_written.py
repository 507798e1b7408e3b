"""Export of the written summariser: two graphs, a key/value cache, greedy parity, int8 judged on ROUGE."""

from __future__ import annotations

import json

import pytest

from stage2.summarization.data import SummaryExample

DOCS = [
    "Anna: Are we meeting at the cafe at five?\nTom: Yes, see you there.",
    "Mia: I lost my keys again.\nLeo: Check the car! " + " ".join(f"word{i}" for i in range(30)),
]


def test_the_export_writes_what_torch_writes_and_loads_by_folder(tiny_written, tmp_path):
    import stage2
    from stage2.export import export
    from stage2.runtime.written import WrittenSummarizerRuntime

    report = export(tiny_written, tmp_path / "out", dev=[SummaryExample(d, "Anna meets Tom.") for d in DOCS])
    assert report["parity"] == {"documents": 2, "identical_greedy": 2}
    runtime = stage2.load(tmp_path / "out", backend="onnx")
    assert isinstance(runtime, WrittenSummarizerRuntime)
    for doc in DOCS:  # the second one spans several 16-subword windows
        want = tiny_written.summarize(doc, num_beams=3, unsupported=False)
        assert runtime.summarize(doc, num_beams=3, unsupported=False) == want


def test_int8_is_judged_on_rouge_and_reported(tiny_written, tmp_path):
    from stage2.export.written import export_written

    dev = [SummaryExample(d, "Anna meets Tom at five.") for d in DOCS]
    report = export_written(tiny_written, tmp_path / "out", quantize="int8", dev=dev)
    saved = json.loads((tmp_path / "out" / "export_report.json").read_text())
    assert saved["metric"]["name"] == "ROUGE-1 (greedy)" and "drop" in saved["metric"]
    assert report["quantization"] == ("int8" if report["metric"]["drop"] <= 0.5 else None)
    assert not (tmp_path / "out" / "float32").exists()


def test_the_export_never_replaces_a_folder_it_did_not_write(tiny_written, tmp_path):
    from stage2.export.written import export_written

    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a stage2 export"):
        export_written(tiny_written, tmp_path / "out")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"


def test_a_graph_named_outside_the_folder_is_refused(tiny_written, tmp_path):
    from stage2.export.written import export_written
    from stage2.runtime.written import WrittenSummarizerRuntime

    export_written(tiny_written, tmp_path / "out")
    meta = json.loads((tmp_path / "out" / "stage2_export.json").read_text())
    meta["graphs"]["step"] = "../step.onnx"
    (tmp_path / "out" / "stage2_export.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"graphs\.step"):
        WrittenSummarizerRuntime(tmp_path / "out")


def test_a_model_with_trained_top_layers_exports_with_parity(tokenizer, tmp_path):
    from stage2.export.written import export_written
    from stage2.summarization.abstractive import AbstractiveConfig, AbstractiveSummarizer
    from tests.conftest import _tiny_bert

    enc = _tiny_bert(seed=3)
    enc.encoder.layer = enc.encoder.layer[:1]
    enc.config.num_hidden_layers = 1
    cfg = AbstractiveConfig(
        decoder_layers=[0], window=16, hidden=32, heads=2, intermediate=64, max_positions=128, train_top=1
    )
    model = AbstractiveSummarizer(enc, tokenizer, cfg).eval()
    report = export_written(model, tmp_path / "out", dev=[SummaryExample(d, "x") for d in DOCS])
    assert report["parity"] == {"documents": 2, "identical_greedy": 2}
    model.save_pretrained(tmp_path / "saved")
    assert len(AbstractiveSummarizer.from_pretrained(tmp_path / "saved").top) == 1

"""``stage2.load``: one loader chooses the class by the saved task."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stage2.loading import NER_TASKS, SUMMARY_TASKS, load, model_task
from stage2.ner.modeling import NERModel
from stage2.registry import TORCH_CONFIG


def test_load_chooses_the_class_by_task(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    assert model_task(tmp_path / "m") == "ner"
    assert isinstance(load(tmp_path / "m"), NERModel)


def test_load_refuses_another_task_naming_the_folder(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    with pytest.raises(ValueError, match=r"holds a 'ner' model; expected 'extractive-summarization'") as err:
        load(tmp_path / "m", tasks=("extractive-summarization",))
    assert str(tmp_path / "m") in str(err.value)


def test_unknown_task_names_the_config(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    config = json.loads((tmp_path / "m" / TORCH_CONFIG).read_text(encoding="utf-8"))
    (tmp_path / "m" / TORCH_CONFIG).write_text(json.dumps({**config, "task": "translation"}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"stage2_config.json: unknown task 'translation'"):
        load(tmp_path / "m")


def test_auto_backend_opens_the_export_and_falls_back_to_weights(ner_export, entity_model, tmp_path):
    from stage2.runtime import NERRuntime

    assert isinstance(load(ner_export[0]), NERRuntime)
    assert isinstance(load(ner_export[0], backend="onnx"), NERRuntime)
    entity_model.save_pretrained(tmp_path / "m")
    assert isinstance(load(tmp_path / "m"), NERModel)  # no export there: the torch weights


def test_onnx_backend_on_torch_weights_says_where_it_looked(entity_model, tmp_path):
    entity_model.save_pretrained(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match=r"without stage2_export.json"):
        load(tmp_path / "m", backend="onnx")


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match=r"backend 'tensorrt': expected one of auto, onnx, torch"):
        load("anything", backend="tensorrt")


def test_export_task_is_checked_before_the_graph_is_read(ner_export, tmp_path):
    import shutil

    copy = tmp_path / "ner"
    shutil.copytree(ner_export[0], copy)
    for onnx in copy.glob("*.onnx"):
        onnx.write_bytes(b"not a graph")  # reading it would fail: the task check must come first
    with pytest.raises(ValueError, match=r"holds a 'ner' model; expected 'extractive-summarization'"):
        load(copy, tasks=SUMMARY_TASKS)


def test_summariser_exports_serve_the_extractive_task(summarizer_export):
    from stage2.runtime import SummarizerRuntime

    assert isinstance(load(summarizer_export[0], tasks=("extractive-summarization",)), SummarizerRuntime)
    with pytest.raises(ValueError, match=r"expected 'ner'"):
        load(summarizer_export[0], tasks=NER_TASKS)


def test_every_consumer_loads_through_stage2_load():
    """The CLI, service, spaCy component and Ray actors call ``stage2.load``; no other module opens a
    model by name itself."""
    import stage2

    root = Path(stage2.__file__).parent
    allowed = {root / "loading.py", root / "runtime" / "__init__.py"}
    offenders = [
        str(p.relative_to(root))
        for p in root.rglob("*.py")
        if p not in allowed
        and re.search(r"rt\.load\(|open_export\(|(?<!class )(NER|Summarizer)Runtime\(", p.read_text(encoding="utf-8"))
    ]
    assert offenders == []

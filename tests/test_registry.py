from __future__ import annotations

import pytest

from stage2 import registry
from stage2.cli import _shorthand, main


def test_find_model_by_path_and_by_checkout_name(tmp_path, monkeypatch):
    folder = tmp_path / "exports" / "my-model"
    folder.mkdir(parents=True)
    (folder / registry.EXPORT_CONFIG).write_text("{}")
    assert registry.find_model(folder, registry.EXPORT_CONFIG) == folder
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)
    assert registry.find_model("my-model", registry.EXPORT_CONFIG) == folder
    with pytest.raises(FileNotFoundError, match="no model 'other'"):
        registry.find_model("other", registry.EXPORT_CONFIG)
    with pytest.raises(FileNotFoundError, match="without stage2_config"):
        registry.find_model(folder, registry.TORCH_CONFIG)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        registry.find_model(tmp_path / "afile")


def test_shorthand_means_predict():
    assert _shorthand(["ner", "Ada met Bob."]) == ["ner", "predict", "Ada met Bob."]
    assert _shorthand(["-v", "summarize", "doc.txt"]) == ["-v", "summarize", "predict", "doc.txt"]
    assert _shorthand(["ner", "train", "--train", "x"]) == ["ner", "train", "--train", "x"]
    assert _shorthand(["ner", "--help"]) == ["ner", "--help"]
    assert _shorthand(["export", "m", "--out", "o"]) == ["export", "m", "--out", "o"]


def test_main_job_without_shipped_model_names_the_problem(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(registry, "CHECKOUT", tmp_path)  # a checkout without exports/
    assert main(["ner", "Angela Merkel met Emmanuel Macron in Paris."]) == 2
    assert "no ner-default export found" in capsys.readouterr().err

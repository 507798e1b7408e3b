from __future__ import annotations

import subprocess
import sys

import pytest

import stage2


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_stage2_does_not_import_torch():
    result = _run("import stage2, sys; assert 'torch' not in sys.modules, 'torch was imported'")
    assert result.returncode == 0, result.stderr


def test_pure_modules_stay_free_of_torch():
    # labels, data readers and decoding are shared with the torch-free runtime; the CLI imports lazily.
    code = (
        "import sys, stage2, stage2.labels, stage2.io, stage2.ner.data, stage2.ner.decoding, stage2.ner.config, "
        "stage2.ner.metrics, stage2.summarization.metrics, stage2.model_card, stage2.cli, stage2.backbone\n"
        "stage2.cli.build_parser()\n"
        "stage2.LabelSet.from_user(['person'])\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets') if m in sys.modules]\n"
        "assert not heavy, heavy"
    )
    result = _run(code)
    assert result.returncode == 0, result.stderr


def test_lazy_public_names():
    from stage2.labels import LabelSet

    assert stage2.LabelSet is LabelSet
    assert set(stage2.__all__) >= {"NERModel", "LabelSet", "train", "TrainingConfig", "__version__"}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        stage2.nothing  # noqa: B018

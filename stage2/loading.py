"""``stage2.load``: a saved torch model by folder or by name (an installed model package)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stage2.registry import TORCH_CONFIG, find_model, read_config


def load(name_or_path: str | Path) -> Any:
    """Load a saved stage2 torch model (NER, extractive or seq2seq summariser) from a folder or by
    the name of an installed model package (``stage2 package``). For an ONNX export use
    :func:`stage2.runtime.load`.
    """
    folder = find_model(name_or_path, TORCH_CONFIG)
    task = read_config(folder / TORCH_CONFIG).get("task", "ner")
    if task == "extractive-summarization":
        from stage2.summarization.modeling import Summarizer

        return Summarizer.from_pretrained(folder)
    if task == "abstractive-summarization":
        from stage2.summarization.seq2seq import Seq2SeqSummarizer

        return Seq2SeqSummarizer.from_pretrained(folder)
    from stage2.ner.modeling import NERModel

    return NERModel.from_pretrained(folder)

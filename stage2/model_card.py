"""Generated model cards (README.md) for saved task models."""

from __future__ import annotations

import json
from typing import Any

from stage2.labels import LabelSet


def ner_model_card(config: Any) -> str:
    """Markdown card for a saved NER model: labels with descriptions, training data, scores."""
    labels = LabelSet.from_dict(config.labels)
    card = config.card or {}
    lines = [
        "---",
        "library_name: stage2",
        "tags: [stage2, token-classification, ner]",
        "---",
        "",
        "# stage2 NER model",
        "",
        f"- Encoder: `{config.encoder}`",
        f"- Head: `{config.head}`; case-shape embedding: {'yes' if config.case_embedding else 'no'}",
        f"- Window: {config.max_length} subwords, {config.window_overlap} words overlap",
        f"- stage2 version: {config.stage2_version or 'unknown'}",
        "",
        "## Labels",
        "",
        "| key | name | description |",
        "|---|---|---|",
    ]
    lines += [f"| {lb.key} | {lb.name} | {lb.description} |" for lb in labels] or ["| (none) | | |"]
    training = card.get("training")
    lines += ["", "## Training data", ""]
    if training:
        for run in training if isinstance(training, list) else [training]:
            lines.append(f"- {json.dumps(run, sort_keys=True)}")
    else:
        lines.append("Not trained by stage2 (a bare encoder with a new head).")
    scores = card.get("scores")
    lines += ["", "## Measured scores", ""]
    if scores:
        lines += ["| data | precision | recall | F1 |", "|---|---|---|---|"]
        for name, s in scores.items():
            lines.append(f"| {name} | {s.get('precision', '')} | {s.get('recall', '')} | {s.get('f1', '')} |")
    else:
        lines.append("No scores measured yet.")
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from stage2 import NERModel",
        'model = NERModel.from_pretrained("PATH")',
        'model.predict("Ada Lovelace met Charles Babbage in London.")',
        "```",
        "",
    ]
    return "\n".join(lines)


def summarizer_model_card(config: Any) -> str:
    """Markdown card for a saved extractive summariser."""
    card = config.card or {}
    lines = [
        "---",
        "library_name: stage2",
        "tags: [stage2, summarization, extractive]",
        "---",
        "",
        "# stage2 extractive summariser",
        "",
        f"- Encoder: `{config.encoder}`",
        f'- Intent: "{config.intent}" (dialogues: "{config.dialogue_intent}")',
        f"- Redundancy control: {config.redundancy}; feature weights: {json.dumps(config.prior)}",
        f"- stage2 version: {config.stage2_version or 'unknown'}",
        "",
        "## Training data",
        "",
    ]
    training = card.get("training")
    if training:
        lines += [f"- {json.dumps(run, sort_keys=True)}" for run in training]
    else:
        lines.append("Not trained (zero-shot: the encoder with the default feature weights).")
    lines += ["", "## Measured scores", ""]
    scores = card.get("scores")
    if scores:
        lines += ["| data | ROUGE-1 | ROUGE-2 | ROUGE-Lsum |", "|---|---|---|---|"]
        lines += [f"| {k} | {v.get('rouge1')} | {v.get('rouge2')} | {v.get('rougeLsum')} |" for k, v in scores.items()]
    else:
        lines.append("No scores measured yet.")
    lines += [
        "",
        "## Usage",
        "",
        "```python",
        "from stage2 import Summarizer",
        's = Summarizer.from_pretrained("PATH")',
        "s.summarize(article, max_sentences=3)",
        "```",
        "",
    ]
    return "\n".join(lines)

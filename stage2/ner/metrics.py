"""NER metrics through seqeval (strict IOB2, micro average)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from stage2.labels import Span, spans_to_tags
from stage2.ner.data import NERExample


def ner_scores(gold: Sequence[NERExample], predicted: Sequence[Sequence[Span]]) -> dict[str, Any]:
    """seqeval strict-mode IOB2 scores in percent: ``precision``, ``recall``, ``f1`` (micro) and
    ``per_type`` F1.

    >>> ex = NERExample(["Ada", "sang"], [Span("PER", 0, 1)])
    >>> ner_scores([ex], [[Span("PER", 0, 1)]])["f1"]
    100.0
    """
    from seqeval.metrics import classification_report
    from seqeval.scheme import IOB2

    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold sentences but {len(predicted)} predictions")
    y_true = [e.tags for e in gold]
    y_pred = [spans_to_tags(p, len(e.tokens)) for e, p in zip(gold, predicted, strict=True)]
    report = classification_report(y_true, y_pred, mode="strict", scheme=IOB2, output_dict=True, zero_division=0)
    micro = report.get("micro avg", {"precision": 0.0, "recall": 0.0, "f1-score": 0.0})
    per_type = {
        k: round(100 * float(v["f1-score"]), 2)
        for k, v in report.items()
        if not k.endswith("avg") and isinstance(v, dict)
    }
    return {
        "precision": round(100 * float(micro["precision"]), 2),
        "recall": round(100 * float(micro["recall"]), 2),
        "f1": round(100 * float(micro["f1-score"]), 2),
        "per_type": per_type,
        "sentences": len(gold),
    }

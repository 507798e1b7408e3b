"""QMSum queries and the systems of the QMSum benchmark (``qmsum_benchmark.py``): loading a split, the
baselines (lead, BM25, greedy oracle) and the summariser as turn selectors under a word budget, and the
scores of what they select (ROUGE per query kind, turn retrieval against the gold turns).
"""

from __future__ import annotations

import json
import re
import statistics
import time
from dataclasses import dataclass
from typing import Any

from stage2.benchmarks import data_dir
from stage2.io import iter_jsonl

KINDS = ("general", "specific")
_WORD = re.compile(r"\w+")


@dataclass
class Query:
    """One QMSum query of one meeting."""

    id: str
    turns: list[str]
    answer: str
    focus: str
    kind: str
    relevant: list[int]
    domain: str

    @property
    def meeting(self) -> str:
        return self.id.split(":")[0]


def load(split: str) -> list[Query]:
    """The QMSum split (``$STAGE2_DATA/qmsum/<split>.jsonl.gz``)."""
    out = []
    for _, r in iter_jsonl(data_dir() / "qmsum" / f"{split}.jsonl.gz"):
        relevant = r["relevant_turns"]
        relevant = json.loads(relevant) if isinstance(relevant, str) else relevant
        turns = r["document"].split("\n")
        out.append(Query(r["id"], turns, r["summary"], r["focus"], r["kind"], list(relevant), r["domain"]))
    return out


def within_budget(order: list[int], turns: list[str], budget: int) -> list[int]:
    """Turns taken in ``order`` when they fit in what is left of ``budget`` words, in document order."""
    chosen, used = [], 0
    for i in order:
        words = len(turns[i].split())
        if not words or used + words > budget:
            continue
        chosen.append(i)
        used += words
        if used >= budget:
            break
    return sorted(chosen)


def _turns(q: Query, chosen: list[int]) -> tuple[list[int], str]:
    return chosen, "\n".join(q.turns[i] for i in chosen)


def select_lead(q: Query, budget: int) -> tuple[list[int], str]:
    return _turns(q, within_budget(list(range(len(q.turns))), q.turns, budget))


def select_bm25(q: Query, budget: int) -> tuple[list[int], str]:
    from rank_bm25 import BM25Okapi

    tokens = [_WORD.findall(t.lower()) or ["_"] for t in q.turns]
    scores = BM25Okapi(tokens).get_scores(_WORD.findall(q.focus.lower()))
    order = sorted(range(len(q.turns)), key=lambda i: (-scores[i], i))
    return _turns(q, within_budget(order, q.turns, budget))


def select_oracle(q: Query, budget: int) -> tuple[list[int], str]:
    from stage2.summarization.data import greedy_oracle

    return _turns(q, greedy_oracle(q.turns, q.answer, max_words=budget))


def selector_stage2(model: Any, use_focus: bool) -> Any:
    """Turns chosen by a summariser (the units it picks mapped back to their transcript lines) and its
    summary (those units, one per line: part of a long turn is not the whole turn)."""

    def select(q: Query, budget: int) -> tuple[list[int], str]:
        document = "\n".join(q.turns)
        starts, pos = [], 0
        for t in q.turns:
            starts.append(pos)
            pos += len(t) + 1
        result = model.summarize(document, max_words=budget, focus=q.focus if use_focus else None)
        import bisect

        turns = sorted({bisect.bisect_right(starts, s["start"]) - 1 for s in result["sentences"]})
        return turns, "\n".join(s["text"] for s in result["sentences"])

    return select


def memoize_embeddings(model: Any, cache: dict[tuple[str, ...], Any]) -> None:
    """Make ``model.embed`` answer a repeated list of texts (a meeting's units, asked again for every
    query about it) from ``cache``; prompts (one text) are embedded as before. The encoder is frozen."""
    real = model.embed

    def embed(texts: Any, batch_size: int = 64) -> Any:
        if len(texts) < 2:
            return real(texts, batch_size)
        key = tuple(texts)
        if key not in cache:
            cache[key] = real(texts, batch_size)
        return cache[key]

    model.embed = embed


def turn_scores(chosen: list[int], gold: list[int]) -> dict[str, float]:
    """Precision, recall and F1 (percent) of the ``chosen`` turns against the ``gold`` ones."""
    hit = len(set(chosen) & set(gold))
    p = hit / len(chosen) if chosen else 0.0
    r = hit / len(gold) if gold else 0.0
    return {"turn_precision": 100 * p, "turn_recall": 100 * r, "turn_f1": 100 * (2 * p * r / (p + r) if p + r else 0.0)}


def score(queries: list[Query], chosen: list[list[int]], texts: list[str]) -> dict[str, Any]:
    """ROUGE per kind, and turn retrieval on specific queries with gold turns."""
    from stage2.summarization.metrics import rouge_scores

    out: dict[str, Any] = {}
    for kind in KINDS:
        idx = [i for i, q in enumerate(queries) if q.kind == kind]
        if not idx:
            continue
        refs = [queries[i].answer for i in idx]
        hyps = [texts[i] for i in idx]
        block: dict[str, Any] = {**rouge_scores(refs, hyps), "queries": len(idx)}
        gold = [i for i in idx if queries[i].relevant]
        if gold:
            per = [turn_scores(chosen[i], queries[i].relevant) for i in gold]
            block |= {k: round(statistics.mean(p[k] for p in per), 2) for k in per[0]}
            block["queries_with_gold_turns"] = len(gold)
        block["mean_words"] = round(statistics.mean(len(texts[i].split()) for i in idx), 1)
        out[kind] = block
    return out


def select_all(queries: list[Query], select: Any, budget: int, desc: str) -> tuple[dict[str, Any], list[float]]:
    """Every query's selection under ``budget`` words, scored (:func:`score`), and each one's seconds."""
    from tqdm.auto import tqdm

    chosen, texts, seconds = [], [], []
    for q in tqdm(queries, desc=desc, unit="query"):
        started = time.perf_counter()
        turns, text = select(q, budget)
        seconds.append(time.perf_counter() - started)
        chosen.append(turns)
        texts.append(text)
    return score(queries, chosen, texts), seconds

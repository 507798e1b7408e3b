"""Choose the summariser's zero-shot feature weights on the VALIDATION splits (never test).

One set of weights for prose (chosen on BBC News validation) and one for dialogues (SAMSum
validation), as the model keeps both. Each validation document is embedded once; then a
coordinate ascent, starting from the weights given, tries each feature's weight in turn over
{0, 0.5, 1, 2, 4, 8, 16} and keeps a change that raises ROUGE-1 by more than 0.02, for two rounds,
with the benchmark's budgets; finally both redundancy settings are scored. Writes
evaluation/results/summarization_prior_search.json with every step. The chosen weights are the
defaults ``PROSE_PRIOR`` and ``DIALOGUE_PRIOR`` in ``stage2/summarization/config.py`` (copied by hand,
with the results file's commit).

    python evaluation/tune_zero_shot_prior.py
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time

import numpy as np
import torch
from common import RESULTS, git_commit, machine
from tqdm.auto import tqdm

from stage2.benchmarks import SUMMARY_BUDGETS, load_summaries
from stage2.summarization.config import DIALOGUE_PRIOR, PROSE_PRIOR
from stage2.summarization.data import budget_in_words
from stage2.summarization.features import FEATURES
from stage2.summarization.metrics import rouge_scores
from stage2.summarization.modeling import Summarizer
from stage2.summarization.selection import select

GRID = [0.0, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
KIND = {"bbc_news": ("prose", PROSE_PRIOR), "samsum": ("dialogue", DIALOGUE_PRIOR)}


def features(model: Summarizer, dataset: str, docs: int | None) -> list[tuple[list[str], str, np.ndarray]]:
    """(sentences, reference, features [n, F]) of each validation document."""
    items = []
    with torch.no_grad():
        for ex in tqdm(load_summaries(dataset, "validation")[:docs], desc=f"embedding {dataset}", unit="doc"):
            texts = [s.text for s in ex.sentences]
            if texts:
                emb = model.embed(texts)
                prompt = model._prompt_embedding(model.intent_prompt(ex.document))
                items.append((texts, ex.summary, model.features(emb, prompt, texts).numpy()))
    return items


def rouge1(items: list[tuple[list[str], str, np.ndarray]], dataset: str, w: np.ndarray, redundancy: str) -> float:
    budget = SUMMARY_BUDGETS[dataset]
    hyps = []
    for texts, _, f in items:
        words = budget_in_words(sum(len(t.split()) for t in texts), None, budget.get("ratio"))
        chosen = select(texts, f @ w, budget.get("max_sentences"), words, redundancy)
        hyps.append("\n".join(texts[i] for i in chosen))
    return float(rouge_scores([ref for _, ref, _ in items], hyps)["rouge1"])


def ascend(items: list, dataset: str, start: np.ndarray, redundancy: str) -> tuple[np.ndarray, float, list[dict]]:
    cache: dict[tuple[float, ...], float] = {}

    def score(w: np.ndarray) -> float:
        key = tuple(float(x) for x in w)
        if key not in cache:
            cache[key] = rouge1(items, dataset, w, redundancy)
        return cache[key]

    best_w, best = start.copy(), score(start)
    path = [{"weights": dict(zip(FEATURES, best_w.tolist(), strict=True)), "rouge1": best}]
    for _ in range(2):
        for j in range(len(FEATURES)):
            for value in GRID:
                cand = best_w.copy()
                cand[j] = value
                s = score(cand)
                if s > best + 0.02:
                    best_w, best = cand, s
                    path.append({"weights": dict(zip(FEATURES, best_w.tolist(), strict=True)), "rouge1": best})
    return best_w, best, path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=None, help="validation documents per data set (default: all)")
    parser.add_argument("--redundancy", default="none", help="redundancy control during the search")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    model = Summarizer.from_pretrained(None).eval()
    out: dict = {
        "benchmark": "summarization_prior_search",
        "split": "validation",
        "docs_per_dataset": args.docs or "all",
        "grid": GRID,
        "git_commit": git_commit(),
        "machine": machine(),
        "command": " ".join(["python", *sys.argv]),
        "searches": {},
    }
    started = time.perf_counter()
    for dataset, (kind, default) in KIND.items():
        items = features(model, dataset, args.docs)
        start = np.array([default[f] for f in FEATURES])
        best_w, best, path = ascend(items, dataset, start, args.redundancy)
        other = "trigram" if args.redundancy == "none" else "none"
        out["searches"][kind] = {
            "dataset": dataset,
            "budget": SUMMARY_BUDGETS[dataset],
            "start": default,
            "best": dict(zip(FEATURES, best_w.tolist(), strict=True)),
            "best_rouge1": best,
            f"best_rouge1_with_{other}": rouge1(items, dataset, best_w, other),
            "path": path,
        }
        logging.info("%s: %s -> ROUGE-1 %.2f", kind, out["searches"][kind]["best"], best)
    out["seconds"] = round(time.perf_counter() - started, 1)
    (RESULTS / "summarization_prior_search.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: (v["best"], v["best_rouge1"]) for k, v in out["searches"].items()}, indent=1))


if __name__ == "__main__":
    main()

"""Choose the summariser's zero-shot feature weights on the VALIDATION splits (never test).

Embeds each validation document once, then grid-searches the weights of relevance, centrality,
position and length, scoring the mean ROUGE-1 over BBC News and SAMSum with the benchmark's
budgets. Writes evaluation/results/summarization_prior_search.json; the best row's weights are the
default ``SummarizerConfig.prior`` (copied into the config by hand, with the results file's commit).

    python evaluation/tune_zero_shot_prior.py --docs 100
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging

import torch
from common import RESULTS, git_commit, machine
from summarization_benchmark import BUDGET, load

from stage2.metrics import rouge_scores
from stage2.summarization.data import budget_in_words
from stage2.summarization.modeling import FEATURES, Summarizer
from stage2.summarization.selection import select


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=100, help="validation documents per data set")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    model = Summarizer.from_pretrained(None).eval()
    cache = {}
    with torch.no_grad():
        for ds in BUDGET:
            docs = load(ds, "validation")[: args.docs]
            items = []
            for ex in docs:
                texts = [s.text for s in ex.sentences]
                if not texts:
                    continue
                emb = model.embed(texts)
                prompt = model._prompt_embedding(model.intent_prompt(ex.document))
                items.append((ex, texts, emb, prompt))
            cache[ds] = items
    feats = {
        ds: [
            (ex, texts, model.features(emb, prompt, [len(t.split()) for t in texts]))
            for ex, texts, emb, prompt in items
        ]
        for ds, items in cache.items()
    }
    grid = [0.0, 1.0, 2.0, 4.0, 8.0]
    rows = []
    for weights in itertools.product(grid, repeat=len(FEATURES)):
        if not any(weights):
            continue
        w = torch.tensor(weights)
        per_ds = {}
        for ds, items in feats.items():
            hyps, refs = [], []
            b = BUDGET[ds]
            for ex, texts, f in items:
                scores = (f @ w).numpy()
                words = budget_in_words(sum(len(t.split()) for t in texts), None, b.get("ratio"))
                chosen = select(texts, scores, b.get("max_sentences"), words, "trigram")
                hyps.append("\n".join(texts[i] for i in chosen))
                refs.append(ex.summary)
            per_ds[ds] = rouge_scores(refs, hyps)["rouge1"]
        rows.append(
            {
                "prior": dict(zip(FEATURES, weights, strict=True)),
                "rouge1": per_ds,
                "mean_rouge1": round(sum(per_ds.values()) / len(per_ds), 2),
            }
        )
    rows.sort(key=lambda r: -r["mean_rouge1"])
    out = {
        "benchmark": "summarization_prior_search",
        "split": "validation",
        "docs_per_dataset": args.docs,
        "best": rows[0],
        "top10": rows[:10],
        "git_commit": git_commit(),
        "machine": machine(),
        "command": "python evaluation/tune_zero_shot_prior.py --docs " + str(args.docs),
    }
    (RESULTS / "summarization_prior_search.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(rows[:5], indent=1))


if __name__ == "__main__":
    main()

"""Transfer of the extractive summariser: weights fitted on one corpus, scored on the others.

Models (``--models NAME=PATH``; ``prior`` is the untrained summariser on the bundled encoder, the
zero-shot prior every model starts from): by default the full-setting models the benchmarks save,
``bbc_news`` (the shipped summariser's torch weights), ``samsum`` and ``qmsum``. Test sets, each with
its benchmark's budget: BBC News (40% of the words), SAMSum (3 turns), QMSum general and specific
queries (250 words, the query as the focus; scored as in ``qmsum_benchmark.py``). Rows
(``evaluation/results/summarization_transfer.json``, setting ``transfer``): one per (model, test set),
ROUGE-1/2/Lsum, resumable; the diagonal is in-domain (trained on that corpus's train split).

    python evaluation/summarization_benchmark.py --dataset samsum --systems stage2 --settings full \
        --save-model runs/models                                    # the samsum model
    python evaluation/qmsum_benchmark.py --systems stage2-prior --settings full --save-model runs/models
    python evaluation/transfer_benchmark.py
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile, git_commit, machine

logger = logging.getLogger("transfer_benchmark")
SETS = ("bbc_news", "samsum", "qmsum")
DEFAULT_MODELS = {
    "prior": None,
    "bbc_news": ROOT / "runs" / "models" / "bbc_news-stage2-full",
    "samsum": ROOT / "runs" / "models" / "samsum-stage2-full",
    "qmsum": ROOT / "runs" / "models" / "qmsum-stage2-full",
}


def evaluate(model: Any, dataset: str, cache: dict[tuple[str, ...], Any]) -> dict[str, dict[str, Any]]:
    """Scores of ``model`` on ``dataset``'s test split: ``{test set name: scores}`` (QMSum: two kinds)."""
    if dataset == "qmsum":
        from qmsum_benchmark import load, select_all, selector_stage2

        scores, _ = select_all(load("test"), selector_stage2(model, True), 250, "qmsum")
        return {f"qmsum-{kind}": block for kind, block in scores.items()}
    from summarization_benchmark import evaluate_stage2

    from stage2.benchmarks import load_summaries

    scores, _ = evaluate_stage2(model, load_summaries(dataset, "test"), dataset)
    return {dataset: scores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=None, help="NAME=PATH (PATH empty: the untrained prior)")
    parser.add_argument("--sets", nargs="+", choices=SETS, default=list(SETS))
    parser.add_argument("--force", action="store_true", help="redo finished rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from qmsum_benchmark import memoize_embeddings

    from stage2.summarization.modeling import Summarizer

    models = (
        {k: (Path(v) if v else None) for k, v in (m.split("=", 1) for m in args.models)}
        if args.models
        else DEFAULT_MODELS
    )
    res = ResultsFile("summarization_transfer", "summarization", "transfer", "test")
    cache: dict[tuple[str, ...], Any] = {}  # sentence embeddings: the encoder is the same frozen one everywhere
    for name, path in models.items():
        if path is not None and not path.exists():
            logger.warning("skip %s: %s not found (see the module docstring for how it is made)", name, path)
            continue
        model = Summarizer.from_pretrained(path)
        memoize_embeddings(model, cache)
        for dataset in args.sets:
            done = {r["dataset"] for r in res.data["rows"] if r["trained_on"] == name}
            finished = dataset in done or (dataset == "qmsum" and "qmsum-general" in done)
            if finished and not args.force:
                logger.info("skip %s on %s (done)", name, dataset)
                continue
            started = time.perf_counter()
            for test_set, scores in evaluate(model, dataset, cache).items():
                row = {
                    "system": "stage2",
                    "setting": "transfer",
                    "trained_on": name,
                    "dataset": test_set,
                    "in_domain": name == dataset,
                    "scores": scores,
                    "model": str(path.relative_to(ROOT)) if path is not None else "untrained prior",
                    "seconds": round(time.perf_counter() - started, 1),
                    "git_commit": git_commit(),
                    "command": " ".join([Path(sys.executable).name, *sys.argv]),
                    "machine": machine(),
                }
                logger.info("%s -> %s: %s", name, test_set, scores)
                res.data["rows"] = [
                    r for r in res.data["rows"] if (r["trained_on"], r["dataset"]) != (name, test_set)
                ] + [row]
                res.save()


if __name__ == "__main__":
    main()

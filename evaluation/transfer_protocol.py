"""The zero-shot transfer protocol: the dev figure that zero-shot designs are chosen on.

Seven sets whose types are unlike the rest of the shared corpora, held out of every design run
(``stage2.benchmarks.TRANSFER_HELD_OUT``, and Few-NERD INTER's 17 test types, which its train split never
has): spoken queries (SNIPS slots), science abstracts (SciERC), defence reports (re3d), software Q&A
(StackOverflow NER), wet-lab protocols (WLP), cancer genetics (BioNLP-13 CG) and Few-NERD INTER.
Each is read with the type names a user would type, no descriptions, and, where its types are more
specific than the general ones (person, organization, location, miscellaneous, date), with those general
types offered beside them as well (``names+general``): a general type is never gold, so picking
``person`` for an athlete is an error, as in the independent check this protocol stands in for.

Beside strict entity F1 a row records what goes wrong: the share of gold entities that no prediction
overlaps (``missed``), the share of exact spans given a general type instead of the specific one
(``general_wins``), and F1 at score thresholds (the ``threshold`` default is chosen on them).
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stage2.benchmarks import GENERAL_TYPES, NER_SETS, TRANSFER_HELD_OUT, data_dir, load_ner, ner_labels
from stage2.labels import Label, LabelSet, Span
from stage2.ner.data import NERExample

ROOT = Path(__file__).resolve().parents[1]

TRANSFER_SETS: tuple[str, ...] = (*TRANSFER_HELD_OUT, "fewnerd-inter")
"""The protocol's sets: the held-out corpora (test splits) and Few-NERD INTER (its 17 test types)."""

DEFAULT_LIMIT = 1000
"""Sentences per set (the first N of each test split): seven sets in a few minutes on 2 CPU cores."""

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

_MISC, _PER, _ORG, _LOC, _DATE = "miscellaneous", "person", "organization", "location", "date"

PARENTS: dict[str, dict[str, str]] = {
    "snips_slots": {
        "artist": _PER,
        "city": _LOC,
        "country": _LOC,
        "state": _LOC,
        "geographic_poi": _LOC,
        "location_name": _LOC,
        "restaurant_name": _ORG,
        "album": _MISC,
        "track": _MISC,
        "movie_name": _MISC,
        "playlist": _MISC,
        "entity_name": _MISC,
        "object_name": _MISC,
        "timeRange": _DATE,
        "year": _DATE,
    },
    "re3d": {
        "Nationality": _MISC,
        "Weapon": _MISC,
        "MilitaryPlatform": _MISC,
        "DocumentReference": _MISC,
        "Temporal": _DATE,
    },
    "stackoverflow_ner": {
        "User_Name": _PER,
        "Application": _MISC,
        "Library": _MISC,
        "Operating_System": _MISC,
        "Language": _MISC,
        "Device": _MISC,
        "Website": _MISC,
    },
    "fewnerd-inter": {
        "person-athlete": _PER,
        "person-actor": _PER,
        "organization-government/governmentagency": _ORG,
        "organization-politicalparty": _ORG,
        "building-theater": _LOC,
        "building-hospital": _LOC,
        "event-sportsevent": _MISC,
        "event-election": _MISC,
        "art-music": _MISC,
        "art-writtenart": _MISC,
        "product-weapon": _MISC,
        "product-car": _MISC,
        "other-livingthing": _MISC,
        "other-medical": _MISC,
        "other-educationaldegree": _MISC,
    },
}
"""Each set's specific types and the general type a user would ask for beside them (none for SciERC,
WLP and BioNLP-13 CG, whose types have no general counterpart)."""

GENERAL_PREFIX = "__general_"


def _corpus_labels(corpus: str, types: list[str]) -> LabelSet:
    """A corpus's type names as the recipes write them (``models/ner-base/labels.json``)."""
    spec = importlib.util.spec_from_file_location("ner_base_recipe", ROOT / "models" / "ner-base" / "recipe.py")
    assert spec is not None and spec.loader is not None
    recipe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(recipe)
    return recipe.corpus_labels(corpus, types)


def load_set(dataset: str, limit: int | None = DEFAULT_LIMIT) -> list[NERExample]:
    """The first ``limit`` sentences of a protocol set's test split."""
    return load_ner(dataset, "test", limit)


def transfer_labels(dataset: str, general: bool) -> LabelSet:
    """What a user would ask for on ``dataset``: its type names (no descriptions), with ``general`` also
    the general types that its types are more specific than (keys ``__general_<name>``, never gold)."""
    if dataset in NER_SETS:
        own = ner_labels(dataset, descriptions=False)
    else:
        types = json.loads((data_dir() / dataset / "labels.json").read_text(encoding="utf-8"))["entity_types"]
        own = LabelSet([Label(lb.key, lb.name, "") for lb in _corpus_labels(dataset, types)])
    if not general:
        return own
    names = {lb.name.lower() for lb in own}
    wanted = [g for g in GENERAL_TYPES if g in set(PARENTS.get(dataset, {}).values()) and g not in names]
    return LabelSet([*own, *(Label(GENERAL_PREFIX + g, GENERAL_TYPES[g][0], "") for g in wanted)])


def analyse(
    dataset: str, examples: Sequence[NERExample], predicted: Sequence[Sequence[tuple[Span, float]]]
) -> dict[str, Any]:
    """Error kinds and the threshold curve of scored predictions against gold spans."""
    parents = PARENTS.get(dataset, {})
    gold_n = missed = specific = general = 0
    for ex, spans in zip(examples, predicted, strict=True):
        found = {(s.start, s.end): s.label for s, _ in spans}
        for g in ex.spans:
            gold_n += 1
            if not any(s.start < g.end and g.start < s.end for s, _ in spans):
                missed += 1
            label = found.get((g.start, g.end))
            if g.label in parents and label is not None:
                if label == g.label:
                    specific += 1
                elif label == GENERAL_PREFIX + parents[g.label]:
                    general += 1
    return {
        "gold_entities": gold_n,
        "missed": round(100 * missed / max(gold_n, 1), 2),
        "specific_exact": specific,
        "general_exact": general,
        "general_wins": round(100 * general / (specific + general), 2) if specific + general else None,
        "f1_at_threshold": {str(t): span_f1(examples, predicted, t) for t in THRESHOLDS},
    }


def span_f1(
    examples: Sequence[NERExample], predicted: Sequence[Sequence[tuple[Span, float]]], threshold: float
) -> float:
    """Strict entity F1 (percent) of the predictions scored at least ``threshold``."""
    tp = n_pred = n_gold = 0
    for ex, spans in zip(examples, predicted, strict=True):
        gold = {(g.label, g.start, g.end) for g in ex.spans}
        pred = {(s.label, s.start, s.end) for s, score in spans if score >= threshold}
        tp += len(gold & pred)
        n_pred += len(pred)
        n_gold += len(gold)
    return round(200 * tp / (n_pred + n_gold), 2) if n_pred + n_gold else 0.0


def set_figure(rows: Sequence[dict[str, Any]], dataset: str) -> dict[str, Any] | None:
    """A system's row for a set: with general types where the set has them, else names alone."""
    by = {r["labels"]: r for r in rows if r["dataset"] == dataset}
    return by.get("names+general") or (by.get("names") if not PARENTS.get(dataset) else None)


def summary(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """A system's protocol figures: the transfer mean and what goes wrong (None until every set has a row)."""
    picked = [set_figure(rows, d) for d in TRANSFER_SETS]
    if any(r is None for r in picked):
        return None
    full = [r for r in picked if r is not None]
    names = [r for r in rows if r["labels"] == "names"]
    general = [r["analysis"]["general_wins"] for r in full if r["analysis"].get("general_wins") is not None]
    curve = {t: sum(r["analysis"]["f1_at_threshold"][t] for r in full) / len(full) for t in map(str, THRESHOLDS)}
    best = max(curve, key=lambda t: curve[t])
    return {
        "mean": sum(r["scores"]["f1"] for r in full) / len(full),
        "names_mean": sum(r["scores"]["f1"] for r in names) / len(names) if len(names) == len(TRANSFER_SETS) else None,
        "per_set": {d: r["scores"]["f1"] for d, r in zip(TRANSFER_SETS, full, strict=True)},
        "general_wins": sum(general) / len(general) if general else None,
        "missed": sum(r["analysis"]["missed"] for r in full) / len(full),
        "best_threshold": (best, curve[best]),
        "zero_shot": all(r["setting"] == "zero-shot" for r in full),
    }


def protocol_table(path: Path) -> str:
    """The README's table of the protocol: one line per system (``run@step`` lines are a learning curve)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    systems = sorted({r["system"] for r in data["rows"]}, key=_curve_order)
    short = {"snips_slots": "snips", "stackoverflow_ner": "so-ner", "wlp_wnut2020": "wlp", "fewnerd-inter": "fewnerd"}
    lines = [
        "**Zero-shot transfer protocol** (what zero-shot designs are chosen on: seven sets held out of every design "
        f"run, first {DEFAULT_LIMIT} test sentences each, type names alone with the general types offered beside "
        "specific ones; strict micro-F1; *mean*: over the seven sets; *names*: the mean without general types; "
        "*general wins*: % of exact spans given the general type instead of the specific one; *missed*: % of gold "
        "entities no prediction overlaps; *best threshold*: the score cut with the highest mean, and that mean; "
        "*italic* mean: the system trained on some of these sets, so not a transfer figure)",
        "",
        "| system | mean | " + " | ".join(short.get(d, d) for d in TRANSFER_SETS) + " | names | general wins | missed "
        "| best threshold | design |",
        "|---|" + "---|" * (len(TRANSFER_SETS) + 6),
    ]
    for system in systems:
        rows = [r for r in data["rows"] if r["system"] == system]
        s = summary(rows)
        if s is None:
            continue
        mean = f"{s['mean']:.2f}" if s["zero_shot"] else f"*{s['mean']:.2f}*"
        cells = [f"{s['per_set'][d]:.2f}" for d in TRANSFER_SETS]
        names = f"{s['names_mean']:.2f}" if s["names_mean"] is not None else "–"
        wins = f"{s['general_wins']:.1f}" if s["general_wins"] is not None else "–"
        t, f1 = s["best_threshold"]
        design = rows[0].get("design", "")
        lines.append(
            f"| {system} | {mean} | " + " | ".join(cells) + f" | {names} | {wins} | {s['missed']:.1f} | "
            f"{t}: {f1:.2f} | {design} |"
        )
    lines += ["", f"Machine: {data.get('machine', '?')}; commit `{data.get('git_commit', '?')[:12]}`.", ""]
    return "\n".join(lines)


def _curve_order(system: str) -> tuple[str, int]:
    name, _, step = system.partition("@")
    return name, int(step) if step.isdigit() else 10**9

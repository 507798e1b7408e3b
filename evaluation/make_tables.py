"""Regenerate the README's result tables from evaluation/results/*.json (never typed by hand).

python evaluation/make_tables.py          # rewrites the block between the README markers
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tables_serving import provenance, serving_parts
from tables_written import written_parts

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "evaluation" / "results"
START, END = "<!-- results:start -->", "<!-- results:end -->"
SETTINGS = ["zero-shot", "5-shot", "10-shot", "20-shot", "full"]


def _cell(row: dict | None, metric: str = "f1") -> str:
    if row is None:
        return "–"
    mean = row["scores"][metric]
    std = row.get("std", {}).get(metric, 0.0)
    n = len(row.get("seeds", []))
    if row["setting"] not in ("zero-shot", "full") and n > 1:
        return f"{mean:.2f} ± {std:.2f} (n={n})"
    return f"{mean:.2f}"


def _sentences_alone(row: dict | None) -> str:
    values = [s["f1_sentences_alone"] for s in (row or {}).get("per_seed", []) if "f1_sentences_alone" in s]
    return f"{sum(values) / len(values):.2f}" if values else "–"


def ner_table(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data["rows"]
    systems = sorted({r["system"] for r in rows}, key=lambda s: (s != "stage2", s))
    lines = [
        f"**{data['dataset']}** ({data['split']} split, seqeval strict IOB2 micro-F1; mean ± std over seeds)",
        "",
        "| system | " + " | ".join(SETTINGS) + " | full, sentences alone | train s (5-shot / full) |",
        "|---|" + "---|" * (len(SETTINGS) + 2),
    ]
    for system in systems:
        by = {r["setting"]: r for r in rows if r["system"] == system}
        t5 = by.get("5-shot", {}).get("train_seconds")
        tf = by.get("full", {}).get("train_seconds")
        times = f"{t5 if t5 is not None else '–'} / {tf if tf is not None else '–'}"
        alone = _sentences_alone(by.get("full"))
        lines.append(f"| {system} | " + " | ".join(_cell(by.get(s)) for s in SETTINGS) + f" | {alone} | {times} |")
    lines += [
        "",
        "*full, sentences alone*: the document-context rows' models reading every test sentence without its "
        "neighbours, as a service given one sentence does (recorded since the stage2-doc-cd row).",
        *_zero_shot_source(data["dataset"], rows),
        "",
        provenance(data),
        "",
    ]
    return "\n".join(lines)


def _recipe(notes: str) -> str:
    """A K-shot row's recipe, read from its notes: steps, learning rates, self-distillation, threshold."""
    steps = re.search(r"(\d+) steps, batch", notes)
    lrs = re.search(r"encoder lr ([\d.e-]+), head lr ([\d.e-]+)", notes)
    distill = re.search(r"self-distilled \(teacher: the starting model, weight ([\d.]+)", notes)
    threshold = re.search(r"decision threshold ([\d.]+) after training", notes)
    return "; ".join(
        [
            f"{steps.group(1) if steps else '?'} steps",
            f"lr {lrs.group(1)} / head {lrs.group(2)}" if lrs else "lr 5e-05 / head 0.0002",
            f"self-distil {distill.group(1)}" if distill else "no self-distil",
            f"threshold {threshold.group(1)}" if threshold else "threshold of the start (0.27)",
        ]
    )


def fewshot_recipe_table(paths: list[Path]) -> str:
    """The few-shot recipe rows on dev splits: each variant's 5-shot F1 per set beside the zero-shot F1, and how
    many seeds fell below zero-shot."""
    sets = [json.loads(p.read_text(encoding="utf-8")) for p in paths]
    names = list(dict.fromkeys(r["system"] for d in sets for r in d["rows"] if r["setting"] == "5-shot"))
    zero = [_zero(d) for d in sets]
    head = " | ".join(f"{d['dataset']} 5-shot (zero-shot {z})" for d, z in zip(sets, zero, strict=True))
    lines = [
        "**Few-shot recipe choices** (dev splits, from the shipped ner-zero, seeds 1-5; what the K-shot recipe was "
        "chosen on; *below zero*: seeds under the zero-shot F1)",
        "",
        f"| row | recipe | {head} | mean | below zero |",
        "|---|---|" + "---|" * (len(sets) + 2),
    ]
    for name in names:
        cells = [next((r for r in d["rows"] if r["system"] == name and r["setting"] == "5-shot"), None) for d in sets]
        found = [c for c in cells if c is not None]
        complete = len(found) == len(sets) and all(len(c["seeds"]) == 5 for c in found)
        mean = f"{sum(c['scores']['f1'] for c in found) / len(found):.2f}" if complete else "–"
        below = sum(s["f1"] < z for c, z in zip(cells, zero, strict=True) if c for s in c["per_seed"])
        lines.append(
            f"| {name} | {_recipe(found[0]['notes'])} | "
            + " | ".join(_cell(c) for c in cells)
            + f" | {mean} | {below} |"
        )
    lines += ["", provenance(sets[0]), ""]
    return "\n".join(lines)


def _zero(data: dict) -> float:
    row = next((r for r in data["rows"] if r["setting"] == "zero-shot"), None)
    return row["scores"]["f1"] if row else float("nan")


def _zero_shot_source(dataset: str, rows: list[dict]) -> list[str]:
    """Why a stage2-zero system's zero-shot cell differs from the zero-shot table's rows of the export it started
    from: this one is the float16 torch weights read with label names and descriptions, those the int8 export.
    ``stage2-zero`` starts from ``ner-zero``; ``stage2-zero-softmax`` (rows measured before the sigmoid ner-zero
    shipped) from ``ner-zero-softmax``."""
    path = RESULTS / "ner_zero_shot.json"
    if not path.exists():
        return []
    zero_rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    lines: list[str] = []
    for mine in sorted(
        (r for r in rows if r["system"].startswith("stage2-zero") and r["setting"] == "zero-shot"),
        key=lambda r: r["system"],
    ):
        source = mine["system"].replace("stage2-zero", "ner-zero", 1)
        shipped = [r for r in zero_rows if r["system"] == source and r["dataset"] == dataset]
        export = "; ".join(
            f"{r['scores']['f1']:.2f} with label {r['labels']}" for r in sorted(shipped, key=lambda r: r["labels"])
        )
        lines += [
            "",
            f"*{mine['system']}*: its rows start from the float16 torch weights of the {source} export (zero-shot: "
            f"{mine['scores']['f1']:.2f}, read with label names and descriptions); the zero-shot table's {source} "
            f"rows are that model's int8 export ({export or 'not measured'}).",
        ]
    return lines


ZERO_SHOT_SETS = ["conll2003", "wnut17", "fewnerd-inter", "multinerd", "wikineural"]


def zero_shot_table(path: Path, sets: list[str] | None = None, title: str = "") -> str:
    """One line per (system, label variant): F1 per set and the mean over the sets (when it has all)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = data["rows"]
    sets = sets or ZERO_SHOT_SETS
    keys = sorted({(r["system"], r["labels"]) for r in rows})
    design = {r["system"]: r.get("design", "") for r in rows}
    lines = [
        title
        or "**Zero-shot NER** (test splits, entity types given by name at predict time; seqeval strict micro-F1; "
        "*italic*: the model trained on that set, so not zero-shot)",
        "",
        "| system | labels | " + " | ".join(sets) + " | mean |" + (" design |" if any(design.values()) else ""),
        "|---|---|" + "---|" * (len(sets) + 1 + any(design.values())),
    ]
    for system, variant in keys:
        by = {r["dataset"]: r for r in rows if (r["system"], r["labels"]) == (system, variant)}
        cells = []
        for d in sets:
            r = by.get(d)
            if r is None:
                cells.append("–")
            else:
                f1 = f"{r['scores']['f1']:.2f}"
                cells.append(f1 if r["setting"] == "zero-shot" else f"*{f1}*")
        mean = f"{sum(r['scores']['f1'] for r in by.values()) / len(by):.2f}" if len(by) == len(sets) else "–"
        extra = f" {design[system]} |" if any(design.values()) else ""
        lines.append(f"| {system} | {variant} | " + " | ".join(cells) + f" | {mean} |" + extra)
    lines += [
        "",
        "Few-NERD INTER: the 17 test types, disjoint from the 36 INTER train types some models trained on. "
        "spacy-sm: OntoNotes types mapped onto a set's types where they have a counterpart (none for Few-NERD).",
        "",
        provenance(data),
        "",
    ]
    return "\n".join(lines)


SUMM_SETTINGS = ["zero-shot", "10-shot", "100-shot", "full"]


def summarization_table(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for r in data["rows"] if not r["system"].startswith("stage2-abstractive")]  # tables_written
    lines = [
        f"**{data['dataset']}** ({data['split']} split, rouge-score F1 with stemming: R1 / R2 / RLsum; "
        "K-shot rows: mean over seeds, ± std of R1)",
        "",
        "| system | setting | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | seeds | train s |",
        "|---|---|---|---|---|---|---|",
    ]
    order = {"stage2": 0, "oracle": 9}
    for r in sorted(
        rows,
        key=lambda r: (
            order.get(r["system"], 1),
            r["system"],
            SUMM_SETTINGS.index(r["setting"]) if r["setting"] in SUMM_SETTINGS else 9,
        ),
    ):
        sc = r["scores"]
        r1 = f"{sc['rouge1']:.2f}" + (f" ± {r['std']['rouge1']:.2f}" if len(r.get("seeds", [])) > 1 else "")
        t = r.get("train_seconds")
        lines.append(
            f"| {r['system']} | {r['setting']} | {r1} | {sc['rouge2']:.2f} | {sc['rougeLsum']:.2f} | "
            f"{len(r.get('seeds', []))} | {t if t is not None else '–'} |"
        )
    lines += ["", provenance(data), ""]
    return "\n".join(lines)


def _rouge(block: dict) -> str:
    return f"{block['rouge1']:.2f} / {block['rouge2']:.2f} / {block['rougeLsum']:.2f}" if block else "–"


def qmsum_table(path: Path) -> str:
    """QMSum: turn retrieval (specific queries) and ROUGE per query kind, per system."""
    data = json.loads(path.read_text(encoding="utf-8"))
    order = {"zero-shot": 0, "10-shot": 1, "100-shot": 2, "full": 3}
    rows = sorted(
        data["rows"],
        key=lambda r: ({"stage2": 0, "oracle": 9}.get(r["system"], 1), r["system"], order.get(r["setting"], 9)),
    )
    budget = rows[0]["budget_words"] if rows else "?"
    lines = [
        f"**qmsum** ({data['split']} split; each system selects turns (the summariser: its units, sentences of "
        f"turns over 100 words), at most {budget} words, given the query; turn P / R / F1 against the gold relevant "
        "turns of specific queries; rouge-score F1 with stemming of the selected text against the answer)",
        "",
        "| system | setting | specific: turn P / R / F1 | specific: R1 / R2 / RLsum | general: R1 / R2 / RLsum "
        "| s per meeting |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        sp, ge = r["scores"].get("specific", {}), r["scores"].get("general", {})
        turns = f"{sp.get('turn_precision', 0):.2f} / {sp.get('turn_recall', 0):.2f} / {sp.get('turn_f1', 0):.2f}"
        kshot = r["setting"] not in ("zero-shot", "full")
        seeds = f" (n={len(r['seeds'])})" if len(r.get("seeds", [])) > 1 or (kshot and r.get("seeds")) else ""
        lines.append(
            f"| {r['system']} | {r['setting']}{seeds} | {turns} | {_rouge(sp)} | {_rouge(ge)} "
            f"| {r.get('seconds_per_meeting', '–')} |"
        )
    meetings = rows[0]["meetings"] if rows else "?"
    words = next((r["mean_meeting_words"] for r in rows if "mean_meeting_words" in r), "?")
    lines += [
        "",
        f"{meetings} meetings of {words} words on average, read whole. stage2-prior: the untrained summariser on the "
        "bundled encoder and what K training queries (mean of seeds) or the whole train split make of it (no time: "
        "those rows score queries from a per-meeting embedding cache; their K-shot rows fit the salience direction). "
        "stage2-encoder: the same prior with its encoder's top layers fine-tuned on the K queries (the library's "
        "few-shot default). " + provenance(data),
        "",
    ]
    return "\n".join(lines)


def transfer_table(path: Path) -> str:
    """ROUGE-1 of each model (rows: trained on) on each test set (columns); in-domain in italics."""
    data = json.loads(path.read_text(encoding="utf-8"))
    sets = ["bbc_news", "samsum", "qmsum-general", "qmsum-specific"]
    models = list(dict.fromkeys(r["trained_on"] for r in data["rows"]))
    cells = {(r["trained_on"], r["dataset"]): r for r in data["rows"]}
    lines = [
        "**Transfer** (test splits, ROUGE-1; rows: the corpus the weights were fitted on, whole train split; *italic*: "
        "in-domain; prior: no training)",
        "",
        "| trained on | " + " | ".join(sets) + " |",
        "|---|" + "---|" * len(sets),
    ]
    for m in models:
        row = []
        for s in sets:
            r = cells.get((m, s))
            value = "–" if r is None else f"{r['scores']['rouge1']:.2f}"
            row.append(f"*{value}*" if r is not None and r.get("in_domain", s.startswith(m)) else value)
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    lines += ["", provenance(data), ""]
    return "\n".join(lines)


def render() -> str:
    parts = ["### NER", ""]
    found = False
    for name in ("ner_conll2003", "ner_wnut17"):
        path = RESULTS / f"{name}.json"
        if path.exists():
            parts.append(ner_table(path))
            found = True
    if not found:
        parts.append("No NER results yet.")
    zero = RESULTS / "ner_zero_shot.json"
    if zero.exists():
        parts.append(zero_shot_table(zero))
    dev = RESULTS / "ner_zero_shot_dev.json"
    if dev.exists():
        title = (
            "**Zero-shot design choices** (dev splits, first 1000 sentences a set: what the designs were chosen on; "
            "Few-NERD INTER has no dev split)"
        )
        parts.append(zero_shot_table(dev, [s for s in ZERO_SHOT_SETS if s != "fewnerd-inter"], title))
    recipe = [RESULTS / f"ner_{name}_dev.json" for name in ("conll2003", "wnut17")]
    if all(p.exists() for p in recipe):
        parts.append(fewshot_recipe_table(recipe))
    protocol = RESULTS / "ner_zero_shot_transfer.json"
    if protocol.exists():
        from transfer_protocol import protocol_table

        parts.append(protocol_table(protocol))
    parts += ["", "### Summarisation (extractive)", ""]
    found = False
    for name in ("summarization_bbc_news", "summarization_samsum"):
        path = RESULTS / f"{name}.json"
        if path.exists():
            parts.append(summarization_table(path))
            found = True
    if not found:
        parts.append("No summarisation results yet.")
    qmsum = RESULTS / "summarization_qmsum.json"
    if qmsum.exists():
        parts.append(qmsum_table(qmsum))
    qmsum_dev = RESULTS / "summarization_qmsum_dev.json"
    if qmsum_dev.exists():
        parts += ["**QMSum design choices** (validation split: what the focus settings were chosen on)", ""]
        parts.append(qmsum_table(qmsum_dev))
    transfer = RESULTS / "summarization_transfer.json"
    if transfer.exists():
        parts.append(transfer_table(transfer))
    parts += written_parts(RESULTS)
    parts += serving_parts(RESULTS)
    return "\n".join(parts)


def main() -> None:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        raise SystemExit(f"{readme}: markers {START} / {END} not found")
    block = f"{START}\n{render()}\n{END}"
    readme.write_text(
        re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, text, flags=re.S), encoding="utf-8"
    )


if __name__ == "__main__":
    main()

"""README tables of the written (abstractive) summariser: test rows, design rows and the training-step costs."""

from __future__ import annotations

import json
from pathlib import Path

from common import machine_kind
from tables_serving import provenance, row_machines


def written_test_table(path: Path) -> str:
    """SAMSum test rows of the written summariser (``stage2-abstractive*`` in summarization_samsum.json)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = [r for r in data["rows"] if r["system"].startswith("stage2-abstractive")]
    if not rows:
        return ""
    lines = [
        "**Written summaries on SAMSum test** (rouge-score F1 with stemming; made up: names and numbers of the "
        "summaries that the dialogue lacks, the reference summaries' own share beside it; ms: generation per "
        "dialogue, beam 4)",
        "",
        "| system | export | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | made up | references made up | words | ms median / p95 "
        "| MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: r["system"]):
        sc, seed = r["scores"], r["per_seed"][0]
        made, ref = seed["hallucination"], seed["reference_hallucination"]
        lines.append(
            f"| {r['system']} | {Path(r['export']).name} | {sc['rouge1']:.2f} | {sc['rouge2']:.2f} | "
            f"{sc['rougeLsum']:.2f} | {made['rate']}% ({made['unsupported']}/{made['terms']}) | {ref['rate']}% | "
            f"{seed['mean_summary_words']} | {seed['ms_per_document_median']} / {seed['ms_per_document_p95']} | "
            f"{r['export_megabytes']} |"
        )
    machines = sorted({r["machine"] for r in rows})
    lines += ["", f"Machine: {'; '.join(machines)}.", ""]
    return "\n".join(lines)


def written_design_table(path: Path) -> str:
    """Training runs of the written summariser and their best validation ROUGE (abstractive_designs.json)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "**Written summariser designs** (SAMSum validation, greedy summaries, the best of the run's evaluations)",
        "",
        "| design | steps | s/step | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | ROUGE-1 along the run |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(data["rows"], key=lambda r: -r["scores"]["rouge1"]):
        sc = r["scores"]
        curve = ", ".join(f"{c['rouge1']:.1f}@{c['step']}" for c in r["curve"])
        lines.append(
            f"| {r['system']} | {r['steps']} | {r['seconds_per_step'] or '–'} | {sc['rouge1']:.2f} | "
            f"{sc['rouge2']:.2f} | "
            f"{sc['rougeLsum']:.2f} | {curve} |"
        )
    notes = [f"{r['system']}: {r['notes']}." for r in data["rows"]]
    lines += ["", " ".join(notes) + " " + provenance(data), ""]
    return "\n".join(lines)


def decoding_table(path: Path) -> str:
    """Decoding settings tried on SAMSum validation (abstractive_decoding.json)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "**Decoding settings** (evaluation/abstractive_decoding.py: the int8 export on SAMSum validation; the shipped "
        "default is the SearchSettings in stage2/summarization/generation.py)",
        "",
        "| settings | ROUGE-1 | ROUGE-2 | ROUGE-Lsum | words | made up | dialogues |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        sc = r["scores"]
        lines.append(
            f"| {r['system']} | {sc['rouge1']:.2f} | {sc['rouge2']:.2f} | {sc['rougeLsum']:.2f} | "
            f"{r['mean_summary_words']} | {r['hallucination']['rate']}% | {r['dialogues']} |"
        )
    lines += ["", provenance(data), ""]
    return "\n".join(lines)


def step_cost_table(path: Path) -> str:
    """Seconds per training step of the designs considered (abstractive_step_cost.json)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "**What a training step costs** (evaluation/abstractive_step_cost.py: BERT2BERT designs from the bundled "
        "MiniLM, SAMSum batches of 8)",
        "",
        "| design | machine | s/step | trainable M | an epoch, min |",
        "|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        sc = r["scores"]
        lines.append(
            f"| {r['system']} | {machine_kind(r)} | {sc['seconds_per_step']} | {sc['trainable_millions']} | "
            f"{sc['epoch_minutes']} |"
        )
    lines += ["", row_machines(data["rows"]), ""]
    return "\n".join(lines)


def written_parts(results: Path) -> list[str]:
    """The written summariser's README section (empty without results)."""
    parts: list[str] = []
    samsum = results / "summarization_samsum.json"
    if samsum.exists() and (table := written_test_table(samsum)):
        parts.append(table)
    designs = results / "abstractive_designs.json"
    if designs.exists():
        parts.append(written_design_table(designs))
    decoding = results / "abstractive_decoding.json"
    if decoding.exists():
        parts.append(decoding_table(decoding))
    cost = results / "abstractive_step_cost.json"
    if cost.exists():
        parts.append(step_cost_table(cost))
    return ["", "### Summarisation (written)", "", *parts] if parts else []

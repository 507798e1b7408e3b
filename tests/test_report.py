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

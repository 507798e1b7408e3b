"""What ships works as the README says: the main job and run-time labels on exports/ner-default, and
the summarisers on the real (bundled) encoder."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from stage2.cli import main

ROOT = Path(__file__).resolve().parents[1]
ARTICLE = (
    "The European Central Bank raised its main interest rate on Thursday. The increase of a quarter point was "
    "expected by most economists. Inflation in the euro area fell to 2.9 percent in October. The bank's "
    "president said further rises were possible. Markets in Frankfurt and Paris closed higher. Analysts at "
    "Deutsche Bank said the decision would weigh on growth. The next meeting is in December."
)


def _readme_command(marker: str) -> list[str]:
    """The README command line that ends with the comment ``marker``, as arguments after ``stage2``."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = next(ln for ln in readme.splitlines() if ln.startswith("stage2 ") and marker in ln)
    return shlex.split(line.split("  #")[0])[1:]


def _entities(capsys: pytest.CaptureFixture[str]) -> set[tuple[str, str]]:
    (record,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return {(e["text"], e["label"]) for e in record["entities"]}


def test_readme_main_job_tags_with_the_shipped_default(capsys):
    argv = _readme_command("the main job")
    assert argv[0] == "ner"
    assert main(argv) == 0
    found = _entities(capsys)
    assert {("Angela Merkel", "PER"), ("Emmanuel Macron", "PER"), ("Paris", "LOC")} <= found


def test_readme_run_time_labels_reach_the_default_model(capsys):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    line = re.search(r"^stage2 ner .* --labels \S+$", readme, flags=re.M)
    assert line is not None
    assert main(shlex.split(line.group(0))[1:]) == 0
    found = _entities(capsys)
    assert ("Angela Merkel", "person") in found and ("Paris", "city") in found


def test_shipped_summarizer_export_summarises():
    import stage2.runtime as rt

    result = rt.load("summarizer-default").summarize(ARTICLE, max_sentences=2)
    assert len(result["sentences"]) == 2
    assert all(s["text"] in ARTICLE for s in result["sentences"])


def test_zero_shot_summarizer_on_the_bundled_encoder():
    from stage2.summarization.modeling import Summarizer

    model = Summarizer.from_pretrained()  # the bundled MiniLM, no training
    result = model.summarize(ARTICLE, max_sentences=3)
    assert len(result["sentences"]) == 3 and all(s["text"] in ARTICLE for s in result["sentences"])
    plain = model.summarize(ARTICLE, max_sentences=1)["sentences"][0]["text"]
    focused = model.summarize(ARTICLE, max_sentences=1, focus="economic growth")["sentences"][0]["text"]
    assert plain.startswith("The European Central Bank") and "growth" in focused  # the focus is followed


def test_readme_summarize_reads_a_file_and_a_pipe_through_the_installed_command(tmp_path):
    """Issue 24's newcomer path: ``stage2 summarize --input article.txt`` (README) and ``cat article.txt |
    stage2 summarize``, run as a user runs them: the installed console script, the shipped summariser."""
    import shutil
    import subprocess
    import sys

    script = shutil.which("stage2", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the stage2 console script is not installed beside this Python")
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "`stage2 summarize --input article.txt`" in readme
    by_file = subprocess.run(
        [script, "summarize", "--input", "article.txt"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    piped = subprocess.run(
        [script, "summarize"], input=ARTICLE, cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    for done in (by_file, piped):
        assert done.returncode == 0, done.stderr
        (record,) = [json.loads(line) for line in done.stdout.splitlines()]
        assert record["sentences"] and all(s["text"] in ARTICLE for s in record["sentences"])
    assert by_file.stdout == piped.stdout

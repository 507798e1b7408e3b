"""Time the README's few-shot quick start exactly as a new user runs it.

The shell block after "A few-shot fine-tune of the bundled encoder from the shell" is read from README.md
and run in a fresh shell (the user's environment, no thread settings added), its output folder moved to a
temporary one. Each repeat is one row seed in ``evaluation/results/quickstart.json``: wall seconds of the
whole block, of training alone, and whether the prediction found Angela Merkel. Resumable: finished
repeats are kept (``--force`` reruns them).

    python evaluation/quickstart_benchmark.py --repeats 2
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import tempfile
import time
from pathlib import Path

from common import ROOT, ResultsFile

logger = logging.getLogger("quickstart_benchmark")

MARKER = "A few-shot fine-tune of the bundled encoder from the shell"


def readme_block(readme: Path = ROOT / "README.md") -> str:
    """The quick start's shell commands, as the README shows them."""
    text = readme.read_text(encoding="utf-8")
    at = text.index(MARKER)
    match = re.search(r"```bash\n(.*?)```", text[at:], flags=re.S)
    if match is None:
        raise SystemExit(f"README.md: no bash block after {MARKER!r}")
    return match.group(1).strip()


def run_once(block: str) -> dict[str, float | bool]:
    """Run the block once in a temporary output folder; its timings and whether it found the entity."""
    with tempfile.TemporaryDirectory() as tmp:
        train, predict = [part.strip() for part in block.replace("\\\n", " ").split("&&")]
        out = str(Path(tmp) / "quickstart")
        started = time.perf_counter()
        subprocess.run(train.replace("runs/quickstart", out), shell=True, check=True, cwd=ROOT, capture_output=True)
        trained = time.perf_counter() - started
        done = subprocess.run(
            predict.replace("runs/quickstart", out), shell=True, check=True, cwd=ROOT, capture_output=True, text=True
        )
        total = time.perf_counter() - started
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    found = any(e.get("text") == "Angela Merkel" for line in lines for e in line["entities"])
    return {"seconds": round(total, 1), "train_seconds": round(trained, 1), "found_merkel": found}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=2, help="runs of the quick start (each one row seed)")
    parser.add_argument("--force", action="store_true", help="rerun repeats already recorded")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    block = readme_block()
    res = ResultsFile("quickstart", "ner", "examples/ner_fewshot.jsonl", "README quick start")
    for repeat in range(1, args.repeats + 1):
        if repeat in res.done_seeds("readme-quickstart", "few-shot") and not args.force:
            continue
        measured = run_once(block)
        logger.info("repeat %d: %s", repeat, measured)
        res.add_seed(
            "readme-quickstart",
            "few-shot",
            None,
            repeat,
            {"seconds": float(measured["seconds"])},
            float(measured["train_seconds"]),
            {"found_merkel": measured["found_merkel"]},
            ["seconds"],
            block=block,
            notes="the README's shell block as written, in a fresh shell (no thread settings added); seed = repeat",
        )


if __name__ == "__main__":
    main()

"""Record each export's score on its fixed sample in its ``export_report.json`` (key ``"sample"``: the data
set, split, first N examples, labels or length budget, metric, score, git commit, command and date;
no other key changes). ``tests/test_exports.py`` recomputes the score and compares.

A shipped export's sample is ``stage2.benchmarks.EXPORT_SAMPLES[name]`` (the data, labels and budget of
its recipe's export check); another export is measured again on the sample its report already records.

    python evaluation/export_samples.py                       # every export in exports/
    python evaluation/export_samples.py ner-zero runs/exports/ner-fp32   # named ones (exports/NAME or a folder)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from common import ROOT

from stage2.benchmarks import EXPORT_SAMPLES
from stage2.export.sample import read_report, record_sample, sample_file, sample_settings
from stage2.registry import EXPORT_CONFIG

EXPORTS = ROOT / "exports"


def build_parser() -> argparse.ArgumentParser:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "exports", nargs="*", metavar="EXPORT", help="export names in exports/ or folders (default: all of exports/)"
    )
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: all cores)")
    return parser


def find_exports(names: list[str]) -> list[Path]:
    """The export folders named (a folder, else ``exports/NAME``), or every export in ``exports/``."""
    if not names:
        return sorted(p for p in EXPORTS.iterdir() if (p / EXPORT_CONFIG).is_file()) if EXPORTS.is_dir() else []
    folders = [Path(n) if Path(n).is_dir() else EXPORTS / n for n in names]
    missing = [str(f) for f in folders if not (f / EXPORT_CONFIG).is_file()]
    if missing:
        raise SystemExit(f"not an export (no {EXPORT_CONFIG}): {', '.join(missing)}")
    return folders


def sample_of(folder: Path) -> dict[str, Any]:
    """The sample ``folder`` is measured on: a shipped export's by its name, else the one its report records."""
    if folder.name in EXPORT_SAMPLES and folder.resolve().parent == EXPORTS.resolve():
        return EXPORT_SAMPLES[folder.name]
    recorded = read_report(folder).get("sample")
    if not isinstance(recorded, dict):
        raise SystemExit(
            f"{folder}: no sample in stage2.benchmarks.EXPORT_SAMPLES (shipped exports only) and none recorded in "
            "its export_report.json"
        )
    return sample_settings(recorded)


def main(argv: list[str] | None = None) -> None:
    """Measure and record the sample of each export asked for (all inputs checked before any work)."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    folders = find_exports(args.exports)
    if not folders:
        raise SystemExit(f"{EXPORTS}: no exports found")
    samples = {folder: sample_of(folder) for folder in folders}
    absent = sorted({str(sample_file(s)) for s in samples.values() if not sample_file(s).is_file()})
    if absent:
        raise SystemExit(f"data not found: {', '.join(absent)} (set STAGE2_DATA to the shared data folder)")
    command = " ".join(["python", *(sys.argv if argv is None else ["evaluation/export_samples.py", *argv])])
    for folder, sample in samples.items():
        record_sample(folder, sample, command, args.threads)  # logs the score


if __name__ == "__main__":
    main()

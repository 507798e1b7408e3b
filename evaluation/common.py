"""Shared plumbing of the benchmark scripts: the results file (schema of shared/RESULTS.md),
resumable per-seed rows, and the machine/commit stamp. No library logic lives here.
"""

from __future__ import annotations

import datetime as _dt
import json
import logging
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from stage2.benchmarks import data_dir, git_commit

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "evaluation" / "results"
DATA = data_dir()


def machine() -> str:
    """CPU model and its instruction sets (AVX2, AVX-512, VNNI, AMX: they decide the int8 kernels), cores
    and torch threads."""
    from stage2.runtime.cpu import cpu_features

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from hide_isa import active, visible

    cpu += f" (instruction sets: {', '.join(visible(cpu_features())) or 'no AVX2'})"
    if active():
        cpu += " with AVX-512, VNNI and AMX hidden by evaluation/hide_isa.c (CPUID faulting)"
    threads = "?"
    try:
        import torch

        threads = str(torch.get_num_threads())
        gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    except ImportError:
        gpu = "no torch"
    return f"{cpu}, {os.cpu_count()} cores, torch threads {threads}, {gpu}"


def save_full_model(model: Any, folder: str | None, name: str) -> None:
    """``--save-model FOLDER``: keep a fully trained model as ``FOLDER/name`` (nothing without the flag)."""
    if folder:
        out = Path(folder) / name
        model.save_pretrained(out)
        logging.getLogger("benchmarks").info("saved the trained model to %s", out)


def machine_kind(row: dict[str, Any]) -> str:
    """The machine a speed row came from: the CPU model and its kind (``cpu_kind``), e.g.
    ``"AMD EPYC, x86_64 AVX-512 + AVX-512 VNNI"``: two vendors' cores with the same instruction sets run the
    same kernels at different speeds (spaCy alone: 648 sentences/s on one, 360 on the other).

    >>> machine_kind({"machine": "AMD EPYC (instruction sets: AVX2), 2 cores", "cpu_kind": "x86_64 AVX2"})
    'AMD EPYC, x86_64 AVX2'
    """
    model = str(row.get("machine", "?")).split(" (instruction sets", 1)[0]
    return f"{model}, {row.get('cpu_kind', '?')}"


def put_machine_row(res: Any, row: dict[str, Any]) -> None:
    """Put ``row`` into ``res`` (a :class:`ResultsFile`) in place of the row of the same system and machine
    (:func:`machine_kind`: CPU model and instruction sets); rows of other machines are kept, never replaced."""
    key = (row["system"], machine_kind(row))
    res.data["rows"] = [x for x in res.data["rows"] if (x["system"], machine_kind(x)) != key] + [row]


class ResultsFile:
    """One ``evaluation/results/<name>.json``; rows are keyed by (system, setting) and gain seeds
    one by one, saved atomically after each, so an interrupted benchmark resumes where it stopped.
    """

    def __init__(self, name: str, task: str, dataset: str, split: str) -> None:
        self.path = RESULTS / f"{name}.json"
        if self.path.exists():
            self.data = json.loads(self.path.read_text(encoding="utf-8"))
        else:
            self.data = {"benchmark": name, "task": task, "dataset": dataset, "split": split, "rows": []}

    def row(self, system: str, setting: str) -> dict[str, Any] | None:
        for r in self.data["rows"]:
            if r["system"] == system and r["setting"] == setting:
                return r
        return None

    def done_seeds(self, system: str, setting: str) -> set[int]:
        r = self.row(system, setting)
        return {p["seed"] for p in r["per_seed"]} if r else set()

    def add_seed(
        self,
        system: str,
        setting: str,
        k: int | None,
        seed: int,
        scores: dict[str, float],
        train_seconds: float | None,
        extra: dict[str, Any],
        metric_keys: list[str],
        **row_fields: Any,
    ) -> None:
        """Record one seed's scores and recompute the row's mean and std."""
        r = self.row(system, setting)
        if r is None:
            r = {"system": system, "setting": setting, "k": k, "seeds": [], "scores": {}, "std": {}, "per_seed": []}
            self.data["rows"].append(r)
        r["per_seed"] = [p for p in r["per_seed"] if p["seed"] != seed]
        r["per_seed"].append(
            {
                "seed": seed,
                **{m: scores[m] for m in metric_keys},
                "train_seconds": train_seconds,
                "git_commit": git_commit(),
                **extra,
            }
        )
        r["per_seed"].sort(key=lambda p: p["seed"])
        r["seeds"] = [p["seed"] for p in r["per_seed"]]
        r["scores"] = {m: round(statistics.fmean(p[m] for p in r["per_seed"]), 2) for m in metric_keys}
        r["std"] = {
            m: round(statistics.stdev(p[m] for p in r["per_seed"]), 2) if len(r["per_seed"]) > 1 else 0.0
            for m in metric_keys
        }
        times = [p["train_seconds"] for p in r["per_seed"] if p["train_seconds"] is not None]
        r["train_seconds"] = round(statistics.fmean(times), 1) if times else None
        r.update(row_fields)
        r["command"] = " ".join([Path(sys.executable).name, *sys.argv])
        commits = sorted({p.get("git_commit") or r.get("git_commit") or "unknown" for p in r["per_seed"]})
        r["git_commit"] = commits[0] if len(commits) == 1 else "mixed: " + ", ".join(commits)
        r["machine"] = machine()
        self.save()

    def save(self) -> None:
        self.data["rows"].sort(key=lambda r: (r["system"], _setting_order(r["setting"])))
        self.data["git_commit"] = git_commit()
        self.data["command"] = " ".join([Path(sys.executable).name, *sys.argv])
        self.data["machine"] = machine()
        self.data["date"] = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)


def _setting_order(setting: str) -> tuple[int, int]:
    if setting == "zero-shot":
        return (0, 0)
    if setting == "full":
        return (2, 0)
    head = setting.split("-")[0]
    return (1, int(head)) if head.isdigit() else (3, 0)  # serving rows: "ner", "summarization"

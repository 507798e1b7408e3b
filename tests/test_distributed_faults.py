"""A Ray worker killed mid-job: the job still completes with every row exactly once (own Ray session)."""

from __future__ import annotations

from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

from stage2.distributed import _CRASH_ONCE, predict_dataset  # noqa: E402

TEXTS = [f"Ada Lovelace met Charles Babbage in London on day {i}." for i in range(30)]


def test_a_killed_worker_loses_no_row_and_repeats_none(ner_export, tmp_path):
    marker = tmp_path / "crashed"
    ray.init(
        address="local",
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        runtime_env={"env_vars": {_CRASH_ONCE: str(marker)}},
    )
    try:
        ds = ray.data.from_items([{"id": i, "text": t} for i, t in enumerate(TEXTS)])
        rows = predict_dataset(ds, ner_export[0], batch_size=4).take_all()
    finally:
        ray.shutdown()
    assert Path(marker).read_text() == "crashed"  # an actor did die mid-job
    assert sorted(r["id"] for r in rows) == list(range(len(TEXTS)))

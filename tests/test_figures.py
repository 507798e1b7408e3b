"""The report's figures render from the results (figures.json, what `evaluation/report.py` gathers),
and read right: every panel has a legend, a system keeps its colour across panels, no engine names
overprint, and the summarisation axes show the differences."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def figs():
    import sys

    sys.path.insert(0, str(ROOT / "evaluation"))
    try:
        import report
        import report_figures
    finally:
        sys.path.remove(str(ROOT / "evaluation"))
    data = json.loads((ROOT / "evaluation" / "figures" / "figures.json").read_text(encoding="utf-8"))
    made = report_figures.figures(data, report.SUMMARY_SETTINGS)
    yield data, made
    import matplotlib.pyplot as plt

    for fig in made.values():
        plt.close(fig)


def test_every_figure_renders_to_a_png(figs, tmp_path):
    _, made = figs
    assert set(made) == {"learning_curves.png", "quality_cost.png", "zero_shot.png", "summarization.png"}
    for name, fig in made.items():
        fig.savefig(tmp_path / name)
        assert (tmp_path / name).stat().st_size > 10_000, name


def test_every_panel_has_its_own_legend(figs):
    _, made = figs
    for name, fig in made.items():
        for ax in fig.axes:
            assert ax.get_legend() is not None, f"{name}: panel {ax.get_title()!r} has no legend"


def test_a_system_keeps_its_colour_across_learning_curve_panels(figs):
    _, made = figs
    seen: dict[str, str] = {}
    for ax in made["learning_curves.png"].axes:
        for line in ax.get_lines():
            label = line.get_label()
            if not label.startswith("_") and "(published)" not in label:
                assert seen.setdefault(label, line.get_color()) == line.get_color(), label
    assert len(set(seen.values())) == len(seen)  # and no two systems share one


def test_quality_cost_names_engines_in_legends_not_overprinted_text(figs):
    _, made = figs
    for ax in made["quality_cost.png"].axes:
        assert not ax.texts
        assert "10^6" in made["quality_cost.png"].axes[1].get_xlabel()


def test_summarisation_axes_span_the_values_not_zero(figs):
    data, made = figs
    for ax, block in zip(made["summarization.png"].axes, data["summarization"].values(), strict=True):
        low = min(v["rouge1"] for v in block["stage2"].values())
        assert 0 < ax.get_ylim()[0] < low


def test_a_baseline_keeps_its_colour_across_summarisation_panels(figs):
    _, made = figs
    seen: dict[str, str] = {}
    for ax in made["summarization.png"].axes:
        for line in ax.get_lines():
            assert seen.setdefault(line.get_label(), line.get_color()) == line.get_color(), line.get_label()

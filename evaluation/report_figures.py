"""The report's figures (matplotlib, PNG) from the numbers report.collect() gathered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

K_POSITIONS = {"zero-shot": 0, "5-shot": 1, "10-shot": 2, "20-shot": 3, "full": 4}
PNG = {"metadata": {"Software": None}, "dpi": 110}  # no version stamp: the files change only with the numbers


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})
    return plt


TAB20 = [
    "#1f77b4",
    "#aec7e8",
    "#ff7f0e",
    "#ffbb78",
    "#2ca02c",
    "#98df8a",
    "#d62728",
    "#ff9896",
    "#9467bd",
    "#c5b0d5",
    "#8c564b",
    "#c49c94",
    "#e377c2",
    "#f7b6d2",
    "#7f7f7f",
    "#c7c7c7",
    "#bcbd22",
    "#dbdb8d",
    "#17becf",
    "#9edae5",
]
"""Matplotlib's tab20 palette: distinct colours for more than ten systems."""


def colours(names: list[str]) -> dict[str, str]:
    """One colour per name, the same in every panel (sorted, so the choice does not depend on order): the
    default cycle up to ten names, tab20 beyond (distinct up to twenty)."""
    ordered = sorted(set(names))
    if len(ordered) <= 10:
        return {name: f"C{i}" for i, name in enumerate(ordered)}
    return {name: TAB20[i % len(TAB20)] for i, name in enumerate(ordered)}


def learning_curves(data: dict[str, Any]) -> Any:
    """F1 against K for every system (mean ± std band), anchors as starred markers; every panel has
    its own legend and a system keeps its colour across panels."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(data), figsize=(11, 4.2), squeeze=False)
    colour = colours([s for block in data.values() for s in block["systems"]])
    markers = ["*", "P", "X", "D", "v"]
    for ax, (dataset, block) in zip(axes[0], data.items(), strict=True):
        for system, points in block["systems"].items():
            xs = [K_POSITIONS[p["setting"]] for p in points]
            ys = [p["f1"] for p in points]
            style = "o-" if len(points) > 1 else "s"
            ax.plot(xs, ys, style, label=system, markersize=4, color=colour[system])
            lo = [p["f1"] - p["std"] for p in points]
            hi = [p["f1"] + p["std"] for p in points]
            if len(points) > 1:
                ax.fill_between(xs, lo, hi, color=colour[system], alpha=0.15)
        for i, anchor in enumerate(block["anchors"]):
            x = K_POSITIONS[anchor["setting"]] + 0.1
            marker = markers[i % len(markers)]
            ax.plot([x], [anchor["value"]], marker, color="black", markersize=7, label=f"{anchor['name']} (published)")
        ax.set_xticks(list(K_POSITIONS.values()), ["0", "5", "10", "20", "full"])
        ax.set_xlabel("labelled mentions per type (K)")
        ax.set_ylabel("entity F1 (test)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def quality_cost(rows: list[dict[str, Any]]) -> Any:
    """CoNLL-2003 F1 against throughput and against size on disk, one point per engine, named in each
    panel's legend (text labels beside the points overprinted where engines share a size)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    colour = colours([row["engine"] for row in rows])
    markers = "os^vDPX*"
    panels = (
        (axes[0], "throughput", "sentences/s (batch 32, 2 cores)"),
        (axes[1], "megabytes", "MB on disk (10^6 bytes)"),
    )
    for ax, key, label in panels:
        for i, row in enumerate(rows):
            if row[key] is None or row["f1"] is None:
                continue
            marker = markers[i % len(markers)]
            ax.plot([row[key]], [row["f1"]], marker, color=colour[row["engine"]], label=row["engine"], alpha=0.8)
        ax.set_xlabel(label)
        ax.set_ylabel("CoNLL-2003 test F1 (sentences alone)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    axes[1].set_xscale("log")
    fig.tight_layout()
    return fig


def zero_shot(data: dict[str, Any]) -> Any:
    """One bar group per zero-shot set; published peers (other sets) in their own group."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(11, 4))
    systems = list(data["systems"])
    width = 0.8 / max(len(systems), 1)
    for i, system in enumerate(systems):
        xs, ys, hatches = [], [], []
        for j, dataset in enumerate(data["sets"]):
            cell = data["systems"][system].get(dataset)
            if cell is not None:
                xs.append(j + i * width)
                ys.append(cell["f1"])
                hatches.append("" if cell["zero_shot"] else "//")
        bars = ax.bar(xs, ys, width, label=system)
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)
    group = len(data["sets"])
    for i, anchor in enumerate(data["anchors"]):
        ax.bar([group + i * width], [anchor["value"]], width, color="grey")
        ax.annotate(
            anchor["name"],
            (group + i * width, anchor["value"]),
            fontsize=6,
            rotation=90,
            xytext=(-3, 3),
            textcoords="offset points",
        )
    ticks = [*data["sets"], "published, other sets\n(CrossNER + MIT)"]
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ticks))], ticks)
    ax.set_ylabel("entity F1 (test, label names)")
    ax.set_title("zero-shot NER (hatched: the model trained on that set, not zero-shot)")
    ax.legend(fontsize=7)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def summarization(data: dict[str, Any], settings: list[str]) -> Any:
    """ROUGE-1 of stage2 per setting beside the baselines, one panel per data set; each y-axis spans
    the panel's values (not from 0), so the differences show."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(data), figsize=(10, 3.8))
    colour = colours(["stage2", *(name for block in data.values() for name in block["baselines"])])
    for ax, (dataset, block) in zip(axes, data.items(), strict=True):
        shown = [s for s in settings if s in block["stage2"]]
        ys = [block["stage2"][s]["rouge1"] for s in shown]
        err = [block["stage2"][s]["std"] for s in shown]
        ax.bar(range(len(shown)), ys, yerr=err, color=colour["stage2"], label="stage2")
        for name, value in sorted(block["baselines"].items()):
            ax.axhline(value, linestyle="--", color=colour[name], label=name)
        for anchor in block["anchors"]:
            ax.axhline(anchor["value"], linestyle=":", color="black", label=f"{anchor['name']} (published)")
        values = ys + list(block["baselines"].values()) + [a["value"] for a in block["anchors"]]
        spread = [y + e for y, e in zip(ys, err, strict=True)] + [y - e for y, e in zip(ys, err, strict=True)]
        low, high = min(values + spread), max(values + spread)
        margin = max(1.0, 0.1 * (high - low))
        ax.set_ylim(low - margin, high + 3 * margin)  # room above for the legend
        ax.set_xticks(range(len(shown)), shown)
        ax.set_ylabel("ROUGE-1 (test)")
        ax.set_title(dataset)
        ax.legend(fontsize=7, loc="upper right", ncol=2)
    fig.tight_layout()
    return fig


def figures(data: dict[str, Any], summary_settings: list[str]) -> dict[str, Any]:
    """File name -> matplotlib figure, for every figure of the report (summarisation settings in the order given)."""
    return {
        "learning_curves.png": learning_curves(data["learning_curves"]),
        "quality_cost.png": quality_cost(data["quality_cost"]),
        "zero_shot.png": zero_shot(data["zero_shot"]),
        "summarization.png": summarization(data["summarization"], summary_settings),
    }


def draw(data: dict[str, Any], folder: Path, summary_settings: list[str]) -> None:
    """All four figures into ``folder``."""
    plt = _plt()
    for name, fig in figures(data, summary_settings).items():
        fig.savefig(folder / name, **PNG)
        plt.close(fig)

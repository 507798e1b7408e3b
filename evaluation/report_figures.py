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


def learning_curves(data: dict[str, Any], path: Path) -> None:
    """F1 against K for every system (mean ± std band), anchors as labelled markers."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, (dataset, block) in zip(axes, data.items(), strict=True):
        for system, points in block["systems"].items():
            xs = [K_POSITIONS[p["setting"]] for p in points]
            ys = [p["f1"] for p in points]
            style = "o-" if len(points) > 1 else "s"
            (line,) = ax.plot(xs, ys, style, label=system, markersize=4)
            lo = [p["f1"] - p["std"] for p in points]
            hi = [p["f1"] + p["std"] for p in points]
            if len(points) > 1:
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15)
        for i, anchor in enumerate(block["anchors"]):
            x = K_POSITIONS[anchor["setting"]] + 0.1
            ax.plot([x], [anchor["value"]], "k*", markersize=8)
            ax.annotate(
                f"{anchor['name']} (published)",
                (x, anchor["value"]),
                fontsize=7,
                xytext=(-90, 6 - 12 * i),
                textcoords="offset points",
            )
        ax.set_xticks(list(K_POSITIONS.values()), ["0", "5", "10", "20", "full"])
        ax.set_xlabel("labelled mentions per type (K)")
        ax.set_ylabel("entity F1 (test)")
        ax.set_title(dataset)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def quality_cost(rows: list[dict[str, Any]], path: Path) -> None:
    """CoNLL-2003 F1 against throughput and against MB on disk, one point per engine."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, label in ((axes[0], "throughput", "sentences/s (batch 32, 2 cores)"), (axes[1], "megabytes", "MB")):
        for i, row in enumerate(rows):
            if row[key] is None or row["f1"] is None:
                continue
            ax.plot([row[key]], [row["f1"]], "o")
            offset = (4, 3 - 10 * (i % 2))  # neighbours (torch and fp32 share a size) alternate above and below
            ax.annotate(row["engine"], (row[key], row["f1"]), fontsize=7, xytext=offset, textcoords="offset points")
        ax.set_xlabel(label)
        ax.set_ylabel("CoNLL-2003 test F1 (sentences alone)")
        ax.grid(alpha=0.3)
    axes[1].set_xscale("log")
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def zero_shot(data: dict[str, Any], path: Path) -> None:
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
    fig.savefig(path, **PNG)
    plt.close(fig)


def summarization(data: dict[str, Any], settings: list[str], path: Path) -> None:
    """ROUGE-1 of stage2 per setting beside the baselines, one panel per data set."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(data), figsize=(10, 3.8))
    for ax, (dataset, block) in zip(axes, data.items(), strict=True):
        shown = [s for s in settings if s in block["stage2"]]
        ys = [block["stage2"][s]["rouge1"] for s in shown]
        err = [block["stage2"][s]["std"] for s in shown]
        ax.bar(range(len(shown)), ys, yerr=err, color="tab:blue", label="stage2")
        for k, (name, value) in enumerate(sorted(block["baselines"].items())):
            ax.axhline(value, linestyle="--", color=f"C{k + 1}", label=name)
        for anchor in block["anchors"]:
            ax.axhline(anchor["value"], linestyle=":", color="black", label=f"{anchor['name']} (published)")
        ax.set_xticks(range(len(shown)), shown)
        ax.set_ylabel("ROUGE-1 (test)")
        ax.set_title(dataset)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, **PNG)
    plt.close(fig)


def draw(data: dict[str, Any], folder: Path, summary_settings: list[str]) -> None:
    """All four figures into ``folder`` (summarisation settings drawn in the order given)."""
    learning_curves(data["learning_curves"], folder / "learning_curves.png")
    quality_cost(data["quality_cost"], folder / "quality_cost.png")
    zero_shot(data["zero_shot"], folder / "zero_shot.png")
    summarization(data["summarization"], summary_settings, folder / "summarization.png")

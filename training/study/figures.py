"""``OUT/figures/``: drawn from the tables (never from the models), with matplotlib's Agg canvas (no Qt)."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path

from engine.atomic import atomic_write_bytes

FIGURES_DIR = "figures"


def iou_by_threshold_figure(out: Path) -> Path | None:
    """Mean IoU (``mean`` policy, all GT-positive images) by top fraction, one panel per method x layer.

    Returns:
        ``OUT/figures/iou_by_threshold.png``, or None when the table has no top-fraction row with data.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = Path(out) / "tables" / "iou_by_threshold.csv"
    # panel (model name, method, layer, params) -> class -> [(fraction, mean IoU)]
    panels: dict[tuple[str, str, str, str], dict[str, list[tuple[float, float]]]] = defaultdict(
        lambda: defaultdict(list))
    with table.open(newline="", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["policy"] == "mean" and r["subset"] == "all" and r["threshold"].startswith("top:") and r["mean"]:
                panels[(r["model_name"], r["method"], r["layer"], r["params"])][r["class"]].append(
                    (float(r["threshold"][4:]), float(r["mean"])))
    if not panels:
        return None
    fig = Figure(figsize=(4.2 * len(panels), 3.4), dpi=100)
    FigureCanvasAgg(fig)
    for i, (key, per_class) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(1, len(panels), i + 1)
        for cls, points in sorted(per_class.items()):
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, marker="o", label=cls)
        name, method, layer, params = key
        short = params if len(params) <= 60 else params[:57] + "..."
        ax.set_title(f"{method}{' @ ' + layer if layer else ''} - {name}\n{short}", fontsize=8)
        ax.set_xlabel("top fraction of the map")
        ax.set_ylabel("mean IoU (all GT-positive images)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.text(0.5, 0.01, "Research use - not for diagnostic use", ha="center", va="bottom", fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(out) / FIGURES_DIR / "iou_by_threshold.png"
    atomic_write_bytes(path, buf.getvalue())
    return path

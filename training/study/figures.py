"""``OUT/figures/``: drawn from the tables (never from the models), with matplotlib's Agg canvas (no Qt)."""

from __future__ import annotations

import csv
import io
import textwrap
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

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
    n_of: dict[str, int] = {}
    with table.open(newline="", encoding="utf-8") as handle:
        for r in csv.DictReader(handle):
            if r["policy"] == "mean" and r["subset"] == "all" and r["threshold"].startswith("top:") and r["mean"]:
                panels[(r["model_name"], r["method"], r["layer"], r["params"])][r["class"]].append(
                    (float(r["threshold"][4:]), float(r["mean"])))
                n_of[r["class"]] = max(n_of.get(r["class"], 0), int(r["n"] or 0))
    if not panels:
        return None
    colour = {c: f"C{i % 10}" for i, c in enumerate(sorted(n_of))}  # one colour per class in every panel
    # at most three panels a row: a methods x layers study (15 panels) reads as one row per method
    ncols = min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(4.2 * ncols, 3.4 * nrows), dpi=100)
    FigureCanvasAgg(fig)
    for i, (key, per_class) in enumerate(sorted(panels.items())):
        ax = fig.add_subplot(nrows, ncols, i + 1)
        for cls, points in sorted(per_class.items()):
            xs, ys = zip(*sorted(points), strict=True)
            ax.plot(xs, ys, marker="o", ms=4, color=colour[cls], label=f"{cls} (n={n_of[cls]})")
        name, method, layer, params = key
        # every parameter is shown (wrapped): two panels of one method differ only there
        shown = textwrap.fill(params, 62, break_on_hyphens=False)
        ax.set_title(f"{method}{' @ ' + layer if layer else ''} - {name}\n{shown}", fontsize=8)
        ax.set_xlabel("top fraction of the map")
        ax.set_ylabel("mean IoU (all GT-positive images)")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    # one legend above the panels (inside them it covered curves); n = GT-positive images per class
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=colour[c], marker="o", ms=4, label=f"{c} (n={n_of[c]})") for c in sorted(n_of)]
    ncol = min(len(handles), max(2, int(fig.get_figwidth() // 2.2)))
    fig.legend(handles=handles, loc="upper center", ncol=ncol, fontsize=7, frameon=False)
    rows = -(-len(handles) // ncol)
    return save_figure(fig, out, "iou_by_threshold.png", top=1.0 - (0.05 * rows + 0.01) * 3.4 / fig.get_figheight())


def _read(out: Path, name: str) -> list[dict[str, str]]:
    path = Path(out) / "tables" / name
    if not path.is_file():
        return []
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _series(r: dict[str, str], several_models: bool) -> str:
    label = f"{r['method']}{' @ ' + r['layer'] if r['layer'] else ''}"
    return f"{label} [{r['model_name']}]" if several_models else label


def save_figure(fig: Figure, out: Path, name: str, top: float = 1.0) -> Path:
    """Footer, layout (the axes below ``top``, a fraction of the height: room for a title and legend),
    PNG written atomically to ``OUT/figures/name``."""
    fig.text(0.5, 0.01, "Research use - not for diagnostic use", ha="center", va="bottom", fontsize=7)
    fig.tight_layout(rect=(0, 0.05, 1, top))
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    path = Path(out) / FIGURES_DIR / name
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buf.getvalue())
    return path


def robustness_figure(out: Path) -> Path | None:
    """Mean heatmap RMSE by severity per corruption (one line per method x layer) and ΔAUC vs RMSE.

    Drawn from ``robustness.csv`` (class ``all``: every class's maps, ΔAUC averaged over classes).

    Returns:
        ``OUT/figures/robustness.png``, or None when the table has no data.
    """
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in _read(out, "robustness.csv") if r["class"] == "all" and r["rmse_mean"]]
    if not rows:
        return None
    several = len({r["model"] for r in rows}) > 1
    corruptions = list(dict.fromkeys(r["corruption"] for r in rows))
    series = sorted({_series(r, several) for r in rows})
    fig = Figure(figsize=(3.2 * (len(corruptions) + 1), 4.2), dpi=100)
    FigureCanvasAgg(fig)
    cmap = colormaps["viridis"]
    colours = {s: cmap(i / max(1, len(series) - 1)) for i, s in enumerate(series)}
    for i, corruption in enumerate(corruptions):
        ax = fig.add_subplot(1, len(corruptions) + 1, i + 1)
        for s in series:
            pts = sorted((int(r["severity"]), float(r["rmse_mean"])) for r in rows
                         if r["corruption"] == corruption and _series(r, several) == s)
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", ms=3, color=colours[s], label=s)
        ax.set_title(corruption.replace("_", " "), fontsize=9)
        ax.set_xticks(sorted({int(r["severity"]) for r in rows}))
        ax.set_xlabel("severity")
        ax.set_ylabel("heatmap RMSE vs clean\n(on the clean map's min-max scale)" if i == 0 else "", fontsize=8)
        ax.grid(alpha=0.3)
    ax = fig.add_subplot(1, len(corruptions) + 1, len(corruptions) + 1)
    drawn = 0
    for s in series:
        scatter = [(float(r["rmse_mean"]), float(r["delta_auc"])) for r in rows
                   if _series(r, several) == s and r["delta_auc"]]
        if scatter:
            sx, sy = zip(*scatter, strict=True)
            ax.scatter(sx, sy, s=10, color=colours[s], label=s)
            drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "ΔAUC undefined:\nno class has both\npositive and negative images", ha="center",
                va="center", transform=ax.transAxes, fontsize=8)
    ax.axhline(0.0, color="grey", lw=0.8)
    ax.set_title("ΔAUC vs heatmap RMSE\n(every corruption x severity)", fontsize=9)
    ax.set_xlabel("heatmap RMSE vs clean")
    ax.set_ylabel("ΔAUC (corrupted - clean, mean over classes)", fontsize=8)
    ax.grid(alpha=0.3)
    # one legend for every panel, above them, so that it covers no line or point
    handles, labels = fig.axes[0].get_legend_handles_labels()
    if handles:
        ncol = min(len(handles), 8)
        fig.legend(handles, labels, loc="upper center", ncol=ncol, fontsize=7, frameon=False)
        return save_figure(fig, out, "robustness.png", top=1.0 - 0.06 * -(-len(handles) // ncol) - 0.02)
    return save_figure(fig, out, "robustness.png")


def sanity_figure(out: Path) -> Path | None:
    """Map similarity (SSIM, Spearman) to the original map along the randomisation cascade.

    Drawn from ``sanity.csv`` (class ``all``), one line per method x layer.

    Returns:
        ``OUT/figures/sanity.png``, or None when the table has no data.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in _read(out, "sanity.csv") if r["class"] == "all" and r["ssim_mean"]]
    if not rows:
        return None
    several = len({r["model"] for r in rows}) > 1
    series = sorted({_series(r, several) for r in rows})
    colour = {name: f"C{i % 10}" for i, name in enumerate(series)}
    n_maps = {name: max(int(r["n"]) for r in rows if _series(r, several) == name) for name in series}
    fig = Figure(figsize=(10, 4.6), dpi=100)
    FigureCanvasAgg(fig)
    for i, (column, title) in enumerate((("ssim", "SSIM (min-max normalised maps)"),
                                         ("spearman", "Spearman rank correlation (raw maps)"))):
        ax = fig.add_subplot(1, 2, i + 1)
        ticks: dict[int, str] = {}
        for s in series:
            mine = sorted((r for r in rows if _series(r, several) == s), key=lambda r: int(r["step"]))
            ticks.update({int(r["step"]): r["randomised"] for r in mine})
            pts = [(int(r["step"]), float(r[f"{column}_mean"]), float(r[f"{column}_std"] or 0.0))
                   for r in mine if r[f"{column}_mean"]]
            if not pts:
                continue
            xs, ys, sd = (np.array(v) for v in zip(*[(0, 1.0, 0.0), *pts], strict=True))  # step 0: the original
            ax.plot(xs, ys, marker="o", ms=3, color=colour[s], label=f"{s} (n={n_maps[s]} maps)")
            ax.fill_between(xs, ys - sd, ys + sd, color=colour[s], alpha=0.12, linewidth=0)
            if column == "spearman":
                absolute = [(int(r["step"]), float(r["abs_spearman_mean"])) for r in mine
                            if r.get("abs_spearman_mean")]
                if absolute:
                    ax_, ay_ = zip(*[(0, 1.0), *absolute], strict=True)
                    ax.plot(ax_, ay_, linestyle="--", lw=1, color=colour[s])
        ax.set_xticks([0, *sorted(ticks)], ["original", *(ticks[k] for k in sorted(ticks))], rotation=60,
                      fontsize=7, ha="right")
        ax.set_ylim(-1.05 if column == "spearman" else -0.05, 1.05)
        ax.axhline(0.0, color="grey", lw=0.8)
        extra = "; dashed: |Spearman|" if column == "spearman" else ""
        ax.set_title(f"{title}\nmean ± sd over maps{extra}", fontsize=9)
        ax.set_xlabel("randomised up to this module (cumulative, head first)", fontsize=8)
        ax.set_ylabel("similarity to the original map")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, out, "sanity.png")

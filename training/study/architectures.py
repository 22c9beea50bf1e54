"""Several models on the same images, side by side: ``architectures.csv`` and ``architectures.png``.

Written by :func:`training.study.tables.render_tables` whenever the store holds localisation rows of
more than one model (the ``architectures`` preset; any study with several ``models``). Rows are keyed
by model (the weights SHA-256), so two bundles never mix.

``architectures.csv``: one row per method (with its parameters) x the k-th layer the method ran at in
each model (``layer_rank``; a model's default layer is its only one in the preset) x class (and
``all``: every GT-positive row pooled) x subset (``all`` = images with a box of the class,
``correct`` = those the model also predicts); then one column group per model (``NAME: metric``,
models in name order): ``layer``, ``n``, ``diff`` (mean), ``ehr_auc`` (mean), ``pointing`` (strict
pointing game, mean of hits), ``iou`` (the best mean IoU, ``mean`` policy, over the top-fraction
grid) and ``iou_threshold`` (where it is reached); and, where the study ran the ``gaze`` block and
the model's maps were scored against gaze recordings, ``gaze_cc`` and ``gaze_nss`` (mean over every
image with a recording, whatever its ground truth; the same on both subsets' rows).
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from training.study.blocks.stats import csv_text, fmt, mean_std

TABLE = "architectures.csv"
FIGURE = "architectures.png"
ALL = "all"
SUBSETS = ("all", "correct")
METRICS = ("layer", "n", "diff", "ehr_auc", "pointing", "iou", "iou_threshold")
GAZE = ("gaze_cc", "gaze_nss")


def _params(r: dict[str, Any]) -> str:
    return json.dumps(json.loads(r["params"]) if r.get("params") else {}, sort_keys=True)


def _located(rows: list[dict[str, Any]], subset: str) -> list[dict[str, Any]]:
    have = [r for r in rows if r.get("n_gt_boxes") and r.get("iou_mean") is not None]
    return have if subset == "all" else [r for r in have if r["predicted"]]


def _best_iou(rows: list[dict[str, Any]]) -> tuple[float | None, str]:
    if not rows:
        return None, ""
    grid = list(rows[0]["thresholds"])
    best: tuple[float | None, str] = (None, "")
    for ti, th in enumerate(grid):
        if not str(th).startswith("top:"):
            continue
        mean, _std, n = mean_std([r["iou_mean"][ti] for r in rows])
        if n and mean is not None and (best[0] is None or mean > best[0]):
            best = (mean, str(th))
    return best


def model_labels(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Model SHA-256 -> its column-group name (the model's name; with a SHA prefix when two share a name)."""
    names: dict[str, str] = {}
    for r in rows:
        names.setdefault(r["model"], str(r["model_name"]))
    counts: dict[str, int] = defaultdict(int)
    for n in names.values():
        counts[n] += 1
    return {sha: (n if counts[n] == 1 else f"{n} [{sha[:8]}]") for sha, n in names.items()}


def architectures_table(loc_rows: list[dict[str, Any]], gaze_rows: list[dict[str, Any]]) -> str | None:
    """``architectures.csv`` (see the module docstring); None with fewer than two models."""
    labels = model_labels(loc_rows)
    if len(labels) < 2:
        return None
    order = sorted(labels, key=lambda sha: (labels[sha], sha))
    # (model, method, params) -> its layers in order; a row's layer rank is its place there
    layers: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for r in loc_rows:
        key = (r["model"], r["method"], _params(r))
        if (r["layer"] or "") not in layers[key]:
            layers[key].append(r["layer"] or "")
    for v in layers.values():
        v.sort()
    groups: dict[tuple[str, str, str, int], list[dict[str, Any]]] = defaultdict(list)  # (model, method, params, k)
    for r in loc_rows:
        k = layers[(r["model"], r["method"], _params(r))].index(r["layer"] or "")
        groups[(r["model"], r["method"], _params(r), k)].append(r)
    gaze: dict[tuple[str, str, str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in gaze_rows:
        if r.get("has_gaze"):
            gaze[(r["model"], r["method"], _params(r), r["layer"] or "", r["class"])].append(r)
    with_gaze = {m for (m, *_rest) in gaze}
    header = ["method", "params", "layer_rank", "class", "subset"]
    for sha in order:
        header += [f"{labels[sha]}: {m}" for m in (*METRICS, *(GAZE if sha in with_gaze else ()))]
    keys = sorted({(method, params, k) for (_m, method, params, k) in groups})
    classes = sorted({str(r["class"]) for r in loc_rows})
    body = []
    for method, params, k in keys:
        for cls in [*classes, ALL]:
            for subset in SUBSETS:
                line: list[Any] = [method, params, k, cls, subset]
                for sha in order:
                    rows = groups.get((sha, method, params, k), [])
                    layer = rows[0]["layer"] if rows else ""
                    chosen = _located([r for r in rows if cls == ALL or r["class"] == cls], subset)
                    diff = mean_std([r.get("diff") for r in chosen])
                    ehr = mean_std([r.get("ehr_auc") for r in chosen])
                    point = mean_std([float(r["pointing"]) for r in chosen if r.get("pointing") is not None])
                    iou, at = _best_iou(chosen)
                    line += [layer, len(chosen), fmt(diff[0]), fmt(ehr[0]), fmt(point[0]), fmt(iou), at]
                    if sha in with_gaze:
                        scored = [r for (m, me, pa, la, c), rs in gaze.items() for r in rs
                                  if m == sha and me == method and pa == params and la == layer
                                  and (cls == ALL or c == cls)]
                        line += [fmt(mean_std([r.get("gaze_cc") for r in scored])[0]),
                                 fmt(mean_std([r.get("gaze_nss") for r in scored])[0])]
                body.append(line)
    return csv_text(header, body)


def architectures_figure(out: Path) -> Path | None:
    """``architectures.png``: Diff, EHR-AUC, pointing game and best IoU per class, one bar per model
    (the first method x layer rank of the table, subset ``all``; gaze CC as a fifth panel when stored).

    Returns:
        The figure's path, or None when the study has no ``architectures.csv``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from training.study.figures import save_figure

    path = Path(out) / "tables" / TABLE
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        return None
    first = (rows[0]["method"], rows[0]["params"], rows[0]["layer_rank"])
    rows = [r for r in rows if (r["method"], r["params"], r["layer_rank"]) == first and r["subset"] == "all"]
    models = list(dict.fromkeys(c.split(": ", 1)[0] for c in rows[0] if ": " in c))
    panels = [("diff", "Diff (inside - outside)"), ("ehr_auc", "EHR-AUC"), ("pointing", "pointing game"),
              ("iou", "best mean IoU (top-fraction grid)")]
    if any(f"{m}: gaze_cc" in rows[0] for m in models):
        panels.append(("gaze_cc", "saliency vs gaze: CC"))
    classes = [r["class"] for r in rows]
    ncols = min(3, len(panels))
    nrows = -(-len(panels) // ncols)
    fig = Figure(figsize=(3.6 * ncols, 3.2 * nrows + 0.9), dpi=100)
    FigureCanvasAgg(fig)
    width = 0.8 / max(1, len(models))
    x = np.arange(len(classes))
    for pi, (metric, title) in enumerate(panels):
        ax = fig.add_subplot(nrows, ncols, pi + 1)
        for mi, m in enumerate(models):
            vals = [float(r[f"{m}: {metric}"]) if r.get(f"{m}: {metric}") else np.nan for r in rows]
            layer = rows[0].get(f"{m}: layer", "")
            ax.bar(x + (mi - (len(models) - 1) / 2) * width, vals, width,
                   label=f"{m}{' @ ' + layer if layer else ''}")
        ax.set_xticks(x, classes, rotation=35, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
        ax.axhline(0.0, color="grey", lw=0.6)
        ax.grid(axis="y", alpha=0.3)
        if pi == 0:
            handles, names = ax.get_legend_handles_labels()
    n = {r["class"]: r.get(f"{models[0]}: n", "") for r in rows}
    fig.suptitle(f"{first[0]}: models side by side (images with a GT box of the class, n = "
                 f"{', '.join(f'{c} {v}' for c, v in n.items())})", fontsize=8.5)
    per_row = len(models) if len(models) <= 3 else -(-len(models) // 2)  # 4+ models: the legend on two rows
    legend_rows = -(-len(models) // per_row)
    fig.legend(handles, names, loc="upper center", ncol=per_row, fontsize=7.5, bbox_to_anchor=(0.5, 0.955),
               frameon=False)
    return save_figure(fig, out, FIGURE, top=0.9 - 0.035 * (legend_rows - 1))

"""Tables of a study, aggregated from the Parquet store alone (``radlens study report`` re-renders them).

Rows are read with pyarrow, sorted by their key columns and reduced with NumPy in that fixed order,
so the same store always gives byte-identical CSVs, however its parts were written.

Subsets (SPEC section 4): ``all`` = images whose ground truth has a box of the class;
``correct`` = those of them the model predicts positive (probability >= the bundle's threshold),
the research protocol. ``std`` is the sample standard deviation (``ddof=1``; empty when n < 2).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from engine.atomic import atomic_write_text
from training.study.blocks.stats import csv_text
from training.study.store import read_results

TABLES_DIR = "tables"
SUBSETS = ("all", "correct")
#: One table row group: a class under one explanation (the parameters hash tells apart e.g. two
#: SmoothGrad noise levels at the same layer, or rows of an earlier configuration in a resumed store).
GROUP = ("model", "model_name", "method", "layer", "params_hash", "params", "class")


def _fmt(v: float | None) -> str:
    return "" if v is None or not np.isfinite(v) else f"{v:.6f}"


def _stats(values: Sequence[float]) -> tuple[str, str, int]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = int(arr.size)
    mean = float(arr.mean()) if n else None
    std = float(arr.std(ddof=1)) if n > 1 else None
    return _fmt(mean), _fmt(std), n


def _sorted_rows(table: pa.Table) -> list[dict[str, Any]]:
    keys = [(c, "ascending") for c in (*GROUP, "image")]
    return table.sort_by(keys).to_pylist() if table.num_rows else []


def _groups(rows: list[dict[str, Any]]) -> Iterator[tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    current: tuple[Any, ...] | None = None
    bucket: list[dict[str, Any]] = []
    for r in rows:
        key = tuple(r[c] for c in GROUP)
        if key != current and bucket:
            yield current, bucket  # type: ignore[misc]
            bucket = []
        current = key
        bucket.append(r)
    if bucket:
        yield current, bucket  # type: ignore[misc]


def _subset(rows: list[dict[str, Any]], subset: str) -> list[dict[str, Any]]:
    """Localisation rows of ``subset`` (``all`` GT-positive rows, or the ``correct`` = predicted ones)."""
    located = [r for r in rows if r["n_gt_boxes"] and r["iou_mean"] is not None]
    return located if subset == "all" else [r for r in located if r["predicted"]]


def iou_by_threshold(rows: list[dict[str, Any]], policies: Sequence[str]) -> str:
    """``iou_by_threshold.csv``: model x method x layer x class x policy x subset x threshold."""
    body = []
    for key, group in _groups(rows):
        for policy in policies:
            for subset in SUBSETS:
                chosen = _subset(group, subset)
                grid = chosen[0]["thresholds"] if chosen else group[0]["thresholds"]
                for ti, th in enumerate(grid):
                    mean, std, n = _stats([r[f"iou_{policy}"][ti] for r in chosen])
                    body.append([*key, policy, subset, th, mean, std, n])
    return csv_text([*GROUP, "policy", "subset", "threshold", "mean", "std", "n"], body)


def pointing(rows: list[dict[str, Any]], tolerance_px: float) -> str:
    """``pointing.csv``: strict and tolerant pointing game and energy pointing game per class and subset."""
    body = []
    for key, group in _groups(rows):
        for subset in SUBSETS:
            chosen = _subset(group, subset)
            strict = _stats([float(r["pointing"]) for r in chosen])
            tolerant = _stats([float(r["pointing_tolerant"]) for r in chosen])
            energy = _stats([r["energy"] for r in chosen])
            body.append([*key, subset, strict[2], strict[0], tolerant[0], f"{tolerance_px:g}",
                         energy[0], energy[1], energy[2]])
    return csv_text([*GROUP, "subset", "n", "pointing_strict", "pointing_tolerant", "tolerance_px",
                 "energy_mean", "energy_std", "energy_n"], body)


#: The block whose rows cover only the classes it explained (see :func:`classification`).
PARTIAL_CLASS_BLOCK = "sanity"


def classification(rows: list[dict[str, Any]]) -> str:
    """``classification.csv``: per model x class, images, positives, predicted positives and AUC.

    Every block stores a row per class of each image it scores, except ``sanity``, which keeps the
    classes it explained (with ``classes: predicted`` a sample of the predicted positives, over which
    an AUC would mean nothing): its rows are left out, and a sanity study's table is empty.
    """
    from training.metrics import auc_per_class

    per: dict[tuple[str, str, str], dict[str, tuple[float, int, bool]]] = {}
    for r in rows:  # one (probability, label) per image, whatever the method
        if r.get("block") == PARTIAL_CLASS_BLOCK:
            continue
        per.setdefault((r["model"], r["model_name"], r["class"]), {}).setdefault(
            r["image"], (r["probability"], r["label"], r["predicted"]))
    body = []
    for (model, name, cls), by_image in sorted(per.items()):
        vals = [by_image[k] for k in sorted(by_image)]
        probs = np.array([[v[0]] for v in vals], np.float64)
        labels = np.array([[v[1]] for v in vals], np.float64)
        auc = auc_per_class(labels, probs)[0]
        body.append([model, name, cls, len(vals), int(labels.sum()), sum(int(v[2]) for v in vals), _fmt(auc)])
    return csv_text(["model", "model_name", "class", "n", "positives", "predicted_positive", "auc"], body)


def render_tables(
    out: Path, policies: Sequence[str] = ("mean", "best", "fused"), tolerance_px: float = 15.0, *,
    settings: Mapping[str, Mapping[str, Any]] | None = None, others: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Path]:
    """Write ``OUT/tables/*.csv`` from the store, then the figures from the tables; returns the files written.

    Each metric block renders its tables from its own rows (``classification.csv`` is common to all).

    Args:
        out: The study folder.
        policies: Annotator policies of the localisation tables (when ``settings`` is not given).
        tolerance_px: Pointing-game tolerance of the localisation tables (when ``settings`` is not given).
        settings: Block name -> settings of the blocks the study runs (``StudyConfig.block_settings``).
            Without it: localisation with ``policies`` and ``tolerance_px``, and every other block
            that has rows in the store.
        others: Settings of blocks that have rows in the store but are not in ``settings`` (a block
            taken out of ``metrics`` before a ``--resume``: its rows stay and are still tabled); a
            block in neither gets its default settings.
    """
    from training.study.blocks import BLOCKS

    rows = _sorted_rows(read_results(out))
    by_block: dict[str, list[dict[str, Any]]] = {}
    for r in rows:  # rows of the first store version have no block: they are localisation rows
        by_block.setdefault(r.get("block") or "localisation", []).append(r)
    chosen: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (settings or {}).items()}
    if settings is None:
        chosen["localisation"] = {"policies": list(policies), "pointing_tolerance_px": float(tolerance_px)}
    missing = [name for name in by_block if name not in chosen]
    if missing:
        from training.study.config import default_block_settings

        defaults = default_block_settings()
        for name in missing:
            chosen[name] = dict((others or {}).get(name) or defaults.get(name, {}))
    files: dict[str, str] = {}
    rendered = [name for name in BLOCKS if name in chosen or name in by_block]
    for name in rendered:
        files.update(BLOCKS[name].tables(by_block.get(name, []), chosen.get(name, {})))
    files["classification.csv"] = classification(rows)
    from training.study.architectures import TABLE, architectures_figure, architectures_table

    side_by_side = architectures_table(by_block.get("localisation", []), by_block.get("gaze", []))
    if side_by_side is not None:  # several models: one column group per model
        files[TABLE] = side_by_side
    written = []
    for name, text in files.items():
        path = Path(out) / TABLES_DIR / name
        atomic_write_text(path, text)
        written.append(path)
    for name in rendered:
        written += BLOCKS[name].figures(Path(out), chosen.get(name, {}))
    if side_by_side is not None:
        figure = architectures_figure(Path(out))
        written += [figure] if figure is not None else []
    return written

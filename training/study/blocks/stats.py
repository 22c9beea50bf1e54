"""Small statistics shared by the blocks' tables and per-image work (NumPy only, deterministic)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Sequence
from typing import Any

import numpy as np


def fmt(v: float | None) -> str:
    """A table number: 6 decimals, empty for missing / non-finite values."""
    return "" if v is None or not np.isfinite(v) else f"{v:.6f}"


def mean_std(values: Sequence[float | None]) -> tuple[float | None, float | None, int]:
    """Mean, sample standard deviation (None for n < 2) and n of the finite values."""
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=np.float64)
    n = int(arr.size)
    return (float(arr.mean()) if n else None), (float(arr.std(ddof=1)) if n > 1 else None), n


def ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties given their average rank."""
    x = np.asarray(values, dtype=np.float64).ravel()
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    out = np.empty(x.size, dtype=np.float64)
    start = 0
    while start < x.size:
        stop = start + 1
        while stop < x.size and sorted_x[stop] == sorted_x[start]:
            stop += 1
        out[order[start:stop]] = (start + stop + 1) / 2.0  # mean of ranks start+1 .. stop
        start = stop
    return out


def pearson(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | None:
    """Pearson correlation of two equal-length samples (None when fewer than 3 or one is constant)."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.size < 3 or x.size != y.size:
        return None
    x, y = x - x.mean(), y - y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else None


def spearman(a: Sequence[float] | np.ndarray, b: Sequence[float] | np.ndarray) -> float | None:
    """Spearman rank correlation: Pearson of the average ranks (None as for :func:`pearson`)."""
    return pearson(ranks(np.asarray(a)), ranks(np.asarray(b)))


def auc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """ROC AUC (None when only one label value is present)."""
    from training.metrics import auc_per_class

    y = np.asarray(labels, dtype=np.float64).reshape(-1, 1)
    if y.size == 0:
        return None
    value = auc_per_class(y, np.asarray(scores, dtype=np.float64).reshape(-1, 1))[0]
    return None if np.isnan(value) else float(value)


def image_seed(seed: int, image: str) -> int:
    """A per-image seed that depends only on the study's seed and the image key (not on run order)."""
    return int(hashlib.sha256(f"{seed}\t{image}".encode()).hexdigest()[:8], 16)


#: A table's explanation key: rows of one model, method, layer and parameter set.
EXPLANATION = ("model", "model_name", "method", "layer", "params_hash", "params")


def by_explanation(rows: list[dict[str, Any]]) -> list[tuple[tuple[Any, ...], list[dict[str, Any]]]]:
    """Rows grouped by :data:`EXPLANATION`, groups and the rows in them sorted (class, image)."""
    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in EXPLANATION), []).append(r)
    return [(k, sorted(groups[k], key=lambda r: (str(r["class"]), str(r["image"])))) for k in sorted(groups, key=str)]


def csv_text(header: Sequence[str], body: list[list[Any]]) -> str:
    """A CSV table with a header row (``\n`` line ends), as every study table is written."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue()

"""Connected components of a 2-D mask from its row runs, in NumPy alone.

``scipy.ndimage.label`` (which ``skimage.measure.label`` calls for masks) and ``find_objects``
give the same components, but importing ``scipy.ndimage`` costs about 0.15-0.3 s on the 2-core
machine RadLens is measured on (its array-API layer clones NumPy's namespace and imports
``numpy.f2py`` and ``numpy.testing`` on the way): a third of ``radlens explain``'s time after torch
(issue #19). Here a mask becomes its runs (maximal horizontal segments of set pixels, in raster
order); runs in neighbouring rows that touch (8-neighbourhood: column ranges overlapping or
diagonally adjacent; 4-neighbourhood: overlapping) are joined by a vectorised union-find with
pointer jumping. Components are numbered in raster order of their first pixel, as
``scipy.ndimage.label`` numbers them; tests compare labels, boxes and pixel counts with SciPy's on
random masks of every density.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Components:
    """The components of a mask: ``n``, their boxes ``(n, 4)`` float64 ``(x0, y0, x1, y1)``
    (pixel edges: a component spanning rows ``r0..r1`` and columns ``c0..c1`` is ``(c0, r0, c1 + 1,
    r1 + 1)``), their pixel counts ``(n,)`` int64, and, when asked for, the label image (``0``
    background, ``1..n`` in raster order of each component's first pixel)."""

    n: int
    boxes: npt.NDArray[np.float64]
    areas: npt.NDArray[np.int64]
    labels: npt.NDArray[np.int32] | None = None


def _runs(mask: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows, first columns and end columns (exclusive) of the mask's runs, in raster order."""
    h, w = mask.shape
    framed = np.zeros((h, w + 1), np.int8)  # a zero column after each row: every run ends in its row
    framed[:, :w] = mask
    step = np.diff(framed.ravel(), prepend=np.int8(0))
    starts = np.flatnonzero(step == 1)
    ends = np.flatnonzero(step == -1)
    rows = starts // (w + 1)
    return rows, starts - rows * (w + 1), ends - rows * (w + 1)


def _touching_pairs(
    rows: npt.NDArray[np.intp], c0: npt.NDArray[np.intp], c1: npt.NDArray[np.intp], width: int, connectivity: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Every pair (run j, run i in the row above) that touches under ``connectivity``."""
    stride = width + 2
    key_start = rows * stride + c0  # increasing: runs in raster order, disjoint inside a row
    key_end = rows * stride + c1
    below = np.flatnonzero(rows > 0)
    above_row = (rows[below] - 1) * stride
    if connectivity == 2:  # run i touches j when c0_i <= c1_j (exclusive end: diagonal) and c1_i >= c0_j
        lo = np.searchsorted(key_end, above_row + c0[below], side="left")
        hi = np.searchsorted(key_start, above_row + c1[below], side="right")
    else:  # 4-neighbourhood: the column ranges overlap
        lo = np.searchsorted(key_end, above_row + c0[below], side="right")
        hi = np.searchsorted(key_start, above_row + c1[below], side="left")
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, np.intp)
        return empty, empty
    j = np.repeat(below, counts)
    offsets = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return j, np.repeat(lo, counts) + offsets


def _roots(n: int, a: npt.NDArray[np.intp], b: npt.NDArray[np.intp]) -> npt.NDArray[np.intp]:
    """For each of ``n`` nodes the smallest node of its component (edges ``a[k] - b[k]``)."""
    parent = np.arange(n)
    while a.size:
        pa, pb = parent[a], parent[b]
        low = np.minimum(pa, pb)
        np.minimum.at(parent, pa, low)  # hook each root under the smaller root it touches
        np.minimum.at(parent, pb, low)
        while True:  # pointer jumping: every node points at its tree's root
            grand = parent[parent]
            if np.array_equal(grand, parent):
                break
            parent = grand
        joined = parent[a] != parent[b]
        a, b = a[joined], b[joined]
    return parent


def components(mask: npt.ArrayLike, connectivity: int = 2, *, paint: bool = False) -> Components:
    """The connected components of a 2-D mask (non-zero pixels are foreground).

    Args:
        mask: 2-D array.
        connectivity: 1 (4-neighbourhood) or 2 (8-neighbourhood).
        paint: Also return the label image (``Components.labels``).
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"components needs a 2-D mask, not shape {m.shape}")
    if connectivity not in (1, 2):
        raise ValueError(f"connectivity must be 1 or 2, not {connectivity!r}")
    m = m if m.dtype == np.bool_ else m != 0
    h, w = m.shape
    rows, c0, c1 = _runs(m)
    if rows.size == 0:
        return Components(0, np.zeros((0, 4), np.float64), np.zeros(0, np.int64),
                          np.zeros((h, w), np.int32) if paint else None)
    a, b = _touching_pairs(rows, c0, c1, w, connectivity)
    roots = _roots(rows.size, a, b)
    is_root = roots == np.arange(rows.size)  # a root is its component's first run (raster order)
    first = np.flatnonzero(is_root)
    comp = (np.cumsum(is_root) - 1)[roots]  # components numbered in the order of their first runs
    n = int(first.size)
    lengths = c1 - c0
    areas = np.bincount(comp, weights=lengths, minlength=n).astype(np.int64)
    left = np.full(n, w, np.intp)
    np.minimum.at(left, comp, c0)
    right = np.zeros(n, np.intp)
    np.maximum.at(right, comp, c1)
    bottom = np.zeros(n, np.intp)
    np.maximum.at(bottom, comp, rows)
    boxes = np.stack([left, rows[first], right, bottom + 1], axis=1).astype(np.float64)
    labels = None
    if paint:
        labels = np.zeros(h * w, np.int32)
        total = int(lengths.sum())
        offsets = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        labels[np.repeat(rows * w + c0, lengths) + offsets] = np.repeat(comp + 1, lengths)
        labels = labels.reshape(h, w)
    return Components(n, boxes, areas, labels)

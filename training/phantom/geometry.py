"""Pixel-grid helpers: coordinate grids, tight boxes, IoU and run-length masks.

Box convention: continuous pixel-edge coordinates ``(x_min, y_min, x_max, y_max)``; pixel
(row i, col j) covers ``[j, j+1) x [i, i+1)``, so a mask spanning cols c0..c1 and rows r0..r1 has
the box ``(c0, r0, c1 + 1, r1 + 1)``.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Box = tuple[float, float, float, float]
FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]


@lru_cache(maxsize=8)
def unit_grid(size: int) -> tuple[FloatArray, FloatArray]:
    """Normalised pixel-centre coordinates ``(x, y)`` in [0, 1] of a square ``size`` image.

    The arrays are cached and read-only; never modify them.
    """
    c = ((np.arange(size, dtype=np.float32) + 0.5) / size).astype(np.float32)
    x = np.broadcast_to(c[None, :], (size, size))
    y = np.broadcast_to(c[:, None], (size, size))
    return x, y


def tight_box(mask: BoolArray) -> Box:
    """The tight pixel-edge box of a non-empty boolean mask.

    Raises:
        ValueError: If the mask is empty.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise ValueError("tight_box of an empty mask")
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two pixel-edge boxes (0 when they do not overlap).

    The engine's one IoU definition (``engine.localise.iou``), kept under this name for the
    generator's callers.
    """
    from engine.localise import iou

    return iou(a, b)


def mask_width(mask: BoolArray) -> int:
    """Horizontal extent of a mask in pixels (last column - first column + 1; 0 when empty)."""
    cols = np.flatnonzero(mask.any(axis=0))
    return int(cols[-1] - cols[0] + 1) if cols.size else 0


def cardiothoracic_ratio(heart: BoolArray, thorax: BoolArray) -> float:
    """Cardiothoracic ratio: widest horizontal extent of the heart over that of the thorax.

    Args:
        heart: Mask of the rendered heart silhouette.
        thorax: Mask of the thoracic cavity (inside the inner rib margins, above the diaphragm).
    """
    tw = thorax_width(thorax)
    return mask_width(heart) / tw if tw else 0.0


def thorax_width(thorax: BoolArray) -> int:
    """Widest inner width of the thorax in pixels: the longest row of the cavity mask."""
    return max((int(row_width) for row_width in _row_widths(thorax)), default=0)


def _row_widths(mask: BoolArray) -> NDArray[np.int64]:
    any_row = mask.any(axis=1)
    first = np.argmax(mask, axis=1)
    last = mask.shape[1] - 1 - np.argmax(mask[:, ::-1], axis=1)
    return np.where(any_row, last - first + 1, 0)


def encode_rle(mask: BoolArray) -> list[int]:
    """Run-length encode a mask in row-major order as flat ``[start, length, ...]`` pairs."""
    flat = np.concatenate([[False], mask.ravel(), [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(flat))
    starts, ends = edges[0::2], edges[1::2]
    out = np.empty(starts.size * 2, dtype=np.int64)
    out[0::2] = starts
    out[1::2] = ends - starts
    return [int(v) for v in out]


def decode_rle(rle: list[int], shape: tuple[int, int]) -> BoolArray:
    """Inverse of :func:`encode_rle`."""
    flat = np.zeros(shape[0] * shape[1], dtype=bool)
    for start, length in zip(rle[0::2], rle[1::2], strict=True):
        flat[start : start + length] = True
    return flat.reshape(shape)

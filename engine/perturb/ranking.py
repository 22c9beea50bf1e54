"""Which pixels go first: most relevant first (MoRF), least relevant first (LeRF), or random.

A ranking is an array of flat (row-major) pixel indices, first to be replaced first. Only pixels
whose relevance is finite take part (NaN marks pixels outside the image content, e.g. letterbox
padding). Ties are broken by a stable sort: among equal values, the lower flat index comes first,
in both MoRF and LeRF, so a ranking is a pure function of the map (and of the seed for random).

Replacing a fraction ``f`` of ``N`` ranked pixels replaces exactly ``k = floor(f * N + 0.5)``
pixels (``f * N`` rounded half up), the first ``k`` of the ranking.
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import RadLensError, ShapeError

ORDERS = ("morf", "lerf", "random")


def check_order(order: str) -> str:
    """Validate an ordering name."""
    key = str(order).lower()
    if key not in ORDERS:
        raise RadLensError(f"unknown pixel order {order!r}.", fix=f"use one of {', '.join(ORDERS)}.")
    return key


def count_for_fraction(fraction: float, n: int) -> int:
    """Number of pixels a fraction of ``n`` stands for: ``floor(fraction * n + 0.5)``."""
    f = float(fraction)
    if not (0.0 <= f <= 1.0) or math.isnan(f):
        raise RadLensError(f"a replaced fraction must lie in [0, 1], not {fraction!r}.",
                           fix="give fractions such as 0.02 or 0.5 (not percentages).")
    return min(n, math.floor(f * n + 0.5))


def rank_pixels(relevance: np.ndarray, order: str = "morf", seed: int = 0) -> np.ndarray:
    """Flat indices of the finite pixels of ``relevance``, in replacement order.

    Args:
        relevance: ``(H, W)`` map; NaN pixels are excluded.
        order: ``morf`` (highest first), ``lerf`` (lowest first) or ``random``.
        seed: Seed of the random order (ignored otherwise).

    Returns:
        ``int64`` array of length N (the number of finite pixels).
    """
    rel = np.asarray(relevance)
    if rel.ndim != 2:
        raise ShapeError("relevance map", rel.shape, "(H, W)")
    order = check_order(order)
    flat = rel.astype(np.float64, copy=False).ravel()
    valid = np.flatnonzero(np.isfinite(flat))
    if order == "random":
        return valid[np.random.default_rng(int(seed)).permutation(valid.size)]
    values = flat[valid]
    key = -values if order == "morf" else values
    return valid[np.argsort(key, kind="stable")]


def rank_positions(ranking: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per pixel, its position in ``ranking`` (``int64``); pixels not ranked get ``H * W``.

    ``rank_positions(r, s) < k`` is the mask of the first ``k`` ranked pixels.
    """
    pos = np.full(shape[0] * shape[1], shape[0] * shape[1], dtype=np.int64)
    pos[ranking] = np.arange(ranking.size, dtype=np.int64)
    return pos.reshape(shape)


def mask_for_fraction(ranking: np.ndarray, shape: tuple[int, int], fraction: float) -> np.ndarray:
    """Boolean ``(H, W)`` mask of the first ``count_for_fraction(fraction, N)`` ranked pixels."""
    k = count_for_fraction(fraction, ranking.size)
    mask = np.zeros(shape[0] * shape[1], dtype=bool)
    mask[ranking[:k]] = True
    return mask.reshape(shape)


def box_mask(box: tuple[float, float, float, float] | list[float], shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centres lie inside a box ``(x0, y0, x1, y1)`` in pixel-edge coordinates."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if x1 <= x0 or y1 <= y0:
        raise RadLensError(f"the region box {list(box)} is empty.", fix="draw a box with x1 > x0 and y1 > y0.")
    h, w = shape
    cols = (np.arange(w) + 0.5)
    rows = (np.arange(h) + 0.5)
    mask = ((rows >= y0) & (rows < y1))[:, None] & ((cols >= x0) & (cols < x1))[None, :]
    if not mask.any():
        raise RadLensError(f"the region box {list(box)} covers no pixel of the {w}x{h} image.",
                           fix="draw the box inside the image.")
    return mask

"""Which pixels go first: most relevant first (MoRF), least relevant first (LeRF), or random.

A ranking is an array of flat (row-major) pixel indices, first to be replaced first. Only pixels
whose relevance is finite take part (NaN marks pixels outside the image content, e.g. letterbox
padding).

Ties are broken in a fixed pseudo-random order (a permutation drawn once from ``TIE_SEED`` for the
map's size), in both MoRF and LeRF, so a ranking is still a pure function of the map (and of the
seed for random). Ties matter: a ReLU'd CAM is exactly zero on most of the image (12.7 % positive
pixels is typical), so "the top 20 %" runs past the map's support. Broken by lower flat index, the
rest of that 20 % would be the top rows of the film, and Δp at large fractions would measure the
removal of the lung apices rather than of anything the model used; broken at random, the pixels past
the support are a random sample of the zero-relevance pixels, like the random-order control.

Replacing a fraction ``f`` of ``N`` ranked pixels replaces exactly ``k = floor(f * N + 0.5)``
pixels (``f * N`` rounded half up), the first ``k`` of the ranking.

Patches (``patch = p > 1``): the frame is cut into a grid of ``p x p`` squares from the top-left
corner (the last row/column may be smaller). Squares are ranked by the mean relevance of their
finite pixels (MoRF highest first, LeRF lowest first, ties in the fixed pseudo-random order of
squares) or in a seeded
random order of squares; pixels follow square by square, row-major inside a square. Replacing
whole squares (Samek et al. 2017 used 9 x 9 regions) keeps a random order from scattering single
pixels all over the image, an artefact models react to more than to the loss of evidence.
"""

from __future__ import annotations

import math

import numpy as np

from engine.errors import RadLensError, ShapeError
from engine.localise.boxes import boxes_to_mask

ORDERS = ("morf", "lerf", "random")
#: Seed of the fixed order in which tied pixels (or squares) follow each other in MoRF and LeRF.
TIE_SEED = 20181


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


def check_patch(patch: int) -> int:
    """Validate a patch size (1: single pixels)."""
    if isinstance(patch, bool) or int(patch) != patch or int(patch) < 1:
        raise RadLensError(f"a patch size must be a whole number of pixels >= 1, not {patch!r}.",
                           fix="use 1 (single pixels) or e.g. 8, 9 or 16.")
    return int(patch)


def rank_pixels(relevance: np.ndarray, order: str = "morf", seed: int = 0, patch: int = 1) -> np.ndarray:
    """Flat indices of the finite pixels of ``relevance``, in replacement order.

    Args:
        relevance: ``(H, W)`` map; NaN pixels are excluded.
        order: ``morf`` (highest first), ``lerf`` (lowest first) or ``random``.
        seed: Seed of the random order (ignored otherwise).
        patch: Rank ``patch x patch`` squares instead of single pixels (see the module docstring).

    Returns:
        ``int64`` array of length N (the number of finite pixels).
    """
    rel = np.asarray(relevance)
    if rel.ndim != 2:
        raise ShapeError("relevance map", rel.shape, "(H, W)")
    order = check_order(order)
    patch = check_patch(patch)
    flat = rel.astype(np.float64, copy=False).ravel()
    valid = np.flatnonzero(np.isfinite(flat))
    if patch > 1:
        return _rank_patches(flat, valid, rel.shape, order, int(seed), patch)
    if order == "random":
        return valid[np.random.default_rng(int(seed)).permutation(valid.size)]
    values = flat[valid]
    key = -values if order == "morf" else values
    ties = _tie_order(valid.size)  # a stable sort of the shuffled keys leaves ties in shuffled order
    return valid[ties[np.argsort(key[ties], kind="stable")]]


def _tie_order(n: int) -> np.ndarray:
    """The fixed pseudo-random permutation of ``n`` items that orders ties."""
    return np.random.default_rng(TIE_SEED).permutation(n)


def _rank_patches(flat: np.ndarray, valid: np.ndarray, shape: tuple[int, ...], order: str, seed: int,
                  patch: int) -> np.ndarray:
    h, w = int(shape[0]), int(shape[1])
    per_row = -(-w // patch)
    n_squares = -(-h // patch) * per_row
    square = ((valid // w) // patch) * per_row + (valid % w) // patch  # each valid pixel's square
    position = np.empty(n_squares, dtype=np.int64)  # each square's place in a seeded (random) or fixed (ties) order
    shuffled = np.random.default_rng(seed).permutation(n_squares) if order == "random" else _tie_order(n_squares)
    position[shuffled] = np.arange(n_squares)
    if order == "random":
        key = np.zeros(valid.size)
    else:
        sums = np.bincount(square, weights=flat[valid], minlength=n_squares)
        counts = np.bincount(square, minlength=n_squares)
        mean = sums / np.maximum(counts, 1)
        key = -mean[square] if order == "morf" else mean[square]
    return valid[np.lexsort((valid, position[square], key))]  # by key, then the square's place, then pixel index


def rank_positions(ranking: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Per pixel, its position in ``ranking``; pixels not ranked get ``H * W``.

    ``rank_positions(r, s) < k`` is the mask of the first ``k`` ranked pixels. The positions are
    ``int32`` when ``H * W`` fits (half the bytes to compare on every slider move: 2.4 instead of
    4.7 ms at 4300 x 3500), else ``int64``.
    """
    n = shape[0] * shape[1]
    dtype = np.int32 if n < np.iinfo(np.int32).max else np.int64
    pos = np.full(n, n, dtype=dtype)
    pos[ranking] = np.arange(ranking.size, dtype=dtype)
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
    mask = boxes_to_mask([(x0, y0, x1, y1)], (h, w))
    if not mask.any():
        raise RadLensError(f"the region box {list(box)} covers no pixel of the {w}x{h} image.",
                           fix="draw the box inside the image.")
    return mask

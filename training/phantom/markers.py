"""Things burned into the film: the laterality letter and the optional shortcut token."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from training.phantom.geometry import Box, tight_box, unit_grid

FloatArray = NDArray[np.float32]
BoolArray = NDArray[np.bool_]

_GLYPHS: dict[str, tuple[str, ...]] = {
    "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
    "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
}


def glyph_mask(letter: str, size: int, row: int, col: int, height: int) -> BoolArray:
    """A full-image mask of a 5x7 block letter whose top-left corner is at ``(row, col)``."""
    rows = _GLYPHS[letter]
    bitmap = np.array([[c == "1" for c in r] for r in rows], dtype=bool)
    cell = max(1, height // 7)
    big = np.kron(bitmap, np.ones((cell, cell), dtype=bool))
    out = np.zeros((size, size), dtype=bool)
    h, w = big.shape
    out[row : row + h, col : col + w] = big[: size - row, : size - col]
    return out


def laterality_marker(rng: np.random.Generator, size: int) -> tuple[str, BoolArray]:
    """Choose the letter and burn it in the upper corner on that side of the patient.

    In a PA film the patient's left is on the image right, so "L" sits top right and "R" top left.
    """
    letter = "L" if rng.random() < 0.5 else "R"
    height = max(7, round(size * rng.uniform(0.04, 0.055)))
    cell = max(1, height // 7)
    width = 5 * cell
    margin_x = round(size * rng.uniform(0.025, 0.07))
    margin_y = round(size * rng.uniform(0.02, 0.04))
    col = margin_x if letter == "R" else size - margin_x - width
    return letter, glyph_mask(letter, size, margin_y, col, height)


def shortcut_token(rng: np.random.Generator, size: int) -> tuple[FloatArray, BoolArray, Box]:
    """A small bright electrode-like token (ring with a dark centre) in the lower image.

    Returns:
        ``(intensity, mask, box)``: display intensity to impose, its mask and its tight box.
    """
    x, y = unit_grid(size)
    r = rng.uniform(0.018, 0.026)
    cx = rng.uniform(0.08, 0.92)
    cy = rng.uniform(0.85, 0.95)
    rho = np.hypot(x - cx, y - cy) / r
    mask = np.asarray(rho < 1.0)
    if not mask.any():  # pragma: no cover - r is several pixels at any allowed size
        mask[int(cy * size), int(cx * size)] = True
    intensity = np.where(rho < 0.35, 0.55, 0.97).astype(np.float32)
    return intensity, mask, tight_box(mask)

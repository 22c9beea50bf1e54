"""Small vectorised building blocks for rendering: smooth steps, blurs and stroke splatting."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

FloatArray = NDArray[np.float32]


def smoothstep(e0: float, e1: float, x: FloatArray) -> FloatArray:
    """Hermite smooth step from 0 (x <= e0) to 1 (x >= e1)."""
    t = np.clip((x - e0) / (e1 - e0), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def blur(a: NDArray[np.floating] | NDArray[np.bool_], sigma: float) -> FloatArray:
    """Gaussian blur (``sigma`` in pixels); large sigmas run on a decimated copy for speed."""
    a32 = np.asarray(a, dtype=np.float32)
    if sigma <= 0.0:
        return a32.copy()
    f = int(sigma // 4)
    if f >= 2 and min(a32.shape) >= 8 * f:
        h, w = a32.shape
        hh, ww = h // f * f, w // f * f
        small = a32[:hh, :ww].reshape(hh // f, f, ww // f, f).mean(axis=(1, 3))
        small = ndimage.gaussian_filter(small, sigma / f, mode="nearest", truncate=3.0)
        up = ndimage.zoom(small, (h / small.shape[0], w / small.shape[1]), order=1,
                          mode="nearest", grid_mode=True)
        return np.asarray(up[:h, :w], dtype=np.float32)
    return np.asarray(
        ndimage.gaussian_filter(a32, sigma, mode="nearest", truncate=3.0), dtype=np.float32
    )


def splat_polylines(
    shape: tuple[int, int],
    segments: list[tuple[float, float, float, float, float]],
    step: float = 0.5,
) -> FloatArray:
    """Accumulate weighted line segments into an image (nearest pixel), ready for blurring.

    Args:
        shape: Output ``(rows, cols)``.
        segments: ``(x0, y0, x1, y1, weight)`` in pixel-centre coordinates (pixel units).
        step: Sampling step along each segment in pixels.
    """
    out = np.zeros(shape[0] * shape[1], dtype=np.float64)
    if not segments:
        return out.reshape(shape).astype(np.float32)
    seg = np.asarray(segments, dtype=np.float64)
    lengths = np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1])
    counts = np.maximum(2, np.ceil(lengths / step).astype(np.int64))
    idx = np.repeat(np.arange(seg.shape[0]), counts)
    starts = np.cumsum(counts) - counts
    t = (np.arange(idx.size) - starts[idx]) / (counts[idx] - 1)
    xs = seg[idx, 0] + t * (seg[idx, 2] - seg[idx, 0])
    ys = seg[idx, 1] + t * (seg[idx, 3] - seg[idx, 1])
    w = seg[idx, 4] * step
    cols = np.floor(xs).astype(np.int64)
    rows = np.floor(ys).astype(np.int64)
    ok = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    flat = rows[ok] * shape[1] + cols[ok]
    out += np.bincount(flat, weights=w[ok], minlength=out.size)
    return out.reshape(shape).astype(np.float32)


def largest_component(mask: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """The largest 8-connected component of a mask (the mask itself when empty)."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if n <= 1:
        return mask.copy()
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return np.asarray(labels == int(np.argmax(sizes)))

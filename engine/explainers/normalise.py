"""Map normalisation modes. The display always states which one is on.

* ``per_map``: each class's map min-max scaled to [0, 1] on its own. Hides that two maps
  differ in strength and can let noise fill the scale.
* ``shared``: one min-max scale for all classes of the image, so strengths compare.
* ``raw``: the method's own values; the value range is reported.
"""

from __future__ import annotations

import numpy as np

MODES = ("per_map", "shared", "raw")


def check_mode(mode: str) -> str:
    from engine.errors import ExplainError

    if mode not in MODES:
        raise ExplainError(f"unknown normalisation '{mode}'; choose one of {MODES}.")
    return mode


def scale_for(maps: np.ndarray, mode: str) -> list[tuple[float, float]]:
    """Per map, the (low, high) that map to 0 and 1 (raw mode: (0, 1), i.e. identity)."""
    if mode == "raw":
        return [(0.0, 1.0)] * len(maps)
    if mode == "shared":
        lo, hi = (float(maps.min()), float(maps.max())) if maps.size else (0.0, 1.0)
        return [(lo, hi)] * len(maps)
    return [(float(m.min()), float(m.max())) for m in maps]


def apply_scale(m: np.ndarray, low: float, high: float) -> np.ndarray:
    if high <= low:
        return np.zeros_like(m, dtype=np.float32)
    if (low, high) == (0.0, 1.0):
        return m.astype(np.float32, copy=False)
    return ((m - low) / (high - low)).astype(np.float32, copy=False)

"""Pure functions for the grayscale display pipeline (DICOM PS3.3 C.11, C.7.6.3.1.2).

Order: Modality LUT (:func:`apply_modality` / :func:`apply_rescale`) -> VOI (:func:`apply_window`
or :func:`apply_voi_lut_table`) -> presentation (:func:`apply_presentation`).

The VOI functions return float32 in ``[0, 1]`` instead of the standard's ``[y_min, y_max]``: the
formulas are those of :func:`pydicom.pixels.apply_windowing` with ``y_min = 0, y_max = 1`` (the
tests check them against pydicom). They are written with ``np.clip`` in float32 so that the viewer
can re-window a 3000 x 3000 image interactively.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

VOI_FUNCTIONS = ("LINEAR", "LINEAR_EXACT", "SIGMOID")


def apply_modality(stored: np.ndarray, ds: Dataset) -> np.ndarray:
    """Modality LUT of ``ds`` (Modality LUT Sequence, else Rescale Slope/Intercept) as float32.

    A thin wrapper around :func:`pydicom.pixels.apply_modality_lut`.
    """
    from pydicom.pixels import apply_modality_lut

    return np.asarray(apply_modality_lut(stored, ds), dtype=np.float32)


def apply_rescale(stored: np.ndarray, slope: float, intercept: float) -> np.ndarray:
    """``stored * slope + intercept`` as float32 (computed in float64)."""
    out = stored.astype(np.float64) * float(slope) + float(intercept)
    return out.astype(np.float32)


def valid_window(width: float, function: str) -> bool:
    """Whether the standard allows ``width`` for ``function`` (LINEAR needs width >= 1)."""
    if not np.isfinite(width):
        return False
    return width >= 1 if function == "LINEAR" else width > 0


def apply_window(values: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """Window modality values to float32 in ``[0, 1]``.

    LINEAR (C.11.2.1.2.1) uses ``center - 0.5`` and ``width - 1``; LINEAR_EXACT (C.11.2.1.3.2)
    uses them as given; SIGMOID is ``1 / (1 + exp(-4 (x - c) / w))``. Widths the standard forbids
    (LINEAR < 1, others <= 0) are raised to the smallest allowed so that interactive dragging never
    fails. NaN inputs give 0.

    Args:
        values: Modality values (any shape, any real dtype).
        center: Window center.
        width: Window width.
        function: ``"LINEAR"``, ``"LINEAR_EXACT"`` or ``"SIGMOID"`` (case-insensitive).
    """
    function = function.upper()
    if function not in VOI_FUNCTIONS:
        raise ValueError(f"VOI LUT function {function!r} is not one of {VOI_FUNCTIONS}")
    x = np.asarray(values, dtype=np.float32)
    c, w = float(center), float(width)
    if function == "SIGMOID":
        w = max(w, 1e-6)
        out = np.float32(-4.0 / w) * (x - np.float32(c))
        np.clip(out, -80.0, 80.0, out=out)  # exp stays finite; 1/(1+e^80) is 0 in float32
        np.exp(out, out=out)
        out += 1.0
        np.reciprocal(out, out=out)
    else:
        if function == "LINEAR":
            c, w = c - 0.5, max(w, 1.0) - 1.0
        else:
            w = max(w, 1e-6)
        if w == 0:  # LINEAR with width 1: a threshold at c - 0.5
            out = (x > np.float32(c)).astype(np.float32)
        else:
            out = (x - np.float32(c)) * np.float32(1.0 / w)
            out += 0.5
            np.clip(out, 0.0, 1.0, out=out)
    return np.nan_to_num(out, copy=False, nan=0.0)


def apply_voi_lut_table(values: np.ndarray, table: np.ndarray, first_mapped: int, bits: int) -> np.ndarray:
    """Map modality values through a VOI LUT (C.11.2.1.1) to float32 in ``[0, 1]``.

    Values are rounded to the nearest integer; those below ``first_mapped`` take ``table[0]``,
    those past the end ``table[-1]``. Output is ``table / (2**bits - 1)``, clipped to [0, 1].
    """
    if table.size == 0:
        raise ValueError("VOI LUT has no entries")
    scaled = np.clip(table.astype(np.float32) / np.float32(2**bits - 1), 0.0, 1.0)
    x = np.nan_to_num(np.asarray(values, dtype=np.float64), nan=float(first_mapped))
    idx = np.clip(np.rint(x) - first_mapped, 0, table.size - 1).astype(np.intp)
    return scaled[idx]


def apply_presentation(display: np.ndarray, invert: bool) -> np.ndarray:
    """Presentation LUT: ``1 - display`` when ``invert`` (MONOCHROME1 / INVERSE), else as is."""
    if invert:
        return np.float32(1.0) - display
    return display


def finite_range(values: np.ndarray) -> tuple[float, float]:
    """Minimum and maximum of the finite entries of ``values`` ((0, 0) when none)."""
    arr = np.asarray(values)
    if arr.size == 0:
        return 0.0, 0.0
    lo, hi = float(np.min(arr)), float(np.max(arr))
    if np.isfinite(lo) and np.isfinite(hi):
        return lo, hi
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return 0.0, 0.0
    return float(finite.min()), float(finite.max())


def auto_window(values: np.ndarray) -> tuple[float, float]:
    """LINEAR_EXACT ``(center, width)`` spanning the data range (width 1 for constant data)."""
    lo, hi = finite_range(values)
    width = hi - lo
    return (lo + hi) / 2.0, width if width > 0 else 1.0

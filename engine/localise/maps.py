"""Validation of 2-D heatmaps and masks shared by the localisation functions."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from engine.errors import ShapeError
from engine.localise.errors import InvalidMapError


def as_map(heatmap: npt.ArrayLike, what: str = "map") -> npt.NDArray[np.floating]:
    """Return ``heatmap`` as a finite 2-D floating array (no copy when already floating).

    Args:
        heatmap: A 2-D array of any numeric type and value range.
        what: Name used in error messages.

    Returns:
        The map as a floating array; float16/32/64 inputs are kept as they are, others become
        float64.

    Raises:
        ShapeError: If the map is not 2-D or has no pixels.
        InvalidMapError: If it holds NaN or infinite values.
    """
    arr = np.asarray(heatmap)
    if arr.ndim != 2 or arr.size == 0:
        raise ShapeError(what, arr.shape, "a non-empty 2-D (H, W) map")
    if not np.issubdtype(arr.dtype, np.floating):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise InvalidMapError(f"{what} has dtype {arr.dtype}; a numeric map is needed.")
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        n_nan = int(np.isnan(arr).sum())
        raise InvalidMapError(
            f"{what} holds {n_nan} NaN and {int(np.isinf(arr).sum())} infinite values.",
            fix="Replace them (e.g. np.nan_to_num) or recompute the explanation.",
        )
    return arr


def as_mask(mask: npt.ArrayLike, what: str = "mask") -> npt.NDArray[np.bool_]:
    """Return ``mask`` as a 2-D boolean array (non-zero is True).

    Raises:
        ShapeError: If the mask is not 2-D.
    """
    arr = np.asarray(mask)
    if arr.ndim != 2:
        raise ShapeError(what, arr.shape, "a 2-D (H, W) mask")
    return arr if arr.dtype == np.bool_ else arr != 0

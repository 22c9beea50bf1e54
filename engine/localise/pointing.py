"""Map-level localisation metrics against GT boxes: pointing game, energy, Diff, EHR-AUC.

"Inside" means the union of the GT boxes rasterised on the map's grid with the pixel centre rule
of :func:`engine.localise.boxes.boxes_to_mask` (pixel ``(i, j)`` is inside when ``(j + 0.5, i + 0.5)``
lies in a box). GT boxes of several annotators may be pooled. Where the ground truth is a
segmentation (SIIM-ACR's pneumothorax masks), the energy game, Diff and EHR take it as ``mask=``
instead: a thin crescent fills a small part of its box, so "inside the box" would count lung as
finding (the research protocol defines Diff and EHR on the mask).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from engine.errors import ShapeError
from engine.localise.boxes import BoxesLike, boxes_to_mask
from engine.localise.errors import InvalidPolicyError
from engine.localise.maps import as_map


def _inside(m: npt.NDArray[np.floating], gt_boxes: BoxesLike | None,
            mask: npt.ArrayLike | None = None) -> npt.NDArray[np.bool_]:
    if mask is None:
        return boxes_to_mask(gt_boxes if gt_boxes is not None else [], (m.shape[0], m.shape[1]))
    inside = np.asarray(mask, dtype=bool)
    if inside.shape != m.shape[:2]:
        raise ShapeError("GT mask", inside.shape, f"the map's {m.shape[:2]}")
    return inside


def pointing_game(heatmap: npt.ArrayLike, gt_boxes: BoxesLike, tolerance_px: float = 0) -> bool:
    """Whether the map's maximum falls inside (or within ``tolerance_px`` of) a GT box.

    Definition (Zhang et al., "Top-down neural attention by excitation backprop", ECCV 2016) as the
    reference implementation codes it (TorchRay, ``torchray/benchmark/pointing_game.py``,
    ``PointingGame.evaluate``): the GT boxes are rasterised to a mask; the predicted point is a
    pixel; it is a hit when some mask pixel lies at a Euclidean distance *strictly below* the
    tolerance, distances measured between pixel centres (TorchRay: ``(v - y)**2 + (u - x)**2 <
    tolerance**2`` over integer pixel indices; its default tolerance is 15 px). The GT mask uses the
    pixel-centre rule of :func:`engine.localise.boxes.boxes_to_mask`. With ``tolerance_px == 0``
    the point itself must lie in the mask (the strict game; TorchRay's strict ``<`` would accept
    nothing at 0).

    Conventions:

    * A map that points nowhere is a **miss**: an all-zero map, or one without a positive value
      (nothing is relevant, so there is no point to score).
    * Ties at the maximum: every pixel equal to the maximum is a candidate point (no arbitrary
      argmax tie-break); the result is a hit if ANY of them is a hit.
    * No GT box (or none covering a pixel centre of the map) is a miss.

    Args:
        heatmap: Finite 2-D map.
        gt_boxes: GT boxes (pooled over annotators).
        tolerance_px: Tolerance in pixels of the map's grid (>= 0); 15 in the original protocol.

    Returns:
        True for a hit.

    Raises:
        InvalidPolicyError: If the tolerance is negative or not finite.
    """
    tol = float(tolerance_px)
    if not (math.isfinite(tol) and tol >= 0):
        raise InvalidPolicyError(
            f"Pointing-game tolerance {tolerance_px!r} is not a finite number >= 0.",
            fix="Pass 0 for the strict game or a distance in pixels (15 in Zhang et al. 2016).",
        )
    m = as_map(heatmap)
    top = float(m.max())
    inside = _inside(m, gt_boxes)
    if top <= 0 or not inside.any():
        return False
    peaks = m == top
    if tol == 0:
        return bool(np.any(inside & peaks))
    # Euclidean distance from every pixel centre to the nearest GT pixel centre.
    from scipy.ndimage import distance_transform_edt  # here: SciPy's ndimage costs ~0.2 s to import (issue #19)

    distance = distance_transform_edt(~inside)
    return bool(np.any(distance[peaks] < tol))


def energy_pointing_game(heatmap: npt.ArrayLike, gt_boxes: BoxesLike | None,
                         *, mask: npt.ArrayLike | None = None) -> float:
    """Share of the map's positive energy inside the GT boxes (Score-CAM's energy pointing game).

    Wang et al., "Score-CAM" (CVPR-W 2020), Sec. 5.2: the image is binarised with the GT boxes
    (1 inside, 0 outside), multiplied with the saliency map and summed; the proportion is
    ``sum inside / (sum inside + sum outside)``. Score-CAM's maps are non-negative (after ReLU and
    min-max normalisation); for signed maps RadLens counts the positive part only, so a negative
    value never adds to or subtracts from the share. The share does not depend on a positive
    scale of the map; it does depend on an offset, so it equals Score-CAM's min-max-normalised
    figure when the map's minimum is 0 (every ReLU'd CAM with a zero pixel) and differs otherwise.

    ``sum(max(map, 0) inside) / sum(max(map, 0))`` over all pixels; NaN when the map has no
    positive value (no energy to share). ``mask``: a boolean GT mask of the map's shape, used
    instead of the boxes.
    """
    m = as_map(heatmap)
    pos = np.clip(m, 0, None)
    total = float(pos.sum(dtype=np.float64))
    if total <= 0:
        return float("nan")
    return float(pos[_inside(m, gt_boxes, mask)].sum(dtype=np.float64)) / total


def diff_inside_outside(heatmap: npt.ArrayLike, gt_boxes: BoxesLike | None,
                        *, mask: npt.ArrayLike | None = None) -> float:
    """``mean(map inside GT) - mean(map outside GT)`` on the raw map values.

    NaN when either side has no pixel. Normalise the map first (e.g. min-max) to compare images.
    ``mask``: a boolean GT mask of the map's shape, used instead of the boxes.
    """
    m = as_map(heatmap)
    inside = _inside(m, gt_boxes, mask)
    n_in = int(np.count_nonzero(inside))
    n_out = m.size - n_in
    if n_in == 0 or n_out == 0:
        return float("nan")
    total = float(m.sum(dtype=np.float64))
    s_in = float(m[inside].sum(dtype=np.float64))
    return s_in / n_in - (total - s_in) / n_out


def ehr_curve(
    heatmap: npt.ArrayLike, gt_boxes: BoxesLike | None, n_thresholds: int = 100, *, mask: npt.ArrayLike | None = None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The curve under :func:`ehr_auc`: thresholds and the inside share at each.

    Returns:
        ``(t, r)``, both of shape ``(n_thresholds,)``; NaN ratios for a constant map.
    """
    if n_thresholds < 2:
        raise InvalidPolicyError(f"n_thresholds must be >= 2; got {n_thresholds}.")
    m = as_map(heatmap)
    t = np.linspace(0.0, 1.0, n_thresholds)
    lo, hi = float(m.min()), float(m.max())
    if hi == lo:
        return t, np.full(n_thresholds, np.nan)
    norm = (m.astype(np.float64) - lo) / (hi - lo)
    inside = _inside(m, gt_boxes, mask)
    # idx = number of thresholds <= value; a pixel is kept at t[k] iff idx >= k + 1.
    idx = np.searchsorted(t, norm.ravel(), side="right")
    hist_all = np.bincount(idx, minlength=n_thresholds + 1)
    hist_in = np.bincount(idx[inside.ravel()], minlength=n_thresholds + 1)
    kept_all = np.cumsum(hist_all[::-1])[::-1][1:]
    kept_in = np.cumsum(hist_in[::-1])[::-1][1:]
    ratio = np.zeros(n_thresholds, dtype=np.float64)
    np.divide(kept_in, kept_all, out=ratio, where=kept_all > 0)
    return t, ratio


def ehr_auc(heatmap: npt.ArrayLike, gt_boxes: BoxesLike | None, n_thresholds: int = 100,
            *, mask: npt.ArrayLike | None = None) -> float:
    """Area under the inside-share curve over equidistant thresholds (EHR-AUC).

    The map is min-max normalised to ``[0, 1]``. At each of ``n_thresholds`` equidistant
    thresholds ``t_k = k / (n_thresholds - 1)`` (0 and 1 included) the kept set is
    ``S_k = {norm >= t_k}`` (never empty: it holds the maximum) and the ratio is
    ``|S_k ∩ inside| / |S_k|``. The result is the trapezoid integral of the ratio over
    ``t in [0, 1]``, so it lies in ``[0, 1]``. NaN for a constant map.

    Args:
        heatmap: Finite 2-D map.
        gt_boxes: GT boxes (pooled over annotators).
        n_thresholds: Number of thresholds, at least 2.
        mask: A boolean GT mask of the map's shape, used instead of the boxes.
    """
    t, r = ehr_curve(heatmap, gt_boxes, n_thresholds, mask=mask)
    if np.isnan(r).any():
        return float("nan")
    return float(np.trapezoid(r, t))

"""Saliency-vs-gaze metrics: KL divergence, CC, SIM, NSS and AUC-Judd.

Definitions follow Bylinskii, Judd, Oliva, Torralba and Durand, "What do different evaluation
metrics tell us about saliency models?", IEEE TPAMI 41(3), 2019, and the MIT saliency
benchmark's MATLAB code that defines them (github.com/cvzoya/saliency, ``code_forMetrics/``:
``KLdiv.m``, ``CC.m``, ``similarity.m``, ``NSS.m``, ``AUC_Judd.m``). Each metric normalises the
maps the way that code does:

============  ======================================  ==========================================
metric        saliency map                            ground truth
============  ======================================  ==========================================
KL            divided by its sum (a distribution)     fixation *density*, divided by its sum
CC            standardised (mean 0, sd 1)             fixation density, standardised
SIM           min-max to [0, 1], then sum to 1        fixation density, same
NSS           standardised                            fixation *locations* (binary map)
AUC-Judd      ranks only (min-max changes nothing)    fixation locations (binary map)
============  ======================================  ==========================================

KL (lower is better, 0 for identical maps) measures the information lost when the saliency
map is used to estimate the density; CC and SIM are 1 for identical maps; NSS is the mean
standardised saliency at the fixated pixels (0 for chance); AUC-Judd is 0.5 for chance.

Conventions, where the MATLAB code is silent or gives NaN:
    * Both maps must have the same ``(H, W)`` shape (the MATLAB code calls ``imresize``; here
      the caller resizes, e.g. the gaze loader renders its density at any shape).
    * Standard deviations use ``N - 1`` (MATLAB ``std``); the Python port
      github.com/tarunsharma1/saliency_metrics uses ``N``, which changes NSS by a factor
      ``sqrt((N - 1) / N)``.
    * A constant map carries no information: standardised it is the zero map (NSS 0, CC 0), its
      min-max normalisation is the zero map (SIM 0, like MATLAB's all-zero map), AUC-Judd is 0.5,
      and for KL it is the uniform distribution, the all-zero map included (KL = log N - H(Q), the
      chance level; MATLAB gives NaN for these through 0 / 0). Without that rule an all-zero map
      (a ReLU'd CAM of an absent class, or any constant map after min-max) would score
      ``sum(Q log(eps + Q / eps))``, about 26 on a 224 x 224 grid against about 1.6 for chance, and
      a handful of them would dominate a mean over images.
    * AUC-Judd breaks no ties at random: MATLAB adds ``rand / 1e7`` jitter (non-deterministic);
      here the thresholds are the *distinct* saliency values at fixations and each ROC point
      counts every pixel ``>=`` the threshold, as the Python port does. On maps without ties at
      fixated pixels this is exactly the MATLAB curve.
    * No fixation (or every pixel fixated for AUC-Judd) gives NaN, as in MATLAB.
    * KL needs non-negative maps (a distribution); negative values raise
      :class:`InvalidMapError`. Its epsilon is MATLAB's ``eps`` (2.2204e-16).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from engine.errors import ShapeError
from engine.localise.errors import InvalidMapError
from engine.localise.maps import as_map, as_mask

#: MATLAB's ``eps`` (machine epsilon of float64), the constant of ``KLdiv.m``.
KL_EPS = float(np.finfo(np.float64).eps)

FloatMap = npt.NDArray[np.float64]


def _pair(saliency: npt.ArrayLike, truth: npt.ArrayLike, what: str) -> tuple[FloatMap, FloatMap]:
    s = as_map(saliency, "saliency map").astype(np.float64, copy=False)
    t = as_map(truth, what).astype(np.float64, copy=False)
    if s.shape != t.shape:
        raise ShapeError("saliency map", s.shape, f"the shape of the {what} {t.shape} (resize one of them first)")
    return s, t


def _fixations(saliency: npt.ArrayLike, fixations: npt.ArrayLike) -> tuple[FloatMap, npt.NDArray[np.bool_]]:
    s = as_map(saliency, "saliency map").astype(np.float64, copy=False)
    f = as_mask(fixations, "fixation map")
    if s.shape != f.shape:
        raise ShapeError(
            "saliency map", s.shape, f"the shape of the fixation map {f.shape} (resize one of them first)"
        )
    return s, f


def standardise(m: npt.ArrayLike) -> FloatMap:
    """``(m - mean) / sd`` with the ``N - 1`` standard deviation; a constant map gives zeros."""
    a = as_map(m).astype(np.float64)
    if a.size < 2 or float(a.max()) == float(a.min()):  # exact test: the mean of a constant has rounding
        return np.zeros_like(a)
    return (a - a.mean()) / float(a.std(ddof=1))


def as_distribution(m: npt.ArrayLike, what: str = "map") -> FloatMap:
    """The map divided by its sum (KL's normalisation); an all-zero map stays zero.

    Raises:
        InvalidMapError: If the map has negative values.
    """
    a = as_map(m, what).astype(np.float64)
    if (a < 0).any():
        raise InvalidMapError(
            f"{what} has negative values (minimum {float(a.min()):.4g}); KL needs a distribution.",
            fix="Use a non-negative map (e.g. a ReLU'd CAM, np.abs of a gradient map, or m - m.min()).",
        )
    total = float(a.sum())
    return a / total if total > 0 else a


def _minmax_distribution(a: FloatMap) -> FloatMap:
    """SIM's normalisation: min-max to [0, 1], then divide by the sum; constant -> zeros."""
    lo, hi = float(a.min()), float(a.max())
    if hi == lo:
        return np.zeros_like(a)
    b = (a - lo) / (hi - lo)
    return b / float(b.sum())


def kl_divergence(saliency: npt.ArrayLike, density: npt.ArrayLike, eps: float = KL_EPS) -> float:
    """KL divergence of the saliency distribution from the fixation density (``KLdiv.m``).

    ``sum(Q * log(eps + Q / (P + eps)))`` with ``P`` the saliency map and ``Q`` the density,
    each divided by its sum; natural logarithm. 0 for identical maps, larger is worse.

    Args:
        saliency: Non-negative 2-D saliency (explanation) map.
        density: Non-negative fixation density map of the same shape.
        eps: Regulariser; MATLAB's ``eps`` by default.

    Raises:
        ShapeError: If the shapes differ.
        InvalidMapError: On negative, NaN or infinite values.
    """
    s, t = _pair(saliency, density, "fixation density")
    p = as_distribution(s, "saliency map")
    if not p.any():  # the all-zero map predicts no location: the uniform distribution (module docstring)
        p = np.full_like(p, 1.0 / p.size)
    q = as_distribution(t, "fixation density")
    return float(np.sum(q * np.log(eps + q / (p + eps))))


def correlation_coefficient(saliency: npt.ArrayLike, density: npt.ArrayLike) -> float:
    """Pearson's linear correlation between the two maps (``CC.m``), in [-1, 1].

    Both maps are standardised; 0 when either is constant.

    Raises:
        ShapeError: If the shapes differ.
    """
    s, t = _pair(saliency, density, "fixation density")
    a, b = standardise(s), standardise(t)
    denom = float(np.sqrt(np.sum(a * a) * np.sum(b * b)))
    return float(np.sum(a * b) / denom) if denom > 0 else 0.0


def similarity(saliency: npt.ArrayLike, density: npt.ArrayLike) -> float:
    """Histogram intersection ``sum(min(P, Q))`` of the two maps as distributions (``similarity.m``).

    Each map is min-max normalised to [0, 1] and then divided by its sum; 1 for identical maps,
    0 for maps without overlap or when either map is constant.

    Raises:
        ShapeError: If the shapes differ.
    """
    s, t = _pair(saliency, density, "fixation density")
    return float(np.sum(np.minimum(_minmax_distribution(s), _minmax_distribution(t))))


def nss(saliency: npt.ArrayLike, fixations: npt.ArrayLike) -> float:
    """Normalized scanpath saliency (``NSS.m``): mean standardised saliency at fixated pixels.

    Args:
        saliency: 2-D saliency map.
        fixations: Binary fixation map of the same shape (non-zero = fixated; a pixel fixated
            several times counts once, as ``logical(fixationMap)`` in MATLAB). Build it from
            points with :func:`fixation_map`.

    Returns:
        NSS (0 for chance or a constant map); NaN when no pixel is fixated.

    Raises:
        ShapeError: If the shapes differ.
    """
    s, f = _fixations(saliency, fixations)
    if not f.any():
        return float("nan")
    return float(standardise(s)[f].mean())


def auc_judd(saliency: npt.ArrayLike, fixations: npt.ArrayLike) -> float:
    """Area under the ROC curve of Judd et al. (``AUC_Judd.m``).

    Thresholds sweep the distinct saliency values at fixated pixels, from high to low; at each
    threshold ``t`` the true-positive rate is the share of fixated pixels with saliency ``>= t``
    and the false-positive rate the share of the other pixels ``>= t``. The curve runs from
    (0, 0) through these points to (1, 1) and is integrated with the trapezoid rule.

    Args:
        saliency: 2-D saliency map.
        fixations: Binary fixation map of the same shape (non-zero = fixated).

    Returns:
        AUC-Judd in [0, 1] (0.5 for a constant map); NaN when no pixel, or every pixel, is
        fixated.

    Raises:
        ShapeError: If the shapes differ.
    """
    s, f = _fixations(saliency, fixations)
    n_fix = int(f.sum())
    n_other = f.size - n_fix
    if n_fix == 0 or n_other == 0:
        return float("nan")
    at_fix = np.sort(s[f])  # ascending
    at_other = np.sort(s[~f])
    thresholds = np.unique(at_fix)[::-1]  # distinct, descending
    tp = (n_fix - np.searchsorted(at_fix, thresholds, side="left")) / n_fix
    fp = (n_other - np.searchsorted(at_other, thresholds, side="left")) / n_other
    tp_curve = np.concatenate(([0.0], tp, [1.0]))
    fp_curve = np.concatenate(([0.0], fp, [1.0]))
    return float(np.trapezoid(tp_curve, fp_curve))


def fixation_map(points: npt.ArrayLike, shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Rasterise fixation points ``(x, y)`` onto a binary ``shape`` map.

    Points are in the pixel-edge convention of :mod:`engine.localise`: pixel ``(i, j)`` covers
    ``[j, j + 1) x [i, i + 1)``, so a point lands in pixel ``(floor(y), floor(x))``. Points
    outside the map are dropped.

    Args:
        points: ``(N, 2)`` array of ``(x, y)``; ``N`` may be 0.
        shape: ``(H, W)`` of the map.

    Raises:
        ShapeError: If ``points`` is not ``(N, 2)``.
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return np.zeros(shape, dtype=bool)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ShapeError("fixation points", pts.shape, "(N, 2) rows of (x, y)")
    h, w = int(shape[0]), int(shape[1])
    cols = np.floor(pts[:, 0]).astype(np.int64)
    rows = np.floor(pts[:, 1]).astype(np.int64)
    keep = np.isfinite(pts).all(axis=1) & (cols >= 0) & (cols < w) & (rows >= 0) & (rows < h)
    out = np.zeros((h, w), dtype=bool)
    out[rows[keep], cols[keep]] = True
    return out


#: Metrics scored against the fixation *density* (continuous ground truth).
DENSITY_METRICS: dict[str, Callable[[npt.ArrayLike, npt.ArrayLike], float]] = {
    "kl": kl_divergence,
    "cc": correlation_coefficient,
    "sim": similarity,
}

#: Metrics scored against the fixation *locations* (binary ground truth).
FIXATION_METRICS: dict[str, Callable[[npt.ArrayLike, npt.ArrayLike], float]] = {
    "nss": nss,
    "auc_judd": auc_judd,
}

#: Whether a larger value is better, per metric name.
HIGHER_IS_BETTER: dict[str, bool] = {"kl": False, "cc": True, "sim": True, "nss": True, "auc_judd": True}


def saliency_scores(
    saliency: npt.ArrayLike, density: npt.ArrayLike, fixations: npt.ArrayLike
) -> dict[str, float]:
    """All five metrics of one saliency map against one gaze recording.

    Args:
        saliency: 2-D saliency map.
        density: Fixation density map (same shape), for KL, CC and SIM.
        fixations: Binary fixation map (same shape), for NSS and AUC-Judd.

    Returns:
        ``{"kl", "cc", "sim", "nss", "auc_judd"}`` -> value.
    """
    out = {name: fn(saliency, density) for name, fn in DENSITY_METRICS.items()}
    out.update({name: fn(saliency, fixations) for name, fn in FIXATION_METRICS.items()})
    return out

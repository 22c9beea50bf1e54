"""Thresholding a heatmap into a binary mask.

Three kinds of threshold, see :class:`Threshold`. One rule holds for all three: **a pixel whose
relevance is zero or negative is never kept.** Highlighting means positive evidence; a focal
Grad-CAM is mostly exact zeros after its ReLU, and keeping them would turn a "top 20 %" cut into
the whole image (issue #14).

* ``top_fraction`` (string ``"top:F"``): keep the top fraction ``F`` of pixels. With ``N`` pixels
  and ``k = ceil(F * N)`` (at least 1), the kept pixels are all *positive* pixels ``>=`` the k-th
  largest value. Ties: every pixel tied at a positive cut is kept, so the kept area exceeds ``k``
  only through exact ties at the cut; on a map without ties exactly ``k`` are kept. When the k-th
  largest value is ``<= 0`` (fewer than ``k`` positive pixels) only the positive pixels are kept,
  so the area is smaller than ``F``; a map with no positive value gives an empty mask.
* ``fraction_of_max`` (string ``"max:F"``): keep pixels ``>= F * max(map)``. A map whose maximum
  is ``<= 0`` gives an empty mask; otherwise the cut is positive, so zeros and negative values of a
  signed map are never kept. For the usual non-negative or min-max normalised maps this equals a
  fraction of the normalised range.
* ``otsu`` (string ``"otsu"``): keep pixels ``> max(t, 0)`` where ``t`` is
  :func:`skimage.filters.threshold_otsu` of the map (on a signed map Otsu may cut below zero; the
  non-positive side is still dropped); a constant map or one without a positive value gives an
  empty mask.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from engine.localise.errors import ThresholdSpecError
from engine.localise.maps import as_map

ThresholdKind = Literal["top_fraction", "fraction_of_max", "otsu"]

RESEARCH_TOP_FRACTIONS: tuple[float, ...] = (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2)
"""Top-fraction grid of the research protocol (per-class IoU tables) [research]."""

_PREFIXES: dict[str, ThresholdKind] = {
    "top": "top_fraction",
    "top_fraction": "top_fraction",
    "max": "fraction_of_max",
    "fraction_of_max": "fraction_of_max",
    "otsu": "otsu",
}
_SHORT: dict[ThresholdKind, str] = {"top_fraction": "top", "fraction_of_max": "max", "otsu": "otsu"}


@dataclass(frozen=True, slots=True)
class Threshold:
    """How to cut a heatmap into a mask.

    Attributes:
        kind: ``"top_fraction"``, ``"fraction_of_max"`` or ``"otsu"`` (see module docstring).
        value: The fraction in ``(0, 1]`` for the first two kinds; ``None`` for ``"otsu"``.

    Raises:
        ThresholdSpecError: If the kind is unknown or the value is missing or out of range.
    """

    kind: ThresholdKind
    value: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in _SHORT:
            raise ThresholdSpecError(
                f"Unknown threshold kind {self.kind!r}.",
                fix="Use 'top_fraction', 'fraction_of_max' or 'otsu'.",
            )
        if self.kind == "otsu":
            if self.value is not None:
                raise ThresholdSpecError("An Otsu threshold takes no value.", fix="Pass None.")
            return
        v = self.value
        if v is None or isinstance(v, bool) or not math.isfinite(v) or not 0.0 < v <= 1.0:
            raise ThresholdSpecError(
                f"Threshold {self.kind} needs a fraction in (0, 1]; got {v!r}.",
                fix="E.g. Threshold('top_fraction', 0.05) or Threshold.parse('top:0.05').",
            )
        object.__setattr__(self, "value", float(v))

    @classmethod
    def parse(cls, text: str) -> Threshold:
        """Parse ``"top:0.05"``, ``"max:0.5"`` or ``"otsu"`` (long kind names are accepted too).

        Raises:
            ThresholdSpecError: If the text is not one of these forms.
        """
        head, sep, tail = text.strip().partition(":")
        kind = _PREFIXES.get(head.strip().lower())
        if kind is None:
            raise ThresholdSpecError(f"Cannot parse threshold {text!r}.", fix="Write 'top:0.05', 'max:0.5' or 'otsu'.")
        if kind == "otsu":
            if sep:
                raise ThresholdSpecError(f"Threshold {text!r}: 'otsu' takes no value.")
            return cls("otsu")
        try:
            value = float(tail)
        except ValueError:
            raise ThresholdSpecError(
                f"Threshold {text!r} has no numeric fraction.", fix="Write e.g. 'top:0.05'."
            ) from None
        return cls(kind, value)

    def __str__(self) -> str:
        """The canonical short form, which :meth:`parse` reads back."""
        return "otsu" if self.kind == "otsu" else f"{_SHORT[self.kind]}:{self.value:g}"


def as_threshold(spec: Threshold | str) -> Threshold:
    """Accept a :class:`Threshold` or its string form."""
    return spec if isinstance(spec, Threshold) else Threshold.parse(spec)


def threshold_value(heatmap: npt.ArrayLike, spec: Threshold | str) -> float:
    """The cut value a threshold spec gives on a map (see :func:`threshold_mask`).

    For ``top_fraction`` and ``fraction_of_max`` the mask is ``map >= value``; for ``otsu`` it is
    ``map > value``. The value is never below the rule "non-positive relevance is never kept":
    for ``top_fraction`` it is the k-th largest value, raised to the smallest positive value of the
    map when the k-th largest is ``<= 0``; for ``otsu`` it is at least 0. Returns ``inf`` when the
    mask is empty by rule (no positive value, or a constant map with ``otsu``).
    """
    m = as_map(heatmap)
    t = as_threshold(spec)
    top = float(m.max())
    if top <= 0:
        return math.inf
    if t.kind == "top_fraction":
        assert t.value is not None
        # round() absorbs float noise such as 0.07 * 100 = 7.000000000000001.
        k = min(m.size, max(1, math.ceil(round(t.value * m.size, 6))))
        # Select among the positive pixels only: the k-th largest of the whole map is the k-th
        # largest positive value when there are at least k of them, else the rule keeps every
        # positive pixel. Leaving the zeros out also keeps np.partition fast on a focal map that
        # is mostly exact zeros (it degrades on many equal values, issue #19).
        positive = m[m > 0]
        if k > positive.size:
            return float(positive.min())
        return float(np.partition(positive, positive.size - k)[positive.size - k])
    if t.kind == "fraction_of_max":
        assert t.value is not None
        return t.value * top
    if float(m.min()) == top:
        return math.inf
    from skimage.filters import threshold_otsu  # here: scikit-image and SciPy cost ~0.2 s to import (issue #19)

    return max(float(threshold_otsu(m)), 0.0)


def threshold_mask(heatmap: npt.ArrayLike, spec: Threshold | str) -> npt.NDArray[np.bool_]:
    """Cut a 2-D heatmap into a boolean mask.

    Args:
        heatmap: A finite 2-D map of any value range.
        spec: A :class:`Threshold` or its string form (``"top:0.05"``, ``"max:0.5"``, ``"otsu"``).

    Returns:
        Boolean mask of the map's shape; rules in the module docstring (no pixel ``<= 0`` is ever
        kept).

    Raises:
        ShapeError: If the map is not 2-D.
        InvalidMapError: If the map holds NaN or infinite values.
        ThresholdSpecError: If the spec is invalid.
    """
    m = as_map(heatmap)
    t = as_threshold(spec)
    cut = threshold_value(m, t)
    if math.isinf(cut):
        return np.zeros(m.shape, dtype=bool)
    return m > cut if t.kind == "otsu" else m >= cut

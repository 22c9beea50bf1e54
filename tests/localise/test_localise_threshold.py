"""Thresholds: parsing, top-fraction counts and ties, fraction of max, Otsu, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ShapeError
from engine.localise import (
    RESEARCH_TOP_FRACTIONS,
    InvalidMapError,
    Threshold,
    ThresholdSpecError,
    threshold_mask,
    threshold_value,
)


def test_research_grid() -> None:
    assert RESEARCH_TOP_FRACTIONS == (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("top:0.05", Threshold("top_fraction", 0.05)),
        (" TOP : 0.2 ", Threshold("top_fraction", 0.2)),
        ("max:0.5", Threshold("fraction_of_max", 0.5)),
        ("fraction_of_max:0.15", Threshold("fraction_of_max", 0.15)),
        ("otsu", Threshold("otsu")),
    ],
)
def test_parse(text: str, expected: Threshold) -> None:
    assert Threshold.parse(text) == expected
    assert Threshold.parse(str(expected)) == expected


@pytest.mark.parametrize("text", ["", "top", "top:", "top:abc", "top:0", "top:1.5", "max:-0.1", "otsu:0.3", "mean:0.1"])
def test_parse_rejects(text: str) -> None:
    with pytest.raises(ThresholdSpecError):
        Threshold.parse(text)


def test_constructor_validates() -> None:
    with pytest.raises(ThresholdSpecError):
        Threshold("top_fraction")
    with pytest.raises(ThresholdSpecError):
        Threshold("bogus", 0.1)  # type: ignore[arg-type]
    assert str(Threshold("top_fraction", 0.05)) == "top:0.05"


@pytest.mark.parametrize("fraction", [*RESEARCH_TOP_FRACTIONS, 0.07, 0.5, 1.0, 1e-6])
def test_top_fraction_keeps_exact_count_without_ties(fraction: float) -> None:
    rng = np.random.default_rng(3)
    m = rng.permutation(10_000).reshape(100, 100).astype(np.float64) + 1.0  # all positive
    mask = threshold_mask(m, Threshold("top_fraction", fraction))
    k = max(1, math.ceil(round(fraction * m.size, 6)))
    assert mask.sum() == k
    # and they are the k largest
    assert m[mask].min() == m.size - k + 1


def test_top_fraction_keeps_all_ties() -> None:
    m = np.array([[5.0, 5.0, 5.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    # k = ceil(0.125 * 8) = 1 -> k-th largest is 5 -> all three fives kept
    assert threshold_mask(m, "top:0.125").sum() == 3
    # k = 8 -> the k-th largest is 0: zero relevance is never kept, only the four positive pixels
    assert threshold_mask(m, "top:1").sum() == 4


def test_fraction_of_max() -> None:
    m = np.array([[0.0, 1.0, 2.0, 3.0, 4.0]])
    np.testing.assert_array_equal(threshold_mask(m, "max:0.5"), [[False, False, True, True, True]])
    # signed map: threshold is value * max, negatives never kept
    s = np.array([[-10.0, -1.0, 1.0, 2.0]])
    np.testing.assert_array_equal(threshold_mask(s, "max:0.5"), [[False, False, True, True]])
    assert not threshold_mask(-np.abs(s) - 1, "max:0.1").any()
    assert math.isinf(threshold_value(np.zeros((3, 3)), "max:0.5"))


def test_otsu_two_levels_and_constant() -> None:
    m = np.zeros((20, 20))
    m[5:10, 5:10] = 1.0
    np.testing.assert_array_equal(threshold_mask(m, "otsu"), m > 0.5)
    # noisy two-level map: the blob is kept whole, at most a few background pixels leak
    noisy = 0.5 * m + 0.2 * np.random.default_rng(0).random(m.shape)
    mask = threshold_mask(noisy, "otsu")
    assert mask[m > 0].all()
    assert mask[m == 0].mean() < 0.05
    assert threshold_value(noisy, "otsu") == pytest.approx(0.2, abs=0.1)
    assert not threshold_mask(np.full((8, 8), 3.0), "otsu").any()


def test_integer_and_float32_maps() -> None:
    m = np.arange(16, dtype=np.uint8).reshape(4, 4)
    assert threshold_mask(m, "top:0.25").sum() == 4
    assert threshold_mask(m.astype(np.float32), "top:0.25").sum() == 4


def test_rejects_nan_and_bad_shape() -> None:
    m = np.ones((4, 4))
    m[1, 2] = np.nan
    with pytest.raises(InvalidMapError, match="NaN"):
        threshold_mask(m, "top:0.1")
    with pytest.raises(ShapeError):
        threshold_mask(np.ones((2, 3, 4)), "top:0.1")
    with pytest.raises(ShapeError):
        threshold_mask(np.ones((0, 4)), "otsu")

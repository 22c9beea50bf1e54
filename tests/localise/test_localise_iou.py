"""IoU of boxes and masks: brute-force reference and properties."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import ShapeError
from engine.localise import Box, boxes_to_mask, iou, iou_matrix, mask_iou, union_mask_iou


def brute_force_iou(a: tuple[int, ...], b: tuple[int, ...], size: int = 40) -> float:
    ma = boxes_to_mask([a], (size, size))
    mb = boxes_to_mask([b], (size, size))
    union = np.count_nonzero(ma | mb)
    return np.count_nonzero(ma & mb) / union if union else 0.0


coord = st.integers(min_value=0, max_value=30)


@st.composite
def int_boxes(draw: st.DrawFn) -> tuple[int, int, int, int]:
    x0, x1 = sorted((draw(coord), draw(coord)))
    y0, y1 = sorted((draw(coord), draw(coord)))
    return (x0, y0, x1, y1)


@st.composite
def float_boxes(draw: st.DrawFn, min_size: float = 0.0) -> tuple[float, float, float, float]:
    f = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False)
    x0, y0 = draw(f), draw(f)
    w = draw(st.floats(min_value=min_size, max_value=1e3))
    h = draw(st.floats(min_value=min_size, max_value=1e3))
    return (x0, y0, x0 + w, y0 + h)


def test_known_values() -> None:
    assert iou((0, 0, 2, 2), (1, 1, 3, 3)) == pytest.approx(1 / 7)
    assert iou((0, 0, 4, 4), (0, 0, 2, 4)) == pytest.approx(0.5)
    assert iou(Box(0, 0, 1, 1), np.array([1, 0, 2, 1])) == 0.0  # touching edges
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0  # empty union
    # contained: right edge of the intersection is the min, and the intersection is subtracted
    assert iou((0, 0, 10, 10), (2, 2, 4, 4)) == pytest.approx(4 / 100)


@settings(max_examples=200, deadline=None)
@given(int_boxes(), int_boxes())
def test_matches_brute_force_on_integer_boxes(a: tuple[int, ...], b: tuple[int, ...]) -> None:
    assert iou(a, b) == pytest.approx(brute_force_iou(a, b), abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(float_boxes(), float_boxes())
def test_symmetric_and_bounded(a: tuple[float, ...], b: tuple[float, ...]) -> None:
    v = iou(a, b)
    assert 0.0 <= v <= 1.0
    assert v == iou(b, a)


@settings(max_examples=100, deadline=None)
@given(float_boxes(min_size=1e-3))
def test_self_iou_is_one(a: tuple[float, ...]) -> None:
    assert iou(a, a) == pytest.approx(1.0)


@settings(max_examples=100, deadline=None)
@given(float_boxes(), st.floats(min_value=0, max_value=100), st.booleans())
def test_disjoint_is_zero(a: tuple[float, ...], gap: float, horizontal: bool) -> None:
    x0, y0, x1, y1 = a
    b = (x1 + gap, y0, x1 + gap + 5, y1) if horizontal else (x0, y1 + gap, x1, y1 + gap + 5)
    assert iou(a, b) == 0.0


def test_matrix_matches_pairwise() -> None:
    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 50, size=(7, 2))
    a = np.hstack([xy, xy + rng.uniform(0, 30, size=(7, 2))])
    xy = rng.uniform(0, 50, size=(5, 2))
    b = np.hstack([xy, xy + rng.uniform(0, 30, size=(5, 2))])
    mat = iou_matrix(a, b)
    assert mat.shape == (7, 5)
    for i in range(7):
        for j in range(5):
            assert mat[i, j] == pytest.approx(iou(a[i], b[j]))
    assert iou_matrix([], b).shape == (0, 5)
    assert iou_matrix(a, np.zeros((0, 4))).shape == (7, 0)


def test_mask_iou_and_union_mask_iou() -> None:
    a = np.zeros((10, 10), dtype=bool)
    a[0:4, 0:4] = True  # 16 px
    b = np.zeros((10, 10), dtype=bool)
    b[2:6, 2:6] = True  # 16 px, overlap 4
    assert mask_iou(a, b) == pytest.approx(4 / 28)
    assert mask_iou(np.zeros((3, 3)), np.zeros((3, 3))) == 0.0
    with pytest.raises(ShapeError):
        mask_iou(a, np.zeros((3, 3)))
    # GT union: two boxes of two annotators covering b's pixels, overlapping each other
    assert union_mask_iou(a, [(2, 2, 6, 4), (2, 3, 6, 6)]) == pytest.approx(4 / 28)
    assert union_mask_iou(a, []) == 0.0

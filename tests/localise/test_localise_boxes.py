"""Box value type, conversion of box-likes, and rasterising (pixel-centre rule)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import RadLensError, ShapeError
from engine.localise import (
    Box,
    BoxesLike,
    BoxLike,
    InvalidBoxError,
    as_box,
    as_boxes,
    box_areas,
    boxes_to_mask,
    dilate_boxes,
    to_box_list,
)


def test_box_properties() -> None:
    b = Box(1.0, 2.0, 4.0, 7.0)
    assert (b.width, b.height, b.area) == (3.0, 5.0, 15.0)
    assert b.as_tuple() == (1.0, 2.0, 4.0, 7.0)


def test_box_from_pixels_is_edge_inclusive() -> None:
    # rows 2..4, cols 5..9 inclusive -> (5, 2, 10, 5)
    assert Box.from_pixels(2, 5, 4, 9) == Box(5.0, 2.0, 10.0, 5.0)
    assert Box.from_pixels(0, 0, 0, 0).area == 1.0


@pytest.mark.parametrize("coords", [(2, 0, 1, 1), (0, 2, 1, 1), (0, 0, float("nan"), 1)])
def test_box_rejects_invalid(coords: tuple[float, ...]) -> None:
    with pytest.raises(InvalidBoxError):
        Box(*coords)


def test_box_coerces_to_float_and_rejects_text() -> None:
    b = Box(1, 2, 3, np.int64(4))  # type: ignore[arg-type]
    assert all(type(v) is float for v in b.as_tuple())
    assert type(b.x0) is float
    with pytest.raises(InvalidBoxError):
        Box("a", 0, 1, 1)  # type: ignore[arg-type]


def test_as_boxes_rejects_ragged_and_text() -> None:
    with pytest.raises(InvalidBoxError):
        as_boxes([(0, 0, 1), (0, 0, 1, 1)])
    with pytest.raises(InvalidBoxError):
        as_boxes([("a", 0, 1, 1)])  # type: ignore[arg-type]


def test_box_is_frozen() -> None:
    b = Box(0, 0, 1, 1)
    with pytest.raises(AttributeError):
        b.x0 = 5  # type: ignore[misc]


def test_as_boxes_accepts_all_forms() -> None:
    expected = np.array([[0, 0, 2, 3], [1, 1, 4, 4]], dtype=np.float64)
    mixed: list[BoxLike] = [Box(0, 0, 2, 3), np.array([1, 1, 4, 4])]
    forms: list[BoxesLike] = [
        expected,
        expected.astype(np.int32),
        [(0, 0, 2, 3), (1, 1, 4, 4)],
        mixed,
    ]
    for form in forms:
        out = as_boxes(form)
        assert out.dtype == np.float64
        np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(as_boxes((0, 0, 2, 3)), expected[:1])
    np.testing.assert_array_equal(as_boxes(Box(0, 0, 2, 3)), expected[:1])
    assert as_boxes([]).shape == (0, 4)
    assert as_boxes(np.zeros((0, 4))).shape == (0, 4)


def test_as_boxes_copies_input() -> None:
    arr = np.array([[0.0, 0.0, 1.0, 1.0]])
    as_boxes(arr)[0, 0] = 9.0
    assert arr[0, 0] == 0.0


@pytest.mark.parametrize("bad", [[(0, 0, 1)], np.zeros((2, 5)), np.zeros((2, 2, 4))])
def test_as_boxes_rejects_shapes(bad: object) -> None:
    with pytest.raises(ShapeError):
        as_boxes(bad)  # type: ignore[arg-type]


def test_as_boxes_rejects_inverted_and_nan() -> None:
    with pytest.raises(InvalidBoxError, match="x1 < x0"):
        as_boxes([(0, 0, 1, 1), (3, 0, 2, 1)])
    with pytest.raises(RadLensError):
        as_boxes([(0, 0, np.inf, 1)])


def test_as_box_and_list() -> None:
    assert as_box([1, 2, 3, 4]) == Box(1, 2, 3, 4)
    with pytest.raises(ShapeError):
        as_box(np.zeros((2, 4)))
    assert to_box_list(np.array([[0, 0, 1, 2]])) == [Box(0.0, 0.0, 1.0, 2.0)]


def test_areas_and_dilate() -> None:
    np.testing.assert_array_equal(box_areas([(0, 0, 2, 3), (1, 1, 1, 5)]), [6.0, 0.0])
    np.testing.assert_array_equal(dilate_boxes([(2, 2, 3, 3)], 1.5), [[0.5, 0.5, 4.5, 4.5]])
    with pytest.raises(InvalidBoxError):
        dilate_boxes([(2, 2, 3, 3)], -1)


def test_rasterise_integer_box_covers_its_pixels() -> None:
    mask = boxes_to_mask([(2, 1, 5, 3)], (6, 8))
    expected = np.zeros((6, 8), dtype=bool)
    expected[1:3, 2:5] = True
    np.testing.assert_array_equal(mask, expected)


def test_rasterise_uses_pixel_centres() -> None:
    # x in [0.6, 2.5): centre 1.5 only (0.5 < 0.6; 2.5 excluded)
    # y in [0.5, 1.51): centres 0.5 and 1.5
    mask = boxes_to_mask([(0.6, 0.5, 2.5, 1.51)], (4, 4))
    assert sorted(zip(*np.nonzero(mask), strict=True)) == [(0, 1), (1, 1)]


def test_rasterise_union_and_clipping() -> None:
    mask = boxes_to_mask([(-5, -5, 1, 1), (3, 3, 99, 99), (2, 2, 2, 4)], (4, 5))
    assert mask[0, 0] and mask[3, 4] and mask[3, 3]
    assert mask.sum() == 1 + 2
    assert boxes_to_mask([], (3, 3)).sum() == 0

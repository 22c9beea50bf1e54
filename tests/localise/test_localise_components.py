"""Mask -> boxes: known blobs, modes, minimum area, connectivity (speed: scripts/bench_localise.py)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.localise import (
    BoxMode,
    InvalidPolicyError,
    Threshold,
    map_to_boxes,
    mask_to_boxes,
    threshold_mask,
)
from engine.localise.components import order_and_select


def gaussian(shape: tuple[int, int], cy: float, cx: float, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return np.exp(-((yy + 0.5 - cy) ** 2 + (xx + 0.5 - cx) ** 2) / (2 * sigma**2))


def test_component_box_convention() -> None:
    mask = np.zeros((10, 12), dtype=bool)
    mask[2:5, 3:8] = True  # rows 2..4, cols 3..7
    np.testing.assert_array_equal(mask_to_boxes(mask), [[3, 2, 8, 5]])


def test_empty_mask() -> None:
    modes: tuple[BoxMode, ...] = ("all", "largest", "union")
    for mode in modes:
        out = mask_to_boxes(np.zeros((5, 5)), mode=mode)
        assert out.shape == (0, 4)


def test_gaussian_blob_box_recovered_within_one_pixel() -> None:
    # blob centred at (x=60, y=40); max:exp(-0.5) keeps radius sigma -> box [50,70]x[30,50]
    m = gaussian((100, 120), cy=40.0, cx=60.0, sigma=10.0)
    boxes = map_to_boxes(m, Threshold("fraction_of_max", float(np.exp(-0.5))))
    assert boxes.shape == (1, 4)
    np.testing.assert_allclose(boxes[0], [50, 30, 70, 50], atol=1.0)


def test_two_blobs_all_largest_union() -> None:
    m = gaussian((100, 200), cy=30.0, cx=40.0, sigma=12.0)
    m += 0.9 * gaussian((100, 200), cy=70.0, cx=150.0, sigma=6.0)
    mask = threshold_mask(m, "max:0.5")
    boxes = mask_to_boxes(mask)
    assert boxes.shape == (2, 4)
    # sorted by size: big blob first; half-max radius = sigma * sqrt(2 ln 2 / ...) for each
    big, small = boxes
    assert big[0] < 40 < big[2] and big[1] < 30 < big[3]
    assert small[0] < 150 < small[2] and small[1] < 70 < small[3]
    assert (big[2] - big[0]) > (small[2] - small[0])
    r_big = 12.0 * np.sqrt(2 * np.log(2))
    np.testing.assert_allclose(big, [40 - r_big, 30 - r_big, 40 + r_big, 30 + r_big], atol=1.0)
    np.testing.assert_array_equal(mask_to_boxes(mask, mode="largest"), boxes[:1])
    union = mask_to_boxes(mask, mode="union")
    np.testing.assert_array_equal(union, [[big[0], big[1], small[2], small[3]]])


def test_min_area_counts_pixels() -> None:
    mask = np.zeros((10, 10), dtype=bool)
    mask[0, 0] = True  # 1 px
    mask[5:7, 5:8] = True  # 6 px
    assert mask_to_boxes(mask, min_area=6).tolist() == [[5.0, 5.0, 8.0, 7.0]]
    assert mask_to_boxes(mask, min_area=7).shape == (0, 4)
    assert mask_to_boxes(mask, mode="union", min_area=2).tolist() == [[5.0, 5.0, 8.0, 7.0]]


def test_connectivity() -> None:
    mask = np.eye(4, dtype=bool)  # diagonal
    assert mask_to_boxes(mask, connectivity=2).tolist() == [[0.0, 0.0, 4.0, 4.0]]
    assert mask_to_boxes(mask, connectivity=1).shape == (4, 4)
    with pytest.raises(InvalidPolicyError):
        mask_to_boxes(mask, connectivity=3)
    with pytest.raises(InvalidPolicyError):
        mask_to_boxes(mask, mode="biggest")  # type: ignore[arg-type]


def test_order_ties_by_top_then_left() -> None:
    mask = np.zeros((6, 6), dtype=bool)
    mask[4, 4] = mask[0, 4] = mask[0, 0] = True
    assert mask_to_boxes(mask).tolist() == [[0, 0, 1, 1], [4, 0, 5, 1], [4, 4, 5, 5]]


def test_many_components_match_scipy_find_objects() -> None:
    from scipy import ndimage

    mask = np.random.default_rng(1).random((80, 90)) > 0.7
    labels, n = ndimage.label(mask, structure=np.ones((3, 3)))
    assert n > 50
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)], float)
    areas = np.bincount(labels.ravel())[1:]
    np.testing.assert_array_equal(mask_to_boxes(mask), order_and_select(boxes, areas, "all", 0))


def test_large_map_gives_the_blob_box() -> None:
    """3000 x 3000 map (speed: scripts/bench_localise.py, docs/benchmarks.md): the top 5 % of a
    Gaussian blob is the disk of area 0.05 * 3000^2 around its centre, radius sqrt(450000 / pi)."""
    rng = np.random.default_rng(0)
    m = gaussian((3000, 3000), 1000.0, 2000.0, 150.0) + 0.01 * rng.random((3000, 3000))
    boxes = map_to_boxes(m.astype(np.float32), "top:0.05", mode="largest")
    r = np.sqrt(0.05 * 3000**2 / np.pi)
    np.testing.assert_allclose(boxes, [[2000 - r, 1000 - r, 2000 + r, 1000 + r]], atol=8)

"""MapIndex (engine.localise.levels) gives exactly what the full-resolution functions give."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.localise import map_to_boxes, threshold_mask, threshold_value
from engine.localise.levels import BLOCK, MapIndex

SPECS = ["top:0.001", "top:0.01", "top:0.05", "top:0.2", "top:0.6", "top:1", "max:0.15", "max:0.5", "max:0.9", "max:1",
         "otsu"]


def _focal(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A focal Grad-CAM-like map: one or two blobs after a ReLU, mostly exact zeros."""
    yy, xx = np.mgrid[:h, :w]
    m = np.zeros((h, w))
    for _ in range(int(rng.integers(1, 3))):
        cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(3, max(4.0, h / 6))
        m += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    return np.maximum(m - 0.3, 0.0).astype(np.float32)


def _maps() -> list[tuple[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    out: list[tuple[str, np.ndarray]] = []
    for i, (h, w) in enumerate([(200, 310), (97, 64), (31, 17), (257, 129)]):
        out.append((f"focal{i}", _focal(rng, h, w)))
        out.append((f"noise{i}", rng.random((h, w)).astype(np.float32)))
        out.append((f"signed{i}", rng.normal(size=(h, w))))  # float64, half negative
        plateau = np.round(rng.random((h, w)) * 4) / 4  # few distinct values: ties everywhere
        out.append((f"plateau{i}", plateau.astype(np.float32)))
    # A ring of blocks around a blob: the ring's bounding rectangle contains another group.
    ring = np.zeros((12 * BLOCK, 12 * BLOCK), dtype=np.float32)
    ring[BLOCK : 11 * BLOCK, BLOCK] = ring[BLOCK : 11 * BLOCK, 10 * BLOCK] = 1.0
    ring[BLOCK, BLOCK : 11 * BLOCK] = ring[10 * BLOCK, BLOCK : 11 * BLOCK] = 1.0
    ring[5 * BLOCK : 6 * BLOCK, 5 * BLOCK : 6 * BLOCK] = 0.8
    out.append(("ring", ring))
    # Components that touch only diagonally across a block corner.
    diag = np.zeros((4 * BLOCK, 4 * BLOCK), dtype=np.float32)
    diag[BLOCK - 1, BLOCK - 1] = diag[BLOCK, BLOCK] = 1.0
    out.append(("diagonal", diag))
    out.append(("zeros", np.zeros((40, 40), dtype=np.float32)))
    out.append(("negative", -np.ones((40, 40))))
    return out


@pytest.mark.parametrize(("name", "heat"), _maps(), ids=[n for n, _ in _maps()])
def test_cut_and_boxes_equal_the_full_resolution_functions(name: str, heat: np.ndarray) -> None:
    index = MapIndex(heat)
    for spec in SPECS:
        expected = threshold_value(heat, spec)
        got = index.cut(spec)
        assert got == expected or (math.isinf(got) and math.isinf(expected)), (name, spec)
        np.testing.assert_array_equal(index.mask(spec), threshold_mask(heat, spec))
        for connectivity in (1, 2):
            want = map_to_boxes(heat, spec, connectivity=connectivity)
            np.testing.assert_array_equal(index.boxes(spec, connectivity=connectivity), want, err_msg=f"{name} {spec}")
        for mode in ("largest", "union"):
            np.testing.assert_array_equal(index.boxes(spec, mode=mode, min_area=3),
                                          map_to_boxes(heat, spec, mode=mode, min_area=3))


def test_top_fraction_selects_the_kth_value_on_a_mostly_zero_map() -> None:
    heat = np.zeros((300, 300), dtype=np.float32)
    heat[100:110, 100:110] = np.arange(100, dtype=np.float32).reshape(10, 10) + 1  # 1..100
    index = MapIndex(heat)
    # k = ceil(0.0005 * 90000) = 45: the 45th largest of 1..100 is 56.
    assert index.cut("top:0.0005") == 56.0
    # More than the positive pixels asked: every positive pixel is kept (the smallest is 1).
    assert index.cut("top:0.5") == 1.0
    assert index.boxes("top:0.5").tolist() == [[100.0, 100.0, 110.0, 110.0]]


@pytest.mark.parametrize("shape", [(1, 1), (31, 33), (32, 32), (64, 65), (100, 7), (5, 200), (301, 257)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_block_maxima_equal_reduceat_over_rows_then_columns(shape: tuple[int, int], dtype: type) -> None:
    from engine.localise.levels import block_maxima

    m: np.ndarray = np.random.default_rng(sum(shape)).normal(size=shape).astype(dtype)
    want = np.maximum.reduceat(np.maximum.reduceat(m, np.arange(0, shape[0], 32), axis=0),
                               np.arange(0, shape[1], 32), axis=1)
    got = block_maxima(m, 32)
    assert got.dtype == want.dtype and np.array_equal(got, want)

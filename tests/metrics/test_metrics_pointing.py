"""Issue #14: pointing game against TorchRay's rule, and the energy pointing game's definition.

References are written independently of :mod:`engine.localise.pointing`:

* GT masks by a per-pixel loop over pixel centres (not :func:`boxes_to_mask`);
* the tolerant game as TorchRay's ``PointingGame.evaluate`` (facebookresearch/TorchRay,
  ``torchray/benchmark/pointing_game.py``) codes it: an acceptance disc
  ``(v - y)**2 + (u - x)**2 < tolerance**2`` around the predicted pixel over a meshgrid of pixel
  indices, hit when the disc meets the mask; every maximal pixel is tried (ties: any is a hit);
* the energy pointing game as Score-CAM (Wang et al., CVPR-W 2020, Sec. 5.2) defines it: binarise
  the image with the boxes, multiply with the saliency map, energy inside / total energy.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from engine.localise import InvalidPolicyError, energy_pointing_game, pointing_game

Box = tuple[float, float, float, float]


def _mask_by_loop(boxes: list[Box], shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    mask = np.zeros(shape, dtype=bool)
    for i in range(shape[0]):
        for j in range(shape[1]):
            cx, cy = j + 0.5, i + 0.5
            mask[i, j] = any(x0 <= cx < x1 and y0 <= cy < y1 for x0, y0, x1, y1 in boxes)
    return mask


def _torchray_hit(mask: npt.NDArray[np.bool_], point: tuple[int, int], tolerance: float) -> bool:
    """TorchRay's ``PointingGame.evaluate`` in numpy; ``point`` is ``(u, v)`` = (column, row)."""
    v, u = np.meshgrid(
        (np.arange(mask.shape[0], dtype=np.float64) - point[1]) ** 2,
        (np.arange(mask.shape[1], dtype=np.float64) - point[0]) ** 2,
        indexing="ij",
    )
    accept = (v + u) < tolerance**2
    return bool((mask & accept).any())


def _reference(m: npt.NDArray[np.float64], boxes: list[Box], tolerance: float) -> bool:
    if m.max() <= 0:
        return False
    mask = _mask_by_loop(boxes, m.shape)
    rows, cols = np.nonzero(m == m.max())
    if tolerance == 0:
        return bool(mask[rows, cols].any())
    return any(_torchray_hit(mask, (int(c), int(r)), tolerance) for r, c in zip(rows, cols, strict=True))


def _random_case(rng: np.random.Generator) -> tuple[npt.NDArray[np.float64], list[Box]]:
    h, w = int(rng.integers(20, 60)), int(rng.integers(20, 60))
    m = rng.random((h, w))
    if rng.random() < 0.2:
        m = np.round(m, 1)  # ties at the maximum
    boxes: list[Box] = []
    for _ in range(int(rng.integers(1, 3))):
        x0, y0 = rng.uniform(-5, w), rng.uniform(-5, h)
        boxes.append((x0, y0, x0 + rng.uniform(1, 15), y0 + rng.uniform(1, 15)))
    return m, boxes


def test_tolerant_pointing_game_matches_torchray_on_random_maps() -> None:
    rng = np.random.default_rng(14)
    disagreements = 0
    for _ in range(400):
        m, boxes = _random_case(rng)
        for tol in (0.0, 15.0, 4.0):
            disagreements += pointing_game(m, boxes, tolerance_px=tol) != _reference(m, boxes, tol)
    assert disagreements == 0


def test_corner_point_inside_the_square_margin_but_beyond_the_disc_is_a_miss() -> None:
    # GT pixel block rows/cols 10..19; the peak at (30, 30) is 11 px right and 11 px below its
    # corner pixel (19, 19): inside a 15 px square margin, but sqrt(242) = 15.56 px away.
    m = np.zeros((40, 40))
    m[30, 30] = 1.0
    box = [(10.0, 10.0, 20.0, 20.0)]
    assert not _torchray_hit(_mask_by_loop(box, m.shape), (30, 30), 15)
    assert not pointing_game(m, box, tolerance_px=15)
    m2 = np.zeros((40, 40))
    m2[30, 29] = 1.0  # sqrt(11**2 + 10**2) = 14.87 px: a hit
    assert pointing_game(m2, box, tolerance_px=15)


def test_strict_below_the_tolerance() -> None:
    m = np.zeros((40, 40))
    m[5, 34] = 1.0  # 15 px right of the GT pixel column 19, same row: distance exactly 15
    box = [(10.0, 0.0, 20.0, 20.0)]
    assert not pointing_game(m, box, tolerance_px=15)
    assert pointing_game(m, box, tolerance_px=15.001)


@pytest.mark.parametrize("tolerance", [0.0, 15.0])
def test_map_pointing_nowhere_is_a_miss(tolerance: float) -> None:
    box = [(0.0, 0.0, 32.0, 32.0)]  # covers the whole map
    assert not pointing_game(np.zeros((32, 32)), box, tolerance_px=tolerance)
    assert not pointing_game(np.full((32, 32), -0.3), box, tolerance_px=tolerance)
    one = np.zeros((32, 32))
    one[4, 4] = 1e-6
    assert pointing_game(one, box, tolerance_px=tolerance)


def test_ties_any_maximal_pixel_inside_is_a_hit() -> None:
    m = np.zeros((20, 20))
    m[2, 2] = m[15, 15] = 1.0
    assert pointing_game(m, [(14.0, 14.0, 17.0, 17.0)])
    assert pointing_game(m, [(1.0, 1.0, 3.0, 3.0)])
    assert not pointing_game(m, [(5.0, 5.0, 10.0, 10.0)])


def test_negative_tolerance_is_a_typed_error() -> None:
    with pytest.raises(InvalidPolicyError, match="tolerance"):
        pointing_game(np.ones((3, 3)), [(0, 0, 1, 1)], tolerance_px=-1)


def test_energy_pointing_game_is_score_cams_proportion() -> None:
    rng = np.random.default_rng(5)
    for _ in range(50):
        m, boxes = _random_case(rng)
        m = np.maximum(m - 0.6, 0.0)  # a non-negative CAM with many zeros, as Score-CAM scores
        binary = _mask_by_loop(boxes, m.shape).astype(np.float64)
        expected = float((binary * m).sum() / m.sum()) if m.sum() > 0 else math.nan
        got = energy_pointing_game(m, boxes)
        assert got == pytest.approx(expected, nan_ok=True)
        # the proportion is a statement about the map, unchanged by a positive scale
        assert energy_pointing_game(3.0 * m, boxes) == pytest.approx(expected, nan_ok=True)

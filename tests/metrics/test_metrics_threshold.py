"""Issue #14: thresholds never keep zero or negative relevance (reference: rank-based top-k, scipy).

The reference top-fraction mask is written another way than the engine's partition/cut: every
pixel gets its competition rank (``scipy.stats.rankdata(-map, method="min")``, the rank of the first
pixel of its tie group) and is kept when that rank is ``<= k`` and its value is positive.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy.stats import rankdata
from skimage.filters import threshold_otsu

from engine.localise import RESEARCH_TOP_FRACTIONS, map_to_boxes, threshold_mask, threshold_value


def _reference_top(m: npt.NDArray[np.float64], fraction: float) -> npt.NDArray[np.bool_]:
    k = max(1, math.ceil(round(fraction * m.size, 6)))
    rank = rankdata(-m.ravel(), method="min").reshape(m.shape)
    return (rank <= k) & (m > 0)


def _focal_cam(seed: int, shape: tuple[int, int] = (64, 64), zero_share: float = 0.9) -> npt.NDArray[np.float64]:
    """A Grad-CAM-like map after its ReLU: one smooth positive blob, ``zero_share`` exact zeros."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cy, cx = rng.uniform(15, shape[0] - 15), rng.uniform(15, shape[1] - 15)
    bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * 6.0**2)) + 0.01 * rng.random(shape)
    cut = np.quantile(bump, zero_share)
    return np.where(bump > cut, bump - cut, 0.0)


@pytest.mark.parametrize("fraction", RESEARCH_TOP_FRACTIONS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_top_fraction_on_focal_cam_matches_rank_reference(fraction: float, seed: int) -> None:
    m = _focal_cam(seed)
    positive = int(np.count_nonzero(m > 0))
    mask = threshold_mask(m, f"top:{fraction}")
    np.testing.assert_array_equal(mask, _reference_top(m, fraction))
    # the known truth: never more than the positive pixels, exactly k while k of them exist
    k = max(1, math.ceil(round(fraction * m.size, 6)))
    assert mask.sum() == min(k, positive)
    assert not mask[m <= 0].any()


def test_top_twenty_percent_of_a_ninety_percent_zero_map_is_not_the_whole_image() -> None:
    m = _focal_cam(7)
    mask = threshold_mask(m, "top:0.2")
    assert mask.mean() == pytest.approx(0.1, abs=0.002)
    np.testing.assert_array_equal(mask, m > 0)
    # one box around the blob, not the whole 64 x 64 image
    boxes = map_to_boxes(m, "top:0.2")
    assert boxes.shape == (1, 4)
    x0, y0, x1, y1 = boxes[0]
    assert (x1 - x0) * (y1 - y0) < 0.3 * m.size


def test_ties_at_a_positive_cut_are_all_kept() -> None:
    m = np.zeros((10, 10))
    m[0, :5] = 3.0
    m[1, :] = 2.0  # 10 pixels tied at the cut
    mask = threshold_mask(m, "top:0.1")  # k = 10: five 3s + five of the ten 2s -> all ten 2s kept
    np.testing.assert_array_equal(mask, _reference_top(m, 0.1))
    assert mask.sum() == 15
    assert threshold_value(m, "top:0.1") == 2.0


@pytest.mark.parametrize("seed", range(5))
def test_signed_maps_keep_only_positive_values(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = np.round(rng.normal(-0.5, 1.0, size=(30, 30)), 1)  # signed, with ties, mostly negative
    for fraction in (0.05, 0.2, 0.5, 1.0):
        np.testing.assert_array_equal(threshold_mask(m, f"top:{fraction}"), _reference_top(m, fraction))
    assert not threshold_mask(m, "max:0.1")[m <= 0].any()
    assert not threshold_mask(-np.abs(m), "top:0.5").any()
    assert math.isinf(threshold_value(np.zeros((5, 5)), "top:0.5"))


def test_otsu_never_keeps_zeros_of_a_signed_map() -> None:
    # Otsu on {-1 (many), 0 (many), 1 (few)} cuts between -1 and 0: the zeros must still be dropped
    m = np.full((20, 20), -1.0)
    m[:, 10:] = 0.0
    m[:3, :3] = 1.0
    t = float(threshold_otsu(m))
    assert t < 0  # the flaw this guards against: a raw Otsu cut keeps the zeros
    mask = threshold_mask(m, "otsu")
    np.testing.assert_array_equal(mask, m > 0)
    assert not threshold_mask(np.minimum(m, 0.0), "otsu").any()


def test_otsu_on_a_non_negative_map_is_skimage_otsu() -> None:
    m = _focal_cam(3)
    np.testing.assert_array_equal(threshold_mask(m, "otsu"), m > threshold_otsu(m))

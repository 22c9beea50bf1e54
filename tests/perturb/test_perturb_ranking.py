"""Pixel rankings: order, ties, counts, seeds, regions."""

from __future__ import annotations

import numpy as np
import pytest

from engine.errors import RadLensError
from engine.perturb.ranking import box_mask, count_for_fraction, mask_for_fraction, rank_pixels, rank_positions


def test_morf_and_lerf_follow_the_values() -> None:
    rel = np.array([[0.2, 0.9], [0.5, 0.1]])
    assert rank_pixels(rel, "morf").tolist() == [1, 2, 0, 3]
    assert rank_pixels(rel, "lerf").tolist() == [3, 0, 2, 1]


def test_ties_are_broken_by_lower_index_first_in_both_orders() -> None:
    rel = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    assert rank_pixels(rel, "morf").tolist() == [0, 2, 4, 1, 3, 5]
    assert rank_pixels(rel, "lerf").tolist() == [1, 3, 5, 0, 2, 4]
    # a constant map: the ranking is the row-major order, every time
    flat = np.zeros((7, 9))
    assert rank_pixels(flat, "morf").tolist() == list(range(63))


def test_counts_round_half_up_and_masks_hold_exactly_k_pixels() -> None:
    assert count_for_fraction(0.5, 3) == 2  # 1.5 -> 2 (half up, not banker's rounding)
    assert count_for_fraction(0.25, 10) == 3  # 2.5 -> 3
    assert count_for_fraction(0.0, 10) == 0 and count_for_fraction(1.0, 10) == 10
    rel = np.random.default_rng(0).random((17, 23))
    r = rank_pixels(rel, "morf")
    for f in (0.02, 0.05, 0.1, 0.2, 0.5):
        m = mask_for_fraction(r, rel.shape, f)
        k = int(np.floor(f * rel.size + 0.5))
        assert m.sum() == k
        # exactly the k largest values
        assert np.sort(rel[m]).tolist() == np.sort(rel.ravel())[::-1][:k][::-1].tolist()
    with pytest.raises(RadLensError):
        count_for_fraction(5, 10)  # a percentage instead of a fraction


def test_random_orders_are_reproducible_by_seed_and_differ_between_seeds() -> None:
    rel = np.zeros((20, 20))
    a, b, c = rank_pixels(rel, "random", 3), rank_pixels(rel, "random", 3), rank_pixels(rel, "random", 4)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    assert sorted(a.tolist()) == list(range(400))


def test_nan_pixels_are_never_ranked() -> None:
    rel = np.arange(16, dtype=float).reshape(4, 4)
    rel[0, :] = np.nan
    for order in ("morf", "lerf", "random"):
        r = rank_pixels(rel, order, 1)
        assert r.size == 12 and not set(r.tolist()) & {0, 1, 2, 3}
    pos = rank_positions(rank_pixels(rel, "morf"), rel.shape)
    assert (pos[0] == 16).all() and pos[3, 3] == 0


def test_box_mask_uses_pixel_centres() -> None:
    m = box_mask((1.0, 2.0, 3.0, 5.0), (6, 6))
    assert m.sum() == 2 * 3 and m[2:5, 1:3].all()
    assert box_mask((0.4, 0.4, 1.6, 1.6), (4, 4)).sum() == 4  # centres 0.5 and 1.5 inside on both axes
    with pytest.raises(RadLensError):
        box_mask((0.6, 0.6, 1.4, 1.4), (4, 4))  # holds no pixel centre
    with pytest.raises(RadLensError):
        box_mask((3, 3, 3, 5), (6, 6))

"""Pixel rankings: order, ties, counts, seeds, regions."""

from __future__ import annotations

from typing import Any

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


def test_patches_rank_squares_by_their_mean_and_keep_their_pixels_together() -> None:
    # 4 x 6 map, 2 x 2 squares: square means (row-major squares 0..5) are 0.1, 0.9, 0.5 / 0.3, 0.9, 0.2
    means = np.array([[0.1, 0.9, 0.5], [0.3, 0.9, 0.2]])
    offsets = np.array([[0.01, -0.01], [0.02, -0.02]])  # sum to 0 inside each square
    rel = np.kron(means, np.ones((2, 2))) + np.tile(offsets, (2, 3))
    squares_morf = [1, 4, 2, 3, 5, 0]  # 0.9 (square 1 before 4: lower index), 0.5, 0.3, 0.2, 0.1
    r = rank_pixels(rel, "morf", patch=2)
    got_squares = [(i // 6 // 2) * 3 + (i % 6) // 2 for i in r[::4]]
    assert got_squares == squares_morf
    for s, chunk in zip(squares_morf, r.reshape(6, 4), strict=True):  # row-major inside each square
        r0, c0 = 2 * (s // 3), 2 * (s % 3)
        assert chunk.tolist() == [r0 * 6 + c0, r0 * 6 + c0 + 1, (r0 + 1) * 6 + c0, (r0 + 1) * 6 + c0 + 1]
    lerf = rank_pixels(rel, "lerf", patch=2)
    assert [(i // 6 // 2) * 3 + (i % 6) // 2 for i in lerf[::4]] == [0, 5, 3, 2, 1, 4]


def test_patches_at_the_border_nan_and_random_orders() -> None:
    rel = np.random.default_rng(2).random((7, 10))
    rel[0, 0] = np.nan
    for order in ("morf", "lerf", "random"):
        r = rank_pixels(rel, order, seed=5, patch=3)
        assert sorted(r.tolist()) == sorted(set(range(70)) - {0})  # every finite pixel once, partial squares too
        squares = (r // 10 // 3) * 4 + (r % 10) // 3
        assert np.count_nonzero(np.diff(squares)) == 4 * 3 - 1  # each square's pixels are consecutive
    a, b = rank_pixels(rel, "random", 5, patch=3), rank_pixels(rel, "random", 5, patch=3)
    assert np.array_equal(a, b) and not np.array_equal(a, rank_pixels(rel, "random", 6, patch=3))
    # patch 1 is the single-pixel ranking, unchanged
    assert np.array_equal(rank_pixels(rel, "random", 5, patch=1), rank_pixels(rel, "random", 5))
    bad_patches: tuple[Any, ...] = (0, -2, 1.5, True)  # not all ints on purpose: the runtime check is under test
    for bad in bad_patches:
        with pytest.raises(RadLensError, match="patch size"):
            rank_pixels(rel, "morf", patch=bad)

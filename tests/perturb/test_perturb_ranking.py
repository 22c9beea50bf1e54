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


def test_ties_follow_one_fixed_pseudo_random_order_in_both_orders() -> None:
    rel = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    for order, first, last in (("morf", {0, 2, 4}, {1, 3, 5}), ("lerf", {1, 3, 5}, {0, 2, 4})):
        r = rank_pixels(rel, order)
        assert set(r[:3].tolist()) == first and set(r[3:].tolist()) == last
        assert np.array_equal(r, rank_pixels(rel.copy(), order))  # a pure function of the map
    # a constant map: every pixel once, in the same shuffled order every time (not row-major)
    flat = np.zeros((7, 9))
    r = rank_pixels(flat, "morf")
    assert sorted(r.tolist()) == list(range(63)) and r.tolist() != list(range(63))
    assert np.array_equal(r, rank_pixels(np.ones((7, 9)), "lerf"))


def test_pixels_past_the_support_of_a_sparse_map_are_spread_over_the_image() -> None:
    # A ReLU'd CAM: positive on a 40 x 40 blob low in a 224 x 224 frame (3.2 %), exactly zero elsewhere.
    # At f = 0.5 most replaced pixels have zero relevance; they must not be the top rows of the film.
    rel = np.zeros((224, 224))
    yy, xx = np.mgrid[:224, :224]
    blob = (yy >= 160) & (yy < 200) & (xx >= 90) & (xx < 130)
    rel[blob] = 1.0 + (yy[blob] + xx[blob]) / 1000.0
    r = rank_pixels(rel, "morf")
    n_pos = int(blob.sum())
    assert set(r[:n_pos].tolist()) == set(np.flatnonzero(blob).tolist())  # the support comes first, in order
    assert np.all(np.diff(rel.ravel()[r[:n_pos]]) <= 0)
    zero_rows = r[n_pos:count_for_fraction(0.5, r.size)] // 224
    # a random half of the zero pixels: their rows spread like the rows of all zero pixels (mean ~ 108)
    all_zero_rows = np.flatnonzero(~blob.ravel()) // 224
    assert abs(zero_rows.mean() - all_zero_rows.mean()) < 3.0
    assert zero_rows.min() < 5 and zero_rows.max() > 218
    top_half_share = float((zero_rows < 112).mean())
    assert 0.45 < top_half_share < 0.60, top_half_share  # row-major ties would give 1.0


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
    r = rank_pixels(rel, "morf", patch=2)
    got_squares = [(i // 6 // 2) * 3 + (i % 6) // 2 for i in r[::4]]
    assert sorted(got_squares[:2]) == [1, 4] and got_squares[2:] == [2, 3, 5, 0]  # 0.9 (tied), 0.5, 0.3, 0.2, 0.1
    squares_morf = got_squares
    for s, chunk in zip(squares_morf, r.reshape(6, 4), strict=True):  # row-major inside each square
        r0, c0 = 2 * (s // 3), 2 * (s % 3)
        assert chunk.tolist() == [r0 * 6 + c0, r0 * 6 + c0 + 1, (r0 + 1) * 6 + c0, (r0 + 1) * 6 + c0 + 1]
    lerf = rank_pixels(rel, "lerf", patch=2)
    lerf_squares = [(i // 6 // 2) * 3 + (i % 6) // 2 for i in lerf[::4]]
    assert lerf_squares[:4] == [0, 5, 3, 2] and sorted(lerf_squares[4:]) == [1, 4]


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

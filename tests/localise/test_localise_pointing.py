"""Pointing game, energy pointing game, Diff and EHR-AUC on maps computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.localise import (
    InvalidMapError,
    InvalidPolicyError,
    diff_inside_outside,
    ehr_auc,
    ehr_curve,
    energy_pointing_game,
    pointing_game,
)

# 4 x 4 map; the GT box (0, 0, 2, 2) covers the top-left 2 x 2 pixels.
MAP = np.array(
    [
        [1.0, 2.0, 0.0, 0.0],
        [3.0, -5.0, 0.0, 0.0],
        [0.0, 0.0, 4.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]
)
GT = [(0, 0, 2, 2)]


def test_pointing_game_hit_and_miss() -> None:
    assert not pointing_game(MAP, GT)  # maximum 4 at (2, 2) lies outside
    assert pointing_game(MAP, [(2, 2, 3, 3)])
    assert pointing_game(MAP, [(0, 0, 2, 2), (2, 2, 3, 3)])
    assert not pointing_game(MAP, [])


def test_pointing_game_tolerance() -> None:
    # the maximum at pixel (2, 2) is sqrt(2) from the nearest GT pixel (1, 1), centre to centre
    assert not pointing_game(MAP, GT, tolerance_px=0.5)
    assert not pointing_game(MAP, GT, tolerance_px=1)  # a 1 px square margin would hit here
    assert not pointing_game(MAP, GT, tolerance_px=math.sqrt(2))  # strictly below the tolerance
    assert pointing_game(MAP, GT, tolerance_px=1.42)
    assert pointing_game(MAP, [(0, 2, 2, 3)], tolerance_px=1.01)  # straight left: distance 1


def test_pointing_game_ties_any_maximum() -> None:
    m = np.zeros((4, 4))
    m[0, 0] = m[3, 3] = 1.0
    assert pointing_game(m, [(3, 3, 4, 4)])
    assert pointing_game(m, [(0, 0, 1, 1)])
    assert not pointing_game(m, [(1, 1, 3, 3)])


def test_pointing_game_map_pointing_nowhere_is_a_miss() -> None:
    assert not pointing_game(np.zeros((4, 4)), [(0, 0, 4, 4)])
    assert not pointing_game(-np.ones((4, 4)), [(0, 0, 4, 4)], tolerance_px=15)


def test_energy_pointing_game() -> None:
    # positive energy inside: 1 + 2 + 3 = 6 (the -5 is ignored); total positive: 10
    assert energy_pointing_game(MAP, GT) == pytest.approx(0.6)
    assert energy_pointing_game(MAP, []) == 0.0
    assert energy_pointing_game(MAP, [(0, 0, 4, 4)]) == pytest.approx(1.0)
    assert math.isnan(energy_pointing_game(-np.abs(MAP), GT))


def test_diff_inside_outside() -> None:
    # inside: (1 + 2 + 3 - 5) / 4 = 0.25; outside: 4 / 12
    assert diff_inside_outside(MAP, GT) == pytest.approx(0.25 - 4 / 12)
    assert math.isnan(diff_inside_outside(MAP, []))
    assert math.isnan(diff_inside_outside(MAP, [(0, 0, 4, 4)]))


def test_ehr_auc_by_hand() -> None:
    m = np.array([[0.0, 0.25, 0.5, 1.0]])
    gt = [(0, 0, 1, 1), (3, 0, 4, 1)]  # pixels 0 and 3
    # thresholds 0, .25, .5, .75, 1 -> kept {0,1,2,3}, {1,2,3}, {2,3}, {3}, {3}
    # inside shares 2/4, 1/3, 1/2, 1, 1
    t, r = ehr_curve(m, gt, n_thresholds=5)
    np.testing.assert_allclose(t, [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(r, [0.5, 1 / 3, 0.5, 1.0, 1.0])
    expected = 0.25 * ((0.5 + 1 / 3) / 2 + (1 / 3 + 0.5) / 2 + (0.5 + 1) / 2 + (1 + 1) / 2)
    assert ehr_auc(m, gt, n_thresholds=5) == pytest.approx(expected)
    # invariant to an affine rescaling of the map (min-max normalised)
    assert ehr_auc(10 * m - 3, gt, n_thresholds=5) == pytest.approx(expected)


def test_ehr_auc_matches_loop_reference() -> None:
    rng = np.random.default_rng(5)
    m = rng.normal(size=(30, 40)).astype(np.float32)
    gt = [(5, 3, 17, 20), (30, 25, 40, 30)]
    inside = np.zeros(m.shape, dtype=bool)
    inside[3:20, 5:17] = True
    inside[25:30, 30:40] = True
    norm = (m.astype(np.float64) - m.min()) / (m.max() - m.min())
    ts = np.linspace(0, 1, 100)
    ratios = [np.count_nonzero((norm >= t) & inside) / np.count_nonzero(norm >= t) for t in ts]
    assert ehr_auc(m, gt) == pytest.approx(float(np.trapezoid(ratios, ts)))


def test_ehr_auc_edge_cases() -> None:
    assert math.isnan(ehr_auc(np.ones((3, 3)), GT))
    assert ehr_auc(MAP, []) == 0.0
    with pytest.raises(InvalidPolicyError):
        ehr_auc(MAP, GT, n_thresholds=1)


def test_metrics_reject_nan() -> None:
    m = MAP.copy()
    m[0, 0] = np.nan
    for fn in (pointing_game, energy_pointing_game, diff_inside_outside, ehr_auc):
        with pytest.raises(InvalidMapError):
            fn(m, GT)

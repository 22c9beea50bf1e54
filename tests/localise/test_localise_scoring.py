"""Weighted box fusion and multi-annotator box scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.localise import (
    InvalidPolicyError,
    iou,
    score_boxes,
    weighted_box_fusion,
)


def test_wbf_three_annotators() -> None:
    gt = {
        "r1": [(10, 10, 50, 50), (100, 100, 120, 120)],
        "r2": [(12, 8, 52, 48)],
        "r3": [(8, 12, 54, 52), (200, 0, 210, 10)],
    }
    fused = weighted_box_fusion(gt)
    np.testing.assert_allclose(fused.boxes, [[10, 10, 52, 50], [100, 100, 120, 120], [200, 0, 210, 10]])
    assert fused.support.tolist() == [3, 1, 1]
    assert fused.annotators == (("r1", "r2", "r3"), ("r1",), ("r3",))
    only_agreed = weighted_box_fusion(gt, min_support=2)
    np.testing.assert_allclose(only_agreed.boxes, [[10, 10, 52, 50]])


def test_wbf_weights_threshold_and_same_annotator() -> None:
    gt = {"a": [(0, 0, 10, 10)], "b": [(2, 0, 12, 10)]}  # IoU = 80/120 = 0.667
    np.testing.assert_allclose(weighted_box_fusion(gt, weights={"a": 3.0}).boxes, [[0.5, 0, 10.5, 10]])
    assert weighted_box_fusion(gt, iou_threshold=0.7).boxes.shape == (2, 4)
    # two boxes of one annotator never fuse together
    same = weighted_box_fusion({"a": [(0, 0, 10, 10), (1, 0, 11, 10)]})
    assert same.boxes.shape == (2, 4)
    assert weighted_box_fusion({}).boxes.shape == (0, 4)
    with pytest.raises(InvalidPolicyError):
        weighted_box_fusion(gt, weights={"a": 0.0})


def test_score_policies_by_hand() -> None:
    pred = [(0, 0, 10, 10)]
    gt = {
        "r1": [(0, 0, 10, 10), (20, 20, 30, 30)],  # matches 1.0 and 0.0
        "r2": [(0, 0, 10, 20)],  # match 0.5
        "r3": [],  # no box of this class: ignored
    }
    s = score_boxes(pred, gt)
    assert s.mean == pytest.approx((1.0 + 0.0 + 0.5) / 3)  # pooled over GT boxes
    assert s.best == pytest.approx(1.0)
    assert dict(s.per_annotator) == pytest.approx({"r1": 0.5, "r2": 0.5})
    # fused: (0,0,10,10) & (0,0,10,20) have IoU 0.5 < 0.55 -> not fused; same as mean
    assert s.fused == pytest.approx(s.mean)
    assert (s.n_pred, s.n_gt, s.policy, s.score) == (1, 3, "mean", s.mean)
    assert score_boxes(pred, gt, policy="best").score == pytest.approx(1.0)


def test_score_fused_against_consensus() -> None:
    gt = {"r1": [(0, 0, 10, 10)], "r2": [(2, 0, 12, 10)]}
    pred = [(1, 0, 11, 10)]
    s = score_boxes(pred, gt, policy="fused")
    np.testing.assert_allclose(s.fused_boxes, [[1, 0, 11, 10]])
    assert s.score == pytest.approx(1.0)
    assert s.mean == pytest.approx(iou((1, 0, 11, 10), (0, 0, 10, 10)))


def test_best_prediction_per_gt_box() -> None:
    pred = np.array([[0, 0, 10, 10], [50, 50, 60, 60]])
    gt = {"r1": [(50, 50, 60, 70)]}
    assert score_boxes(pred, gt).mean == pytest.approx(0.5)


def test_no_pred_and_no_gt() -> None:
    s = score_boxes([], {"r1": [(0, 0, 1, 1)]})
    assert (s.mean, s.best, s.fused) == (0.0, 0.0, 0.0)
    empty = score_boxes([(0, 0, 1, 1)], {"r1": []})
    assert all(math.isnan(v) for v in (empty.mean, empty.best, empty.fused))
    assert dict(empty.per_annotator) == {}


def test_result_is_frozen_and_policy_checked() -> None:
    s = score_boxes([(0, 0, 1, 1)], {"r1": [(0, 0, 1, 1)]})
    with pytest.raises(AttributeError):
        s.mean = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        s.per_annotator["x"] = 1.0  # type: ignore[index]
    with pytest.raises(InvalidPolicyError):
        score_boxes([], {}, policy="median")  # type: ignore[arg-type]

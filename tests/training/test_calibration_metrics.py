"""Calibration metrics (MCE, Brier, reliability diagram) against sklearn and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.calibration import calibration_curve
from sklearn.metrics import brier_score_loss

from training.calibration import CalibrationError, calibrated_probabilities, fit_temperature
from training.metrics import (
    ECE_BINS,
    MetricInputError,
    brier_score,
    calibration_report,
    ece,
    mce,
    reliability_diagram,
)


def _multilabel(seed: int, n: int = 400, c: int = 4) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p = rng.beta(0.7, 0.9, (n, c))
    y = (rng.random((n, c)) < np.clip(p * 1.2 - 0.05, 0, 1)).astype(np.float64)
    p[:3, 0] = (0.0, 1.0, 0.4)  # edges of the bins
    return p, y


def _multiclass(seed: int, n: int = 300, c: int = 5) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2.0, (n, c))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    truth = np.array([rng.choice(c, p=row) if rng.random() < 0.7 else rng.integers(c) for row in p])
    return p, np.eye(c)[truth]


# --- hand-computed ----------------------------------------------------------------------------
def test_binary_case_by_hand() -> None:
    p = np.array([[0.1], [0.3], [0.35], [0.8], [0.95]])
    y = np.array([[0], [1], [0], [1], [1]])
    d = reliability_diagram(p, y, bins=2)
    assert d.edges == (0.0, 0.5, 1.0)
    assert d.count == (3, 2)
    assert d.confidence == pytest.approx((0.25, 0.875))
    assert d.accuracy == pytest.approx((1 / 3, 1.0))
    # ECE = 3/5 |1/3 - 0.25| + 2/5 |1 - 0.875| = 0.05 + 0.05; MCE = 0.125.
    assert d.ece == pytest.approx(0.1)
    assert mce(p, y, bins=2) == pytest.approx(0.125)
    assert brier_score(p, y) == pytest.approx((0.01 + 0.49 + 0.1225 + 0.04 + 0.0025) / 5)


def test_multiclass_top_label_by_hand() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.4, 0.5, 0.1], [0.2, 0.2, 0.6]])
    y = np.eye(3)[[0, 0, 2]]
    d = reliability_diagram(p, y, "multiclass", bins=4)
    # top confidences 0.7 (right), 0.5 (wrong; on an edge -> the lower bin), 0.6 (right)
    assert d.count == (0, 1, 2, 0)
    assert d.confidence[1:3] == pytest.approx((0.5, 0.65))
    assert d.accuracy[1:3] == pytest.approx((0.0, 1.0))
    assert math.isnan(d.confidence[0]) and math.isnan(d.accuracy[3])
    assert d.ece == pytest.approx(2 / 3 * 0.35 + 1 / 3 * 0.5)
    assert d.mce == pytest.approx(0.5)
    # Brier's multi-category score: (0.14 + 0.62 + 0.24) / 3.
    assert brier_score(p, y, "multiclass") == pytest.approx(1.0 / 3.0)


def test_perfectly_calibrated_bins_have_zero_error() -> None:
    p = np.array([[0.25]] * 4 + [[0.75]] * 4)
    y = np.array([[1], [0], [0], [0], [1], [1], [1], [0]])
    assert ece(p, y, bins=2) == pytest.approx(0.0)
    assert mce(p, y, bins=2) == pytest.approx(0.0)


# --- against sklearn --------------------------------------------------------------------------
@pytest.mark.parametrize("bins", [5, ECE_BINS])
def test_reliability_matches_sklearn_calibration_curve(bins: int) -> None:
    p, y = _multilabel(1)
    for c in range(p.shape[1]):
        d = reliability_diagram(p, y, bins=bins, class_index=c)
        prob_true, prob_pred = calibration_curve(y[:, c], p[:, c], n_bins=bins, strategy="uniform")
        filled = np.array(d.count) > 0
        np.testing.assert_allclose(np.array(d.accuracy)[filled], prob_true, rtol=1e-12)
        np.testing.assert_allclose(np.array(d.confidence)[filled], prob_pred, rtol=1e-12)
        assert d.total == p.shape[0]
    pooled = reliability_diagram(p, y, bins=bins)
    prob_true, prob_pred = calibration_curve(y.ravel(), p.ravel(), n_bins=bins, strategy="uniform")
    filled = np.array(pooled.count) > 0
    np.testing.assert_allclose(np.array(pooled.accuracy)[filled], prob_true, rtol=1e-12)
    np.testing.assert_allclose(np.array(pooled.confidence)[filled], prob_pred, rtol=1e-12)
    assert pooled.total == p.size


def test_multiclass_one_vs_rest_and_top_label_match_sklearn() -> None:
    p, y = _multiclass(2)
    for c in range(p.shape[1]):
        d = reliability_diagram(p, y, "multiclass", bins=10, class_index=c)
        prob_true, _ = calibration_curve(y[:, c], p[:, c], n_bins=10)
        np.testing.assert_allclose(np.array(d.accuracy)[np.array(d.count) > 0], prob_true, rtol=1e-12)
    top = reliability_diagram(p, y, "multiclass", bins=10)
    hit = (p.argmax(1) == y.argmax(1)).astype(float)
    prob_true, prob_pred = calibration_curve(hit, p.max(1), n_bins=10)
    np.testing.assert_allclose(np.array(top.accuracy)[np.array(top.count) > 0], prob_true, rtol=1e-12)
    np.testing.assert_allclose(np.array(top.confidence)[np.array(top.count) > 0], prob_pred, rtol=1e-12)


def test_brier_matches_sklearn() -> None:
    p, y = _multilabel(3)
    per_class = [brier_score_loss(y[:, c], p[:, c]) for c in range(p.shape[1])]
    for c, ref in enumerate(per_class):
        assert brier_score(p, y, class_index=c) == pytest.approx(ref, rel=1e-12)
    assert brier_score(p, y) == pytest.approx(float(np.mean(per_class)), rel=1e-12)
    pm, ym = _multiclass(4)
    ref = brier_score_loss(ym.argmax(1), pm, labels=list(range(pm.shape[1])), scale_by_half=False)
    assert brier_score(pm, ym, "multiclass") == pytest.approx(ref, rel=1e-12)


def test_diagram_ece_agrees_with_the_existing_ece() -> None:
    p, y = _multilabel(5)
    assert reliability_diagram(p, y).ece == pytest.approx(ece(p, y), rel=1e-12)
    pm, ym = _multiclass(6)
    assert reliability_diagram(pm, ym, "multiclass", bins=10).ece == pytest.approx(
        ece(pm, ym, "multiclass", bins=10), rel=1e-12)
    assert mce(p, y) >= ece(p, y)


# --- report, temperature, errors --------------------------------------------------------------
def test_calibration_report_pooled_and_per_class() -> None:
    p, y = _multilabel(7, c=3)
    rep = calibration_report(p, y, ["a", "b", "c"])
    assert rep["bins"] == ECE_BINS and rep["task"] == "multilabel"
    assert rep["pooled"]["ece"] == pytest.approx(ece(p, y))
    assert rep["pooled"]["n"] == p.size
    for c, name in enumerate("abc"):
        block = rep["per_class"][name]
        assert block["brier"] == pytest.approx(brier_score_loss(y[:, c], p[:, c]))
        assert block["ece"] == pytest.approx(ece(p[:, [c]], y[:, [c]]))
        assert len(block["diagram"].rows()) == ECE_BINS
    rows = rep["pooled"]["diagram"].rows()
    assert sum(r["count"] for r in rows) == p.size
    assert rows[0]["lower"] == 0.0 and rows[-1]["upper"] == 1.0


def test_temperature_scaling_lowers_brier_and_mce_of_an_overconfident_model() -> None:
    g = torch.Generator().manual_seed(0)
    true_logits = torch.randn(3000, 3, generator=g) * 1.5
    y = (torch.rand(3000, 3, generator=g) < torch.sigmoid(true_logits)).double()
    over = true_logits * 3.0
    t = fit_temperature(over, y)
    before = torch.sigmoid(over).numpy()
    after = torch.sigmoid(over / t).numpy()
    assert brier_score(after, y.numpy()) < brier_score(before, y.numpy())
    assert mce(after, y.numpy()) < mce(before, y.numpy())


def test_temperature_fitted_on_validation_improves_the_test_split() -> None:
    g = torch.Generator().manual_seed(1)
    true_logits = torch.randn(4000, 4, generator=g)
    y = torch.eye(4)[torch.multinomial(torch.softmax(true_logits, 1), 1, generator=g).squeeze(1)]
    over = true_logits * 2.5
    val, test = slice(0, 2000), slice(2000, 4000)
    t = fit_temperature(over[val], y[val], task="multiclass")
    assert 2.0 < t < 3.0
    after = calibrated_probabilities(over[test], t, "multiclass").numpy()
    # the same softmax written out in NumPy
    z = over[test].double().numpy() / t
    ref = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(after, ref / ref.sum(1, keepdims=True), rtol=1e-12)
    before = torch.softmax(over[test].double(), 1).numpy()
    yt = y[test].numpy()
    assert ece(after, yt, "multiclass") < ece(before, yt, "multiclass")
    assert brier_score(after, yt, "multiclass") < brier_score(before, yt, "multiclass")
    sig = calibrated_probabilities(over[:5], 2.0).numpy()
    np.testing.assert_allclose(sig, 1 / (1 + np.exp(-over[:5].double().numpy() / 2.0)), rtol=1e-12)
    for bad in (0.0, -1.0, float("inf"), float("nan")):
        with pytest.raises(CalibrationError):
            calibrated_probabilities(over[:5], bad)
    with pytest.raises(CalibrationError, match="task"):
        calibrated_probabilities(over[:5], 1.0, "regression")


def test_bad_input_raises_typed_errors() -> None:
    p, y = _multilabel(8)
    with pytest.raises(MetricInputError, match="task"):
        brier_score(p, y, "regression")
    with pytest.raises(MetricInputError, match=r"\(N, C\)"):
        reliability_diagram(p, y[:, :2])
    with pytest.raises(MetricInputError, match=r"\[0, 1\]"):
        mce(p * 3.0, y)
    with pytest.raises(MetricInputError, match="bins"):
        reliability_diagram(p, y, bins=0)
    with pytest.raises(MetricInputError, match="class index"):
        brier_score(p, y, class_index=9)
    with pytest.raises(MetricInputError, match="names"):
        calibration_report(p, y, ["only one"])
    assert math.isnan(brier_score(np.zeros((0, 2)), np.zeros((0, 2))))
    assert math.isnan(reliability_diagram(np.zeros((0, 2)), np.zeros((0, 2))).mce)

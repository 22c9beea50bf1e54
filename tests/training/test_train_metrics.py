"""pos_weight, tuned F1 thresholds, ECE, and temperature scaling folded into the head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from training.calibration import fit_temperature, fold_temperature
from training.metrics import auc_per_class, ece, f1_at, pos_weight, tune_threshold


def test_pos_weight_is_negatives_over_positives():
    y = np.array([[1, 0, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
    w = pos_weight(y)
    assert torch.allclose(w, torch.tensor([1 / 3, 3.0, 1.0]))  # no positives -> 1


def test_tuned_threshold_maximises_f1():
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.7])
    t, f1 = tune_threshold(y, s)
    best = max(f1_at(y, s, c) for c in s)
    assert f1 == pytest.approx(best)
    assert f1_at(y, s, t) == pytest.approx(best)
    assert 0.2 < t <= 0.35


def test_auc_nan_for_single_class_column():
    y = np.array([[0, 1], [1, 1], [0, 1]])
    p = np.array([[0.1, 0.5], [0.9, 0.4], [0.2, 0.3]])
    a = auc_per_class(y, p)
    assert a[0] == 1.0 and np.isnan(a[1])


def test_ece_known_value():
    # all probabilities 0.9 in one bin, 50 % positive -> ECE 0.4
    assert ece(np.full((10, 1), 0.9), np.array([[1], [0]] * 5)) == pytest.approx(0.4)


def test_temperature_scaling_reduces_ece_on_overconfident_logits():
    g = torch.Generator().manual_seed(0)
    true_logit = torch.randn(4000, 3, generator=g) * 1.5
    y = (torch.rand(4000, 3, generator=g) < torch.sigmoid(true_logit)).float()
    over = true_logit * 4.0  # a miscalibrated (overconfident) model
    before = ece(torch.sigmoid(over).numpy(), y.numpy())
    t = fit_temperature(over, y)
    after = ece(torch.sigmoid(over / t).numpy(), y.numpy())
    assert 3.0 < t < 5.0
    assert after < before / 3


def test_folding_temperature_equals_dividing_logits():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(5, 1, 8, 8)
    with torch.no_grad():
        ref = net(x) / 2.5
    fold_temperature(net, 2.5)
    with torch.no_grad():
        assert torch.allclose(torch.sigmoid(net(x)), torch.sigmoid(ref), atol=1e-6)

"""Classification metrics: per-class AUC, F1 at a tuned threshold, calibration, and pos_weight.

Calibration (ECE, MCE, Brier score, reliability diagram) uses ``bins`` equal-width bins over
[0, 1] (:data:`ECE_BINS` = 15 by default); bin ``b`` holds the confidences in
``(edges[b], edges[b + 1]]`` and the first bin also holds 0 (the bin assignment of
``sklearn.calibration.calibration_curve(strategy="uniform")``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.metrics import precision_recall_curve, roc_auc_score

from engine.errors import RadLensError

ECE_BINS = 15
TASKS = ("multilabel", "multiclass")


class MetricInputError(RadLensError):
    """Probabilities or labels handed to a metric have the wrong shape, range or task."""


def pos_weight(labels: np.ndarray) -> torch.Tensor:
    """Per-class ``negatives / positives`` for ``BCEWithLogitsLoss(pos_weight=...)``.

    A class without positives gets weight 1 (nothing to up-weight).

    Args:
        labels: ``(N, C)`` 0/1 labels of the training set.
    """
    y = np.asarray(labels, dtype=np.float64)
    pos = y.sum(axis=0)
    neg = y.shape[0] - pos
    w = np.where(pos > 0, neg / np.maximum(pos, 1.0), 1.0)
    return torch.tensor(w, dtype=torch.float32)


def auc_per_class(labels: np.ndarray, probs: np.ndarray) -> list[float]:
    """ROC AUC of each class (NaN when the class has only one label value)."""
    out = []
    for c in range(labels.shape[1]):
        y = labels[:, c]
        if y.min() == y.max():
            out.append(float("nan"))
        else:
            out.append(float(roc_auc_score(y, probs[:, c])))
    return out


def macro(values: Sequence[float]) -> float:
    """Mean over the finite values (NaN when none)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def f1_at(labels: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """F1 of ``scores >= threshold`` against 0/1 ``labels`` (0 when undefined)."""
    pred = scores >= threshold
    tp = float(np.sum(pred & (labels > 0.5)))
    fp = float(np.sum(pred & (labels <= 0.5)))
    fn = float(np.sum(~pred & (labels > 0.5)))
    return 2 * tp / (2 * tp + fp + fn) if tp > 0 else 0.0


def tune_threshold(labels: np.ndarray, scores: np.ndarray) -> tuple[float, float]:
    """The threshold maximising F1 on ``scores``, and that F1.

    Candidates are the distinct scores (``scores >= t`` predicts positive); the threshold is
    placed midway to the next lower score so it generalises. No positives -> ``(0.5, 0.0)``.
    """
    y = np.asarray(labels) > 0.5
    s = np.asarray(scores, dtype=np.float64)
    if not y.any():
        return 0.5, 0.0
    precision, recall, thresholds = precision_recall_curve(y, s)
    denom = precision[:-1] + recall[:-1]
    f1 = np.where(denom > 0, 2 * precision[:-1] * recall[:-1] / np.where(denom > 0, denom, 1), 0.0)
    best = int(np.argmax(f1))
    t = float(thresholds[best])
    lower = s[s < t]
    if lower.size:
        t = 0.5 * (t + float(lower.max()))
    return float(min(max(t, 0.0), 1.0)), float(f1[best])


def ece(probs: np.ndarray, labels: np.ndarray, task: str = "multilabel", bins: int = ECE_BINS) -> float:
    """Expected calibration error with ``bins`` equal-width bins.

    Multi-label: every (image, class) probability is one binary forecast; ECE compares each
    bin's mean probability with its share of positives. Multi-class: top-label ECE (confidence
    of the arg-max class against accuracy).

    Args:
        probs: ``(N, C)`` probabilities.
        labels: ``(N, C)`` 0/1 labels (one-hot for multi-class).
        task: ``multilabel`` or ``multiclass``.
        bins: Number of bins.
    """
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if task == "multiclass":
        conf = p.max(axis=1)
        hit = (p.argmax(axis=1) == y.argmax(axis=1)).astype(np.float64)
    else:
        conf, hit = p.ravel(), y.ravel()
    if conf.size == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        m = which == b
        if m.any():
            total += m.sum() / conf.size * abs(hit[m].mean() - conf[m].mean())
    return float(total)


def probabilities(logits: torch.Tensor, task: str) -> torch.Tensor:
    """Sigmoid (multi-label) or softmax (multi-class) of logits, as the engine computes them."""
    return torch.sigmoid(logits) if task == "multilabel" else torch.softmax(logits, dim=1)


def classification_report(
    labels: np.ndarray, probs: np.ndarray, classes: Sequence[str], thresholds: Sequence[float] | None = None
) -> dict[str, object]:
    """Per-class AUC, F1 and threshold; tuned when ``thresholds`` is None, else fixed.

    Returns:
        ``{"macro_auc", "macro_f1", "per_class": {class: {auc, f1, threshold, positives, n}}}``.
    """
    aucs = auc_per_class(labels, probs)
    per_class: dict[str, dict[str, float | int]] = {}
    f1s = []
    for c, name in enumerate(classes):
        if thresholds is None:
            t, f1 = tune_threshold(labels[:, c], probs[:, c])
        else:
            t = float(thresholds[c])
            f1 = f1_at(labels[:, c], probs[:, c], t)
        f1s.append(f1)
        per_class[name] = {"auc": aucs[c], "f1": f1, "threshold": t,
                           "positives": int(labels[:, c].sum()), "n": int(labels.shape[0])}
    return {"macro_auc": macro(aucs), "macro_f1": macro(f1s), "per_class": per_class}


# --- calibration: MCE, Brier score, reliability diagram ----------------------------------------
@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin calibration data of a set of binary forecasts (confidence, hit).

    Attributes:
        edges: ``bins + 1`` equal-width bin edges from 0 to 1.
        confidence: Mean confidence of each bin (NaN for an empty bin).
        accuracy: Share of hits in each bin (NaN for an empty bin).
        count: Forecasts in each bin.
    """

    edges: tuple[float, ...]
    confidence: tuple[float, ...]
    accuracy: tuple[float, ...]
    count: tuple[int, ...]

    @property
    def bins(self) -> int:
        """Number of bins."""
        return len(self.count)

    @property
    def total(self) -> int:
        """Number of forecasts."""
        return int(sum(self.count))

    @property
    def ece(self) -> float:
        """Expected calibration error: count-weighted mean ``|accuracy - confidence|`` (NaN if empty)."""
        if self.total == 0:
            return float("nan")
        return float(sum(n / self.total * abs(a - c)
                         for n, a, c in zip(self.count, self.accuracy, self.confidence, strict=True) if n))

    @property
    def mce(self) -> float:
        """Maximum calibration error: largest ``|accuracy - confidence|`` over non-empty bins."""
        gaps = [abs(a - c) for n, a, c in zip(self.count, self.accuracy, self.confidence, strict=True) if n]
        return float(max(gaps)) if gaps else float("nan")

    def rows(self) -> list[dict[str, float | int]]:
        """One dict per bin: ``bin, lower, upper, confidence, accuracy, count`` (for a CSV table)."""
        return [
            {"bin": b, "lower": self.edges[b], "upper": self.edges[b + 1], "confidence": self.confidence[b],
             "accuracy": self.accuracy[b], "count": self.count[b]}
            for b in range(self.bins)
        ]


def _checked(probs: np.ndarray, labels: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(labels, dtype=np.float64)
    if task not in TASKS:
        raise MetricInputError(f"unknown task {task!r}.", fix=f"use one of {', '.join(TASKS)}.")
    if p.ndim != 2 or p.shape != y.shape:
        raise MetricInputError(
            f"probabilities {p.shape} and labels {y.shape} must both be (N, C).",
            fix="pass one row per image and one column per class (one-hot labels for multi-class).",
        )
    if p.size and (not np.isfinite(p).all() or p.min() < 0.0 or p.max() > 1.0):
        raise MetricInputError("probabilities must be finite and within [0, 1].",
                               fix="apply sigmoid/softmax to the logits first (training.metrics.probabilities).")
    return p, y


def calibration_forecasts(
    probs: np.ndarray, labels: np.ndarray, task: str = "multilabel", class_index: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The binary forecasts ``(confidence, hit)`` that calibration metrics bin.

    * ``class_index`` given (either task): the class's probability against its 0/1 label
      (one-vs-rest for multi-class).
    * Multi-label, pooled: every (image, class) probability against its label.
    * Multi-class, pooled: top-label -- the arg-max probability against whether the arg-max
      class is the true one (the convention of :func:`ece`).

    Raises:
        MetricInputError: On a bad task, shapes, probabilities or class index.
    """
    p, y = _checked(probs, labels, task)
    if class_index is not None:
        if not 0 <= class_index < p.shape[1]:
            raise MetricInputError(f"class index {class_index} is out of range for {p.shape[1]} classes.")
        return p[:, class_index], (y[:, class_index] > 0.5).astype(np.float64)
    if task == "multiclass":
        if p.shape[0] == 0:
            return np.zeros(0), np.zeros(0)
        return p.max(axis=1), (p.argmax(axis=1) == y.argmax(axis=1)).astype(np.float64)
    return p.ravel(), (y.ravel() > 0.5).astype(np.float64)


def reliability_diagram(
    probs: np.ndarray, labels: np.ndarray, task: str = "multilabel", bins: int = ECE_BINS,
    class_index: int | None = None,
) -> ReliabilityDiagram:
    """Reliability-diagram data with ``bins`` equal-width bins (see :func:`calibration_forecasts`).

    Args:
        probs: ``(N, C)`` probabilities.
        labels: ``(N, C)`` 0/1 labels (one-hot for multi-class).
        task: ``multilabel`` or ``multiclass``.
        bins: Number of equal-width bins over [0, 1] (>= 1).
        class_index: One class (one-vs-rest), or None for the pooled / top-label forecasts.

    Raises:
        MetricInputError: On bad input or ``bins < 1``.
    """
    if bins < 1:
        raise MetricInputError(f"{bins} calibration bins requested.", fix="use at least one bin (default 15).")
    conf, hit = calibration_forecasts(probs, labels, task, class_index)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges[1:-1], conf, side="left"), 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    conf_sum = np.bincount(which, weights=conf, minlength=bins)
    hit_sum = np.bincount(which, weights=hit, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.where(count > 0, conf_sum / np.maximum(count, 1), np.nan)
        accuracy = np.where(count > 0, hit_sum / np.maximum(count, 1), np.nan)
    return ReliabilityDiagram(
        edges=tuple(float(e) for e in edges),
        confidence=tuple(float(v) for v in mean_conf),
        accuracy=tuple(float(v) for v in accuracy),
        count=tuple(int(v) for v in count),
    )


def mce(probs: np.ndarray, labels: np.ndarray, task: str = "multilabel", bins: int = ECE_BINS) -> float:
    """Maximum calibration error over ``bins`` equal-width bins (pooled / top-label, as :func:`ece`)."""
    return reliability_diagram(probs, labels, task, bins).mce


def brier_score(
    probs: np.ndarray, labels: np.ndarray, task: str = "multilabel", class_index: int | None = None
) -> float:
    """Brier score: mean squared difference between probabilities and 0/1 outcomes.

    * ``class_index`` given: the binary Brier score of that class (one-vs-rest), in [0, 1] --
      ``sklearn.metrics.brier_score_loss(labels[:, c], probs[:, c])``.
    * Multi-label, pooled: the mean over every (image, class) forecast, in [0, 1] (the mean of
      the per-class scores).
    * Multi-class, pooled: Brier's original multi-category score, the mean over images of
      ``sum_k (p_k - y_k)^2``, in [0, 2] (``brier_score_loss`` on class indices, unscaled).

    Returns:
        The score (NaN without images); lower is better.

    Raises:
        MetricInputError: On bad input.
    """
    p, y = _checked(probs, labels, task)
    if p.shape[0] == 0:
        return float("nan")
    if class_index is not None:
        conf, hit = calibration_forecasts(p, y, task, class_index)
        return float(np.mean((conf - hit) ** 2))
    if task == "multiclass":
        return float(np.mean(np.sum((p - y) ** 2, axis=1)))
    return float(np.mean((p - y) ** 2))


def calibration_report(
    probs: np.ndarray, labels: np.ndarray, classes: Sequence[str], task: str = "multilabel", bins: int = ECE_BINS
) -> dict[str, Any]:
    """ECE, MCE, Brier score and reliability diagram, pooled and per class.

    Returns:
        ``{"task", "bins", "pooled": {...}, "per_class": {class: {...}}}`` where each ``{...}`` is
        ``{"ece", "mce", "brier", "n", "diagram": ReliabilityDiagram}``. "pooled" is every
        (image, class) forecast for multi-label, top-label for multi-class.

    Raises:
        MetricInputError: On bad input, or when ``classes`` does not match the columns.
    """
    p, y = _checked(probs, labels, task)
    if len(classes) != p.shape[1]:
        raise MetricInputError(f"{len(classes)} class names for {p.shape[1]} probability columns.",
                               fix="pass one name per column, in column order.")

    def block(class_index: int | None) -> dict[str, Any]:
        diagram = reliability_diagram(p, y, task, bins, class_index)
        return {"ece": diagram.ece, "mce": diagram.mce, "brier": brier_score(p, y, task, class_index),
                "n": diagram.total, "diagram": diagram}

    return {"task": task, "bins": bins, "pooled": block(None),
            "per_class": {name: block(c) for c, name in enumerate(classes)}}


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, R² (1 - SS_res / SS_tot) and Pearson r of one output.

    R² is NaN when the targets are constant (SS_tot = 0), Pearson r when either side is; ``n`` is
    the number of rows.

    Raises:
        MetricInputError: Shapes differ, or there are no rows.
    """
    t = np.asarray(y_true, dtype=np.float64).ravel()
    p = np.asarray(y_pred, dtype=np.float64).ravel()
    if t.shape != p.shape or t.size == 0:
        raise MetricInputError(f"regression metrics need equal, non-empty vectors (got {t.shape} and {p.shape}).")
    err = p - t
    ss_tot = float(((t - t.mean()) ** 2).sum())
    dt, dp = t - t.mean(), p - p.mean()
    denom = math.sqrt(float((dt**2).sum()) * float((dp**2).sum()))
    return {
        "n": int(t.size),
        "mae": float(np.abs(err).mean()),
        "rmse": float(math.sqrt(float((err**2).mean()))),
        "r2": 1.0 - float((err**2).sum()) / ss_tot if ss_tot > 0 else float("nan"),
        "pearson_r": float((dt * dp).sum()) / denom if denom > 0 else float("nan"),
    }


def regression_report(y_true: np.ndarray, y_pred: np.ndarray, names: Sequence[str]) -> dict[str, Any]:
    """Per output (columns of ``(N, K)`` arrays) :func:`regression_metrics`, plus the mean R²."""
    t = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    p = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    if t.shape != p.shape or t.shape[1] != len(names):
        raise MetricInputError(f"targets {t.shape}, predictions {p.shape} and {len(names)} output names disagree.")
    per = {n: regression_metrics(t[:, i], p[:, i]) for i, n in enumerate(names)}
    r2 = [v["r2"] for v in per.values() if math.isfinite(v["r2"])]
    return {"per_output": per, "mean_r2": float(np.mean(r2)) if r2 else float("nan"), "n": int(t.shape[0])}

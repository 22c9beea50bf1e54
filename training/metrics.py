"""Classification metrics: per-class AUC, F1 at a tuned threshold, ECE, and pos_weight."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from sklearn.metrics import precision_recall_curve, roc_auc_score

ECE_BINS = 15


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

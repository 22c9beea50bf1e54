"""Scoring predicted boxes of one class against ground truth from several annotators.

For each ground-truth box ``g`` its *match* is ``max_p IoU(p, g)`` over the predicted boxes
``p`` (0 when there are none). The policies are:

* ``"mean"`` (the research protocol): the mean of the matches of every GT box of the class,
  pooled over all annotators, i.e. ``mean_{a, g in GT_a} max_p IoU(p, g)``. An annotator with
  more boxes weighs more; annotators with no box of the class do not count.
* ``"best"``: the single best IoU of any predicted box with any GT box,
  ``max_{a, g, p} IoU(p, g)``.
* ``"fused"``: the ``"mean"`` computation against the consensus boxes of
  :func:`engine.localise.fusion.weighted_box_fusion` instead of the raw annotators' boxes.

``per_annotator[a]`` is the mean of the matches of annotator ``a``'s boxes. When no annotator
has a box of the class, the class is absent from ground truth and every score is NaN (IoU is
reported only for classes present in ground truth); callers skip such images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from engine.localise.boxes import BoxesLike, as_boxes
from engine.localise.errors import InvalidPolicyError
from engine.localise.fusion import weighted_box_fusion
from engine.localise.iou import iou_matrix

Policy = Literal["mean", "best", "fused"]
POLICIES: tuple[Policy, ...] = ("mean", "best", "fused")


@dataclass(frozen=True)
class BoxScore:
    """IoU of predicted boxes against multi-annotator ground truth (one class, one image).

    Attributes:
        policy: The policy that :attr:`score` reports.
        mean: Pooled mean of best-match IoUs over all annotators' GT boxes (research protocol).
        best: Best IoU of any predicted box with any GT box.
        fused: Mean best-match IoU over the WBF consensus boxes.
        per_annotator: Annotator -> mean best-match IoU over that annotator's boxes (annotators
            with no box of the class are left out).
        fused_boxes: The consensus boxes used for :attr:`fused`, ``(K, 4)``.
        n_pred: Number of predicted boxes.
        n_gt: Number of GT boxes, all annotators pooled.
    """

    policy: Policy
    mean: float
    best: float
    fused: float
    per_annotator: Mapping[str, float]
    fused_boxes: npt.NDArray[np.float64] = field(repr=False)
    n_pred: int
    n_gt: int

    @property
    def score(self) -> float:
        """The value of the chosen :attr:`policy`."""
        return float(getattr(self, self.policy))


def _mean_best_match(pred: npt.NDArray[np.float64], gt: npt.NDArray[np.float64]) -> float:
    if gt.shape[0] == 0:
        return float("nan")
    if pred.shape[0] == 0:
        return 0.0
    return float(iou_matrix(pred, gt).max(axis=0).mean())


def score_boxes(
    pred_boxes: BoxesLike,
    gt_boxes_by_annotator: Mapping[str, BoxesLike],
    policy: Policy = "mean",
    fusion_iou_threshold: float = 0.55,
) -> BoxScore:
    """Score predicted boxes of one class against every annotator's boxes of that class.

    Args:
        pred_boxes: Predicted boxes (``(N, 4)`` or box-likes), e.g. from :func:`map_to_boxes`.
        gt_boxes_by_annotator: Annotator name -> that annotator's GT boxes of the same class.
        policy: Which of ``"mean"``, ``"best"``, ``"fused"`` :attr:`BoxScore.score` reports;
            all three are computed (definitions in the module docstring).
        fusion_iou_threshold: IoU above which annotators' boxes are fused (WBF).

    Returns:
        A frozen :class:`BoxScore`; all scores NaN when there is no GT box at all.

    Raises:
        InvalidPolicyError: If ``policy`` is unknown.
        InvalidBoxError: If a box is malformed.
    """
    if policy not in POLICIES:
        raise InvalidPolicyError(f"Unknown scoring policy {policy!r}.", fix=f"Use {POLICIES}.")
    pred = as_boxes(pred_boxes, "pred_boxes")
    gt_by = {name: as_boxes(b, f"GT boxes of {name!r}") for name, b in gt_boxes_by_annotator.items()}
    per_annotator = {name: _mean_best_match(pred, g) for name, g in gt_by.items() if g.shape[0] > 0}
    pooled = np.concatenate([*gt_by.values(), np.zeros((0, 4))], axis=0)
    fused_boxes = weighted_box_fusion(gt_by, iou_threshold=fusion_iou_threshold).boxes
    if pooled.shape[0] == 0:
        best = float("nan")
    elif pred.shape[0] == 0:
        best = 0.0
    else:
        best = float(iou_matrix(pred, pooled).max())
    return BoxScore(
        policy=policy,
        mean=_mean_best_match(pred, pooled),
        best=best,
        fused=_mean_best_match(pred, fused_boxes),
        per_annotator=MappingProxyType(per_annotator),
        fused_boxes=fused_boxes,
        n_pred=int(pred.shape[0]),
        n_gt=int(pooled.shape[0]),
    )

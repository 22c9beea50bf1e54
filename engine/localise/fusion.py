"""Weighted box fusion (WBF) of annotators' boxes, without confidence scores.

Adapted from Solovyev et al., "Weighted boxes fusion" (2021) for ground truth, where boxes
carry no scores. Boxes are visited annotator by annotator, in the mapping's order, and within an
annotator in the order given. Each box joins the existing cluster whose current fused box it
overlaps most, provided that IoU is ``> iou_threshold`` and the cluster holds no box of the same
annotator yet (an annotator never fuses with itself); otherwise it starts a new cluster. A
cluster's fused box is the weighted mean of its members' coordinates, with each member weighted
by its annotator's weight (default 1, i.e. the plain mean), recomputed after every join.
A cluster's *support* is the number of annotators in it; ``min_support`` drops clusters that
fewer annotators agree on (default 1 keeps every cluster, so a finding boxed by one annotator
only stays in the consensus).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from engine.localise.boxes import BoxesLike, as_boxes
from engine.localise.errors import InvalidPolicyError
from engine.localise.iou import iou_matrix


@dataclass(frozen=True)
class FusedBoxes:
    """Result of :func:`weighted_box_fusion`.

    Attributes:
        boxes: Fused ``(K, 4)`` float64 boxes, in order of cluster creation.
        support: ``(K,)`` number of annotators in each cluster.
        annotators: For each cluster, the names of its annotators in joining order.
    """

    boxes: npt.NDArray[np.float64]
    support: npt.NDArray[np.int64]
    annotators: tuple[tuple[str, ...], ...]


def weighted_box_fusion(
    boxes_by_annotator: Mapping[str, BoxesLike],
    iou_threshold: float = 0.55,
    weights: Mapping[str, float] | None = None,
    min_support: int = 1,
) -> FusedBoxes:
    """Fuse several annotators' boxes of one class into consensus boxes (see module docstring).

    Args:
        boxes_by_annotator: Annotator name -> that annotator's boxes of the class.
        iou_threshold: A box joins a cluster only if its IoU with the fused box is above this.
        weights: Optional positive weight per annotator (missing names weigh 1).
        min_support: Keep only clusters with at least this many annotators.

    Returns:
        The fused boxes with their support.

    Raises:
        InvalidPolicyError: If a weight is not positive or ``min_support < 1``.
    """
    if min_support < 1:
        raise InvalidPolicyError(f"min_support must be >= 1; got {min_support}.")
    weights = dict(weights or {})
    if any(not w > 0 for w in weights.values()):
        raise InvalidPolicyError(f"Annotator weights must be positive; got {weights}.")
    members: list[list[tuple[str, npt.NDArray[np.float64], float]]] = []
    fused: list[npt.NDArray[np.float64]] = []
    for name, boxes in boxes_by_annotator.items():
        w = float(weights.get(name, 1.0))
        for box in as_boxes(boxes, f"boxes of {name!r}"):
            best = -1
            if fused:
                ious = iou_matrix(box[None, :], np.stack(fused))[0]
                for k in np.argsort(-ious, kind="stable").tolist():
                    if ious[k] <= iou_threshold:
                        break
                    if all(n != name for n, _, _ in members[k]):
                        best = k
                        break
            if best < 0:
                members.append([(name, box, w)])
                fused.append(box.copy())
                continue
            members[best].append((name, box, w))
            ws = np.array([m[2] for m in members[best]])
            fused[best] = (np.stack([m[1] for m in members[best]]) * ws[:, None]).sum(0) / ws.sum()
    support = np.array([len({m[0] for m in ms}) for ms in members], dtype=np.int64)
    keep = support >= min_support
    out = np.stack(fused)[keep] if fused else np.zeros((0, 4), dtype=np.float64)
    names = tuple(tuple(m[0] for m in ms) for ms, k in zip(members, keep, strict=True) if k)
    return FusedBoxes(boxes=out, support=support[keep], annotators=names)

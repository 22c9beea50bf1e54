"""From an explanation to what a reader looks at: boxes per class and their scores.

Used alike by ``radlens explain``, the viewer's overlay panel and the PDF report, so all three
show the same numbers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from engine.explainers.result import ExplanationResult
from engine.localise import (
    BoxScore,
    Threshold,
    as_threshold,
    diff_inside_outside,
    energy_pointing_game,
    pointing_game,
    score_boxes,
)
from engine.localise.levels import MapIndex


@dataclass(frozen=True)
class ClassLocalisation:
    """Boxes cut from one class's map and how they compare with ground truth and the user.

    Attributes:
        class_name: The class.
        threshold: The threshold that cut the map.
        boxes: ``(N, 4)`` boxes in image pixel-edge coordinates.
        gt: Scores against ground-truth annotators (None when the image has no GT box of
            the class: IoU is reported only for classes present in ground truth).
        user: Scores against the user's own boxes of the class (None when there are none).
        pointing_hit: Pointing game against GT (None without GT).
        energy: Energy-based pointing game against GT (None without GT).
        diff: Mean map inside GT minus outside (None without GT).
    """

    class_name: str
    threshold: str
    boxes: np.ndarray
    gt: BoxScore | None = None
    user: BoxScore | None = None
    pointing_hit: bool | None = None
    energy: float | None = None
    diff: float | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        def score(s: BoxScore | None) -> dict[str, Any] | None:
            if s is None:
                return None
            return {"mean": _num(s.mean), "best": _num(s.best), "fused": _num(s.fused),
                    "per_annotator": {k: _num(v) for k, v in s.per_annotator.items()},
                    "n_pred": s.n_pred, "n_gt": s.n_gt}

        return {
            "class": self.class_name, "threshold": self.threshold,
            "boxes": [[round(float(v), 3) for v in b] for b in self.boxes],
            "iou_ground_truth": score(self.gt), "iou_user": score(self.user),
            "pointing_game": self.pointing_hit, "energy_pointing_game": _num(self.energy),
            "diff_inside_outside": _num(self.diff),
        }


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def boxes_by_annotator(annotations: Any, class_name: str, source: str) -> dict[str, np.ndarray]:
    """``AnnotationSet`` -> annotator -> ``(N, 4)`` boxes of ``class_name`` from ``source``."""
    out: dict[str, list[tuple[float, float, float, float]]] = {}
    if annotations is None:
        return {}
    for box in annotations.boxes:
        if box.class_name.lower() == class_name.lower() and str(getattr(box.source, "value", box.source)) == source:
            out.setdefault(box.annotator, []).append(box.as_tuple())
    return {k: np.asarray(v, dtype=np.float64).reshape(-1, 4) for k, v in out.items()}


def localise(
    result: ExplanationResult,
    threshold: str | Threshold = "top:0.05",
    annotations: Any = None,
    *,
    box_mode: str = "all",
    min_area: int = 0,
    classes: list[str] | None = None,
) -> dict[str, ClassLocalisation]:
    """Cut boxes from each explained class's map (image pixels) and score them.

    Args:
        result: An explanation.
        threshold: ``top:F``, ``max:F``, ``otsu`` or a :class:`Threshold`.
        annotations: An ``AnnotationSet`` with ground-truth and user boxes, or None.
        box_mode: ``all`` components, the ``largest``, or their ``union``.
        min_area: Components smaller than this many pixels are dropped.
        classes: Restrict to these explained classes.
    """
    spec = as_threshold(threshold)
    out = {}
    for name in classes or list(result.explained):
        boxes = map_index(result, name).boxes(spec, mode=box_mode, min_area=min_area)  # type: ignore[arg-type]
        gt = boxes_by_annotator(annotations, name, "ground_truth")
        user = boxes_by_annotator(annotations, name, "user")
        gt_score = score_boxes(boxes, gt) if gt else None
        user_score = score_boxes(boxes, user) if user else None
        hit, energy, diff = _gt_metrics(result, name, np.concatenate(list(gt.values())) if gt else None)
        out[name] = ClassLocalisation(
            class_name=name, threshold=str(spec), boxes=boxes, gt=gt_score, user=user_score,
            pointing_hit=hit, energy=energy, diff=diff,
        )
    return out


def map_index(result: ExplanationResult, class_name: str) -> MapIndex:
    """The :class:`MapIndex` of a class's map in image pixels, built once per result and class.

    Every later threshold on that map (a slider move) costs what the area near the kept pixels
    costs, not the image (issue #19); the boxes are those of ``map_to_boxes`` on the full map.
    """
    key = ("localise.index", class_name)
    index = result.derived.get(key)
    if index is None:
        index = result.derived[key] = MapIndex(result.map(class_name, "image"))
    return index


def _gt_metrics(
    result: ExplanationResult, name: str, all_gt: np.ndarray | None
) -> tuple[bool | None, float | None, float | None]:
    """Pointing game, energy pointing game and Diff of a class against its GT boxes.

    They do not depend on the threshold, so they are computed once per class and set of boxes.
    """
    if all_gt is None:
        return None, None, None
    key = ("localise.gt", name, all_gt.tobytes())
    cached = result.derived.get(key)
    if cached is None:
        heat = result.map(name, "image")
        raw = result.map(name, "image", normalisation="raw")
        cached = result.derived[key] = (
            bool(pointing_game(heat, all_gt)), float(energy_pointing_game(raw, all_gt)),
            float(diff_inside_outside(heat, all_gt)),
        )
    return cached

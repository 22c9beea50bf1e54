"""Localisation: from an explanation heatmap to boxes, and scoring them against ground truth.

Qt-free, pure functions on NumPy arrays.

Coordinate convention (used by every function here):
    A box is ``(x0, y0, x1, y1)`` in floats, in continuous pixel-edge coordinates: ``x`` grows
    to the right, ``y`` grows downwards, and the origin is the top-left corner of the top-left
    pixel. Pixel ``(row i, col j)`` covers ``[j, j + 1) x [i, i + 1)``, so a mask component
    spanning rows ``r0..r1`` and columns ``c0..c1`` inclusive is the box
    ``(c0, r0, c1 + 1, r1 + 1)``. Width is ``x1 - x0``, height ``y1 - y0``, area their product;
    a valid box has ``x1 >= x0`` and ``y1 >= y0``. Boxes are accepted as a :class:`Box`, any
    sequence of four numbers, or an ``(N, 4)`` array; functions returning several boxes return
    an ``(N, 4)`` float64 array.

    Rasterising a box on an ``H x W`` grid: pixel ``(i, j)`` is inside when its centre
    ``(j + 0.5, i + 0.5)`` satisfies ``x0 <= j + 0.5 < x1`` and ``y0 <= i + 0.5 < y1``.

Pipeline: :func:`threshold_mask` (top fraction / fraction of max / Otsu) ->
:func:`mask_to_boxes` (connected components) -> :func:`score_boxes` (IoU against several
annotators: mean, best, fused) and the map-level metrics :func:`pointing_game`,
:func:`energy_pointing_game`, :func:`diff_inside_outside`, :func:`ehr_auc`. Saliency against
gaze (:mod:`engine.localise.saliency`): :func:`kl_divergence`, :func:`correlation_coefficient`,
:func:`similarity`, :func:`nss`, :func:`auc_judd`.

Conventions (issue #14, each as its paper defines it): thresholds never keep a pixel whose
relevance is zero or negative (ties at a positive top-fraction cut are all kept); the pointing game
counts a map without a positive value as a miss, any tied maximum inside a box as a hit, and its
tolerance is TorchRay's Euclidean distance ``< tolerance`` between pixel centres (Zhang et al. 2016),
not a square margin; the energy pointing game is Score-CAM's share of the (positive) map inside the
boxes.
"""

from __future__ import annotations

from engine.localise.boxes import (
    Box,
    BoxesLike,
    BoxLike,
    as_box,
    as_boxes,
    box_areas,
    boxes_to_mask,
    dilate_boxes,
    to_box_list,
)
from engine.localise.components import BoxMode, map_to_boxes, mask_to_boxes
from engine.localise.errors import (
    InvalidBoxError,
    InvalidMapError,
    InvalidPolicyError,
    LocaliseError,
    ThresholdSpecError,
)
from engine.localise.fusion import FusedBoxes, weighted_box_fusion
from engine.localise.iou import iou, iou_matrix, mask_iou, union_mask_iou
from engine.localise.maps import as_map, as_mask
from engine.localise.pointing import (
    diff_inside_outside,
    ehr_auc,
    ehr_curve,
    energy_pointing_game,
    pointing_game,
)
from engine.localise.saliency import (
    auc_judd,
    correlation_coefficient,
    fixation_map,
    kl_divergence,
    nss,
    saliency_scores,
    similarity,
)
from engine.localise.scoring import POLICIES, BoxScore, Policy, score_boxes
from engine.localise.table import LocalisationTable, localisation_table
from engine.localise.threshold import (
    RESEARCH_TOP_FRACTIONS,
    Threshold,
    ThresholdKind,
    as_threshold,
    threshold_mask,
    threshold_value,
)

__all__ = [
    "POLICIES",
    "RESEARCH_TOP_FRACTIONS",
    "Box",
    "BoxLike",
    "BoxMode",
    "BoxScore",
    "BoxesLike",
    "FusedBoxes",
    "InvalidBoxError",
    "InvalidMapError",
    "InvalidPolicyError",
    "LocalisationTable",
    "LocaliseError",
    "Policy",
    "Threshold",
    "ThresholdKind",
    "ThresholdSpecError",
    "as_box",
    "as_boxes",
    "as_map",
    "as_mask",
    "as_threshold",
    "auc_judd",
    "box_areas",
    "boxes_to_mask",
    "correlation_coefficient",
    "diff_inside_outside",
    "dilate_boxes",
    "ehr_auc",
    "ehr_curve",
    "energy_pointing_game",
    "fixation_map",
    "iou",
    "iou_matrix",
    "kl_divergence",
    "localisation_table",
    "map_to_boxes",
    "mask_iou",
    "mask_to_boxes",
    "nss",
    "pointing_game",
    "saliency_scores",
    "score_boxes",
    "similarity",
    "threshold_mask",
    "threshold_value",
    "to_box_list",
    "union_mask_iou",
    "weighted_box_fusion",
]

"""The ``localisation`` block: maps cut into boxes at a threshold grid, IoU x policy, pointing games.

Per image, model, method x layer and class: probability, label and prediction; for classes with
ground-truth boxes the map (image pixels, per-map min-max) scored by
:func:`training.study.score.score_class` (the engine's public localisation functions), and its
``diff`` (:func:`engine.localise.diff_inside_outside`: mean map inside the boxes, pooled over
annotators, minus the mean outside) and ``ehr_auc`` (:func:`engine.localise.ehr_auc`, 100 thresholds),
both on the min-max normalised map.
Tables: ``iou_by_threshold.csv`` and ``pointing.csv`` (:mod:`training.study.tables`) and
``diff_ehr.csv`` (per explanation x class x subset: n, ``diff_mean``/``diff_std``,
``ehr_auc_mean``/``ehr_auc_std``; subsets as in :mod:`training.study.tables`); figure:
``iou_by_threshold.png``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa

from training.study.blocks.base import Block, ImageJob, common_row
from training.study.blocks.stats import csv_text, fmt, mean_std

if TYPE_CHECKING:
    from training.study.config import StudyConfig
    from training.study.score import Task

POLICY_NAMES = ("mean", "best", "fused")
BOX_MODES = ("all", "largest", "union")
DEFAULT_TOP = (0.01, 0.02, 0.03, 0.05, 0.08, 0.1, 0.2)
DEFAULT_MAX = (0.15, 0.5)
_THRESHOLD_KEYS = ("top_fraction", "fraction_of_max", "otsu")
_LOCALISATION_KEYS = ("policies", "pointing_tolerance_px", "box_mode")


class LocalisationBlock(Block):
    """IoU by threshold x annotator policy x subset, pointing game, energy pointing game."""

    name = "localisation"
    sections: ClassVar[dict[str, tuple[str, ...]]] = {"thresholds": _THRESHOLD_KEYS,
                                                      "localisation": _LOCALISATION_KEYS}
    columns: ClassVar[tuple[tuple[str, pa.DataType], ...]] = (
        ("n_gt_boxes", pa.int32()), ("n_annotators", pa.int32()), ("thresholds", pa.list_(pa.string())),
        ("iou_mean", pa.list_(pa.float64())), ("iou_best", pa.list_(pa.float64())),
        ("iou_fused", pa.list_(pa.float64())), ("n_pred_boxes", pa.list_(pa.int32())), ("pointing", pa.bool_()),
        ("pointing_tolerant", pa.bool_()), ("energy", pa.float64()), ("diff", pa.float64()),
        ("ehr_auc", pa.float64()), ("gt_region", pa.string()),
    )

    def validate(self, v: Any, doc: dict[str, Any]) -> dict[str, Any]:
        """Validate ``thresholds`` and ``localisation`` (see ``docs/studies.md``)."""
        th = v.mapping(doc.get("thresholds"), "thresholds", _THRESHOLD_KEYS)
        top = v.fractions(th.get("top_fraction", list(DEFAULT_TOP)), "thresholds.top_fraction")
        fmax = v.fractions(th.get("fraction_of_max", list(DEFAULT_MAX)), "thresholds.fraction_of_max")
        otsu = th.get("otsu", True)
        if not isinstance(otsu, bool):
            v.bad("thresholds.otsu", f"{otsu!r} is not allowed", "true, false")
            otsu = True
        if not top and not fmax and not otsu and not any(p.key.startswith("thresholds") for p in v.problems):
            v.bad("thresholds", "the grid is empty", "at least one top_fraction, fraction_of_max or otsu: true")
        loc = v.mapping(doc.get("localisation"), "localisation", _LOCALISATION_KEYS)
        policies = v.strings(loc.get("policies", list(POLICY_NAMES)), "localisation.policies",
                             ", ".join(POLICY_NAMES))
        for i, p in enumerate(policies):
            v.choice(p, f"localisation.policies[{i}]", POLICY_NAMES)
        tol = v.number(loc.get("pointing_tolerance_px", 15), "localisation.pointing_tolerance_px",
                       lambda x: x >= 0, "a number of pixels >= 0")
        box_mode = v.choice(loc.get("box_mode", "all"), "localisation.box_mode", BOX_MODES)
        return {"top_fractions": top, "fraction_of_max": fmax, "otsu": bool(otsu), "policies": policies,
                "pointing_tolerance_px": float(tol if tol is not None else 15.0), "box_mode": box_mode or "all"}

    def settings_of(self, cfg: StudyConfig) -> dict[str, Any]:
        """Threshold grid (engine string form), policies, tolerance and box mode."""
        return cfg.scoring_dict()

    def hash_settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The scoring settings alone (the hash of the first version of the store, so it still resumes)."""
        return dict(settings)

    def image_rows(self, job: ImageJob, tasks: Sequence[Task], settings: dict[str, Any]) -> list[dict[str, Any]]:
        """One row per task x class; classes with ground-truth boxes are explained and scored."""
        from engine.errors import AnnotationParseError
        from engine.localise import diff_inside_outside, ehr_auc
        from training.study.score import Scoring, score_class

        scoring = Scoring(tuple(settings["thresholds"]), float(settings["pointing_tolerance_px"]),
                          str(settings["box_mode"]))
        plan, item = job.plan, job.item
        present = [c for c in plan.class_names if item.boxes.get(c)]
        rows: list[dict[str, Any]] = []
        results = job.explain_tasks(tasks, classes=present) if present else [None] * len(tasks)
        for task, result in zip(tasks, results, strict=True):
            for ci, c in enumerate(plan.class_names):
                row = common_row(job, task, ci)
                row.update({"n_gt_boxes": 0, "n_annotators": 0, "thresholds": list(scoring.thresholds),
                            "iou_mean": None, "iou_best": None, "iou_fused": None, "n_pred_boxes": None,
                            "pointing": None, "pointing_tolerant": None, "energy": None, "diff": None,
                            "ehr_auc": None, "gt_region": None})
                gt = item.boxes.get(c) or {}
                if result is not None and gt:
                    heat = result.map(c, "image")
                    raw = result.map(c, "image", normalisation="raw")
                    row.update(score_class(heat, raw, gt, scoring))
                    pooled = [b for bs in gt.values() for b in bs]
                    try:  # a segmentation where the data has one (SIIM)
                        mask, region = item.mask_of(c, heat.shape[:2]), "mask"
                    except AnnotationParseError:  # an RLE that fits no 1024-px image: the boxes, and say so
                        mask, region = None, "boxes (mask unreadable)"
                    row["diff"] = _finite(diff_inside_outside(heat, pooled, mask=mask))
                    row["ehr_auc"] = _finite(ehr_auc(heat, pooled, mask=mask))
                    row["gt_region"] = "boxes" if mask is None and region == "mask" else region
                    row["n_gt_boxes"] = sum(len(v) for v in gt.values())
                    row["n_annotators"] = len(gt)
                rows.append(row)
        return rows

    def tables(self, rows: list[dict[str, Any]], settings: dict[str, Any]) -> dict[str, str]:
        """``iou_by_threshold.csv``, ``pointing.csv`` and ``diff_ehr.csv``."""
        from training.study.tables import iou_by_threshold, pointing

        return {"iou_by_threshold.csv": iou_by_threshold(rows, settings["policies"]),
                "pointing.csv": pointing(rows, float(settings["pointing_tolerance_px"])),
                "diff_ehr.csv": diff_ehr(rows)}

    def figures(self, out: Path, settings: dict[str, Any]) -> list[Path]:
        """``iou_by_threshold.png`` (mean IoU by top fraction)."""
        from training.study.figures import iou_by_threshold_figure

        figure = iou_by_threshold_figure(Path(out))
        return [figure] if figure is not None else []


def _finite(v: float) -> float | None:
    return float(v) if math.isfinite(v) else None


def _fmt4(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else f"{v:.4f}"


def diff_ehr(rows: list[dict[str, Any]]) -> str:
    """``diff_ehr.csv``: Diff and EHR-AUC per explanation x class x subset (mean, sample std, n), and
    what "inside" was (``gt_region``: ``boxes``, ``mask`` where the data set has segmentations, or both).

    EHR-AUC is written with 4 decimals (Diff with 6, like the other tables): it is a step function of
    the map -- a map change of 1e-7 (float summation order differs between a Ray actor and the driver)
    can move one pixel across one of its 100 thresholds and the value by ~1e-6, which 6 decimals would
    show as a difference between runs that are otherwise identical.
    """
    from training.study.tables import GROUP, SUBSETS, _subset

    groups: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault(tuple(r[c] for c in GROUP), []).append(r)
    body = []
    for key in sorted(groups, key=str):
        group = sorted(groups[key], key=lambda r: str(r["image"]))
        for subset in SUBSETS:
            chosen = _subset(group, subset)
            d = mean_std([r.get("diff") for r in chosen])
            e = mean_std([r.get("ehr_auc") for r in chosen])
            # rows stored before the column existed were scored on boxes
            region = "+".join(sorted({str(r.get("gt_region") or "boxes") for r in chosen if r.get("diff") is not None}))
            body.append([*key, subset, d[2], fmt(d[0]), fmt(d[1]), e[2], _fmt4(e[0]), _fmt4(e[1]), region])
    return csv_text([*GROUP, "subset", "diff_n", "diff_mean", "diff_std", "ehr_auc_n", "ehr_auc_mean", "ehr_auc_std",
                     "gt_region"], body)

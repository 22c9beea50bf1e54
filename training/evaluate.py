"""Evaluate a model bundle on a labelled data set: classification and localisation tables.

Classification: per-class AUC and F1 at the bundle's thresholds, over every image.

Localisation (research protocol, SPEC section 4), per explanation method and class, over the
images whose ground truth has a box of the class: for each top fraction of
:data:`RESEARCH_TOP_FRACTIONS` the map (in image pixels) is cut with ``top:f``, boxed
(:func:`map_to_boxes`, all components) and scored with :func:`score_boxes`; the table holds the
mean over images of the per-annotator-pooled mean IoU (``mean`` policy) and of the best-match
IoU (``best``), plus the pointing-game hit rate, strict (the maximum inside a box) and with the
original paper's tolerance (Zhang et al. 2016: within :data:`POINTING_TOLERANCE_PX` pixels of a
box). For Integrated Gradients the relative completeness gap (mean, max, share of images above the
method's tolerance) is added as ``ig_completeness``. Each is given for all GT-positive images and
for the correctly predicted ones only (probability >= the bundle's threshold), and the best
fraction per class is named.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from engine import explain
from engine.annotations import AnnotationSet, image_key, read_nih, read_siim, read_vinbigdata
from engine.atomic import atomic_write_text
from engine.io import load_image
from engine.localise import RESEARCH_TOP_FRACTIONS, Threshold, map_to_boxes, pointing_game, score_boxes
from engine.models.bundle import LoadedModel, load_model
from engine.preprocess import to_model_input
from engine.runtime import library_versions
from training.config import DataConfig
from training.datasets import DEFAULT_ANNOTATIONS, TrainDataError, read_labelled_data
from training.export import json_safe
from training.metrics import classification_report

EVAL_SCHEMA_VERSION = 1
SUBSETS = ("all", "correct")
#: Pointing-game tolerance of the original definition (Zhang et al., "Top-down neural attention by
#: excitation backprop", ECCV 2016): a hit within 15 pixels of a box.
POINTING_TOLERANCE_PX = 15.0
ProgressFn = Callable[[int, int], None]
#: How each figure of the tables is defined (written into ``evaluation.json`` next to the figures).
METRIC_CONVENTIONS: dict[str, str] = {
    "threshold": "top:F keeps the positive pixels >= the k-th largest value (k = ceil(F * N)); zero and negative "
                 "relevance are never kept (fewer than k positive pixels: only those); ties at a positive cut are "
                 "all kept",
    "boxes": "one box per 8-connected component of the thresholded map, in image pixels",
    "pointing_game": "hit when a pixel equal to the map's maximum lies in a GT box of the class (any tied maximum "
                     "counts); a map without a positive value is a miss",
    "pointing_game_tolerant": "TorchRay / Zhang et al. 2016: hit when a maximal pixel's centre lies at a Euclidean "
                              "distance < 15 px from a GT pixel centre (image pixels); not a square margin",
    "cam_alignment": "receptive_field (CAM grid cells at their receptive-field centres; peers resize to tile "
                     "centres, alignment='resize')",
}


@dataclass
class _ClassRows:
    """Per-image localisation rows of one (method, class)."""

    mean_iou: list[list[float]] = field(default_factory=list)
    best_iou: list[list[float]] = field(default_factory=list)
    pointing: list[bool] = field(default_factory=list)
    pointing_tolerant: list[bool] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    #: Integrated Gradients only: per image the relative completeness gap (None: undefined).
    completeness: list[float | None] = field(default_factory=list)
    completeness_tolerance: float | None = None


def detect_format(root: Path) -> str:
    """The data-set format of a folder from its annotation file name."""
    for fmt in ("vinbigdata", "siim", "nih"):
        if (root / DEFAULT_ANNOTATIONS[fmt]).is_file():
            return fmt
    raise TrainDataError(
        "no annotation file found in the data folder.", path=root,
        fix="expected train.csv (VinBigData/phantom), train-rle.csv (SIIM) or BBox_List_2017.csv (NIH).",
    )


def _annotation_sets(fmt: str, path: Path) -> dict[str, AnnotationSet]:
    reader = {"vinbigdata": read_vinbigdata, "phantom": read_vinbigdata, "nih": read_nih, "siim": read_siim}[fmt]
    return {image_key(k): v for k, v in reader(path).items()}


def _forward_probs(model: LoadedModel, image: Any) -> np.ndarray:
    x, _g, _s = to_model_input(image, model.manifest)
    with torch.no_grad():
        logits = model.module(x.to(model.device)).float().cpu()[0]
    probs = torch.sigmoid(logits) if model.manifest.task == "multilabel" else torch.softmax(logits, 0)
    return probs.numpy()


def evaluate_bundle(
    model_path: str | Path, data_dir: str | Path, *, methods: Sequence[str] = ("gradcam",), fmt: str = "auto",
    ids: Sequence[str] | None = None, limit: int = 0, device: str = "cpu",
    fractions: Sequence[float] = RESEARCH_TOP_FRACTIONS, progress: ProgressFn | None = None,
) -> dict[str, Any]:
    """Classification metrics and localisation tables of a bundle on a data set.

    Args:
        model_path: Bundle folder.
        data_dir: Data set folder (images + annotation file, as for training).
        methods: Explanation methods (registry names); ``"gradcam@layer4"`` explains at that layer
            instead of the bundle's default layer (each spec is a key of the localisation table).
        fmt: ``auto`` or a data format of :mod:`training.datasets`.
        ids: Evaluate only these image ids (e.g. the ``test`` list of a training ``split.json``).
        limit: Evaluate only the first N images (0 = all).
        device: ``cpu``, ``cuda`` or ``auto``.
        fractions: Top fractions of the localisation table.
        progress: Called with (done, total) after each image.

    Returns:
        A JSON-ready dict (see :func:`write_evaluation`).
    """
    model = load_model(model_path, device=device)
    root = Path(data_dir)
    fmt = detect_format(root) if fmt == "auto" else fmt
    data = read_labelled_data(DataConfig(format=fmt, root=str(root), classes=model.class_names))
    examples = list(data.examples)
    if ids is not None:
        wanted = set(ids)
        examples = [e for e in examples if e.image_id in wanted]
    if limit:
        examples = examples[:limit]
    if not examples:
        raise TrainDataError("no image to evaluate.", path=root, fix="check --data, --split-file and --limit.")
    ann_path = root / DEFAULT_ANNOTATIONS[fmt]
    sets = _annotation_sets(fmt, ann_path)
    classes = model.class_names
    thresholds = [model.manifest.threshold(i) for i in range(len(classes))]
    rows = {m: {c: _ClassRows() for c in classes} for m in methods}
    probs = np.zeros((len(examples), len(classes)), np.float32)
    specs = [Threshold("top_fraction", float(f)) for f in fractions]
    for n, example in enumerate(examples):
        image = load_image(example.path)
        gt = sets.get(example.image_id, AnnotationSet())
        present = [c for c in classes if any(b.class_name == c for b in gt.boxes)]
        probs[n] = _forward_probs(model, image)
        for method in methods:
            if not present:
                break
            name, _, layer = method.partition("@")
            result = explain(model, image, method=name, classes=present, layers=[layer] if layer else None)
            for c in present:
                heatmap = result.map(c)
                by_annotator: dict[str, list[tuple[float, float, float, float]]] = {}
                for b in gt.boxes:
                    if b.class_name == c:
                        by_annotator.setdefault(b.annotator or "?", []).append(b.as_tuple())
                scores = [score_boxes(map_to_boxes(heatmap, s), by_annotator) for s in specs]
                r = rows[method][c]
                r.mean_iou.append([s.mean for s in scores])
                r.best_iou.append([s.best for s in scores])
                every_box = [b for bs in by_annotator.values() for b in bs]
                r.pointing.append(pointing_game(heatmap, every_box))
                r.pointing_tolerant.append(pointing_game(heatmap, every_box, tolerance_px=POINTING_TOLERANCE_PX))
                ci = classes.index(c)
                r.correct.append(bool(probs[n, ci] >= thresholds[ci]))
                gaps = result.diagnostics.get("completeness")
                if gaps is not None:
                    r.completeness.append(next(g["relative_gap"] for g in gaps if g["class_index"] == ci))
                    r.completeness_tolerance = result.diagnostics.get("completeness_tolerance")
        if progress:
            progress(n + 1, len(examples))
    labels = np.stack([e.labels for e in examples])
    report = classification_report(labels, probs, classes, thresholds)
    keys = [str(s) for s in specs]
    localisation = {m: {c: _summarise(rows[m][c], keys) for c in classes} for m in methods}
    return json_safe({
        "schema_version": EVAL_SCHEMA_VERSION,
        "model": model.identity(),
        "data": {"root": str(root), "format": fmt, "n_images": len(examples),
                 "positives": {c: int(labels[:, i].sum()) for i, c in enumerate(classes)}},
        "classification": report,
        "fractions": list(fractions),
        "policy": "mean over every annotator's boxes (research protocol); best = best-match IoU",
        "conventions": METRIC_CONVENTIONS,
        "localisation": localisation,
        "versions": library_versions(),
    })


def _mean_rows(values: list[list[float]], keep: list[bool], keys: list[str]) -> dict[str, float]:
    chosen = [v for v, k in zip(values, keep, strict=True) if k]
    if not chosen:
        return {k: float("nan") for k in keys}
    arr = np.array(chosen, dtype=np.float64)
    return {k: float(v) for k, v in zip(keys, arr.mean(axis=0), strict=True)}


def _summarise(r: _ClassRows, keys: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for subset in SUBSETS:
        keep = [True] * len(r.correct) if subset == "all" else list(r.correct)
        mean_iou = _mean_rows(r.mean_iou, keep, keys)
        finite = {k: v for k, v in mean_iou.items() if not math.isnan(v)}
        hits = [p for p, k in zip(r.pointing, keep, strict=True) if k]
        near = [p for p, k in zip(r.pointing_tolerant, keep, strict=True) if k]
        out[subset] = {
            "n_images": int(sum(keep)),
            "mean_iou": mean_iou,
            "best_match_iou": _mean_rows(r.best_iou, keep, keys),
            "pointing_game": float(np.mean(hits)) if hits else float("nan"),
            "pointing_game_tolerant": float(np.mean(near)) if near else float("nan"),
            "pointing_tolerance_px": POINTING_TOLERANCE_PX,
            "best_threshold": max(finite, key=lambda k: finite[k]) if finite else None,
        }
        if r.completeness:
            out[subset]["ig_completeness"] = _completeness_summary(r.completeness, keep, r.completeness_tolerance)
    return out


def _completeness_summary(gaps: list[float | None], keep: list[bool], tolerance: float | None) -> dict[str, Any]:
    """Integrated Gradients' relative completeness gaps over the kept images (issue #14)."""
    chosen = [g for g, k in zip(gaps, keep, strict=True) if k]
    finite = [float(g) for g in chosen if g is not None]
    above = sum(1 for g in chosen if g is None or (tolerance is not None and g > tolerance))
    return {
        "mean_relative_gap": float(np.mean(finite)) if finite else float("nan"),
        "max_relative_gap": float(max(finite)) if finite else float("nan"),
        "share_above_tolerance": above / len(chosen) if chosen else float("nan"),
        "tolerance": tolerance,
    }


def classification_csv(result: dict[str, Any]) -> str:
    """One row per class: AUC, F1, threshold, positives."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["class", "auc", "f1", "threshold", "positives", "n"])
    for c, m in result["classification"]["per_class"].items():
        w.writerow([c, _num(m["auc"]), _num(m["f1"]), _num(m["threshold"]), m["positives"], m["n"]])
    return buf.getvalue()


def localisation_csv(result: dict[str, Any]) -> str:
    """One row per (method, class, subset, metric) with a column per top fraction."""
    keys = [str(Threshold("top_fraction", float(f))) for f in result["fractions"]]
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["method", "class", "subset", "metric", "n_images", *keys, "pointing_game", "best_threshold",
                "pointing_game_15px"])
    for method, per_class in result["localisation"].items():
        for c, subsets in per_class.items():
            for subset, s in subsets.items():
                for metric in ("mean_iou", "best_match_iou"):
                    w.writerow([method, c, subset, metric, s["n_images"], *(_num(s[metric][k]) for k in keys),
                                _num(s["pointing_game"]), s["best_threshold"] or "",
                                _num(s.get("pointing_game_tolerant"))])
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def write_evaluation(result: dict[str, Any], out: str | Path) -> list[Path]:
    """Write ``evaluation.json``, ``classification.csv`` and ``localisation.csv`` atomically."""
    folder = Path(out)
    files = {
        folder / "evaluation.json": json.dumps(result, indent=2) + "\n",
        folder / "classification.csv": classification_csv(result),
        folder / "localisation.csv": localisation_csv(result),
    }
    for path, text in files.items():
        atomic_write_text(path, text)
    return list(files)


def format_tables(result: dict[str, Any]) -> str:
    """Human-readable tables for the terminal."""
    lines = [f"model {result['model']['name']} {result['model']['version']} on {result['data']['n_images']} images",
             "", f"{'class':<20} {'AUC':>6} {'F1':>6} {'thr':>6} {'pos':>5}"]
    for c, m in result["classification"]["per_class"].items():
        lines.append(f"{c:<20} {_cell(m['auc'])} {_cell(m['f1'])} {_cell(m['threshold'])} {m['positives']:>5}")
    lines.append(f"{'macro':<20} {_cell(result['classification']['macro_auc'])} "
                 f"{_cell(result['classification']['macro_f1'])}")
    keys = [str(Threshold("top_fraction", float(f))) for f in result["fractions"]]
    for method, per_class in result["localisation"].items():
        for subset in SUBSETS:
            lines += ["", f"{method}: mean IoU by top fraction ({subset} GT-positive images)",
                      f"{'class':<20} {'n':>4} " + " ".join(f"{k[4:]:>6}" for k in keys)
                      + f"  point  pt±{POINTING_TOLERANCE_PX:g}  b-match  best"]
            for c, subsets in per_class.items():
                s = subsets[subset]
                finite = [v for v in s["best_match_iou"].values() if v is not None and not math.isnan(v)]
                lines.append(f"{c:<20} {s['n_images']:>4} " + " ".join(_cell(s["mean_iou"][k]) for k in keys)
                             + f" {_cell(s['pointing_game'])} {_cell(s.get('pointing_game_tolerant'))}"
                             + f"   {_cell(max(finite) if finite else None)}  {s['best_threshold'] or '-'}")
                if "ig_completeness" in s:
                    g = s["ig_completeness"]
                    lines.append(f"{'':<20} IG completeness gap: mean {_cell(g['mean_relative_gap'])}, max "
                                 f"{_cell(g['max_relative_gap'])}, above tolerance {_cell(g['share_above_tolerance'])}")
    return "\n".join(lines)


def _cell(v: float | None) -> str:
    return f"{'-':>6}" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:6.3f}"

"""Known answers of the localisation block and of the tables aggregated from the store."""

from __future__ import annotations

import csv
import io
import statistics
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from training.study.score import Scoring, score_class
from training.study.store import write_part
from training.study.tables import render_tables

H, W = 40, 50
BOX = (10.0, 5.0, 20.0, 15.0)  # x0, y0, x1, y1: columns 10..19, rows 5..14, 100 of 2000 pixels = 5 %


def _rect_iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """IoU of two rectangles, written out independently of the engine."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def _synthetic_map() -> np.ndarray:
    """A map whose every threshold of the grid cuts exactly BOX: background < 0.4, box >= 0.9."""
    yy, xx = np.mgrid[0:H, 0:W]
    m = 0.4 * (xx + W * yy) / (H * W)  # strictly increasing background in [0, 0.4), no ties
    m[5:15, 10:20] = 0.9 + 0.001 * np.arange(100).reshape(10, 10)
    return m.astype(np.float64)


def test_score_class_on_a_map_with_known_boxes() -> None:
    heat = _synthetic_map()
    shifted = (15.0, 5.0, 25.0, 15.0)
    gt = {"R1": [list(BOX)], "R2": [list(shifted)]}
    scoring = Scoring(("top:0.05", "max:0.5", "otsu"), tolerance_px=3.0, box_mode="all")
    out = score_class(heat, heat, gt, scoring)
    iou_shifted = _rect_iou(BOX, shifted)
    assert iou_shifted == pytest.approx(1 / 3)
    # every threshold cuts exactly BOX: mean over both annotators' boxes, best match, and fused (the
    # two boxes overlap by 1/3 < the fusion IoU 0.55, so the consensus keeps both)
    assert out["iou_mean"] == pytest.approx([(1 + iou_shifted) / 2] * 3)
    assert out["iou_best"] == pytest.approx([1.0] * 3)
    assert out["iou_fused"] == pytest.approx([(1 + iou_shifted) / 2] * 3)
    assert out["n_pred_boxes"] == [1, 1, 1]
    assert out["pointing"] is True and out["pointing_tolerant"] is True
    union = np.zeros((H, W), bool)
    union[5:15, 10:25] = True
    assert out["energy"] == pytest.approx(heat[union].sum() / heat.sum())


def test_pointing_tolerance_and_a_missed_top_fraction() -> None:
    heat = _synthetic_map()
    heat[5, 21] = 5.0  # the maximum sits 2 px (centre to centre) right of the GT box's last column, 19
    gt = {"R1": [list(BOX)]}
    out = score_class(heat, heat, gt, Scoring(("top:0.0005",), tolerance_px=3.0, box_mode="all"))
    # top 0.05 % of 2000 pixels = 1 pixel: the box (21, 5, 22, 6) outside GT; TorchRay's rule: 2 < 3 is a
    # hit, 2 < 1 is not (a square margin of 3 px would also accept a pixel 3 px away; the Euclidean rule not)
    assert out["iou_mean"] == [0.0] and out["n_pred_boxes"] == [1]
    assert out["pointing"] is False and out["pointing_tolerant"] is True
    out = score_class(heat, heat, gt, Scoring(("top:0.0005",), tolerance_px=1.0, box_mode="all"))
    assert out["pointing_tolerant"] is False


def _row(image: str, cls: str, iou: float | None, predicted: bool, pointing: bool = True) -> dict[str, Any]:
    located = iou is not None
    return {
        "image": image, "model": "m" * 64, "model_name": "synthetic", "model_version": "1", "method": "gradcam",
        "layer": "layer4", "params_hash": "p" * 16, "params": "{}", "class": cls, "probability": 0.7 if predicted
        else 0.2, "label": int(located), "predicted": predicted, "n_gt_boxes": 1 if located else 0,
        "n_annotators": 1 if located else 0, "thresholds": ["top:0.05", "otsu"],
        "iou_mean": [iou, iou / 2] if iou is not None else None, "iou_best": [iou, iou] if located else None,
        "iou_fused": [iou, 0.0] if located else None, "n_pred_boxes": [1, 1] if located else None,
        "pointing": pointing if located else None, "pointing_tolerant": True if located else None,
        "energy": iou if located else None,
    }


ROWS = [
    _row("a.png", "Cardiomegaly", 0.5, True), _row("b.png", "Cardiomegaly", 0.25, False, pointing=False),
    _row("c.png", "Cardiomegaly", 0.125, True), _row("d.png", "Cardiomegaly", None, False),
    _row("a.png", "Effusion", 0.75, True), _row("b.png", "Effusion", None, True),
]


def _table(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_tables_match_statistics_computed_independently(tmp_path: Path) -> None:
    write_part(tmp_path, ROWS[:3])
    write_part(tmp_path, ROWS[3:])
    render_tables(tmp_path, ["mean", "fused"], 8.0)
    iou = {(r["class"], r["policy"], r["subset"], r["threshold"]): r for r in _table(tmp_path / "tables" /
                                                                                   "iou_by_threshold.csv")}
    cardio_all = [0.5, 0.25, 0.125]
    r = iou[("Cardiomegaly", "mean", "all", "top:0.05")]
    assert (float(r["mean"]), float(r["std"]), int(r["n"])) == pytest.approx(
        (statistics.mean(cardio_all), statistics.stdev(cardio_all), 3), abs=5e-7)  # 6 decimals in the CSV
    r = iou[("Cardiomegaly", "mean", "correct", "otsu")]  # predicted only: a and c, halved at otsu
    assert (float(r["mean"]), float(r["std"]), int(r["n"])) == pytest.approx(
        (statistics.mean([0.25, 0.0625]), statistics.stdev([0.25, 0.0625]), 2), abs=5e-7)
    r = iou[("Effusion", "fused", "all", "top:0.05")]
    assert (float(r["mean"]), r["std"], int(r["n"])) == (0.75, "", 1)
    assert ("Cardiomegaly", "best", "all", "top:0.05") not in iou  # only the policies asked for
    pointing = {(r["class"], r["subset"]): r for r in _table(tmp_path / "tables" / "pointing.csv")}
    assert float(pointing[("Cardiomegaly", "all")]["pointing_strict"]) == pytest.approx(2 / 3, abs=5e-7)
    assert float(pointing[("Cardiomegaly", "correct")]["pointing_strict"]) == 1.0
    assert pointing[("Cardiomegaly", "all")]["tolerance_px"] == "8"
    cls = {r["class"]: r for r in _table(tmp_path / "tables" / "classification.csv")}
    assert (cls["Cardiomegaly"]["n"], cls["Cardiomegaly"]["positives"], cls["Cardiomegaly"]["predicted_positive"]) \
        == ("4", "3", "2")
    # AUC of probabilities (0.7, 0.2, 0.7 | positive; 0.2 | negative): pairs won 2 + 0.5 tie out of 3
    assert float(cls["Cardiomegaly"]["auc"]) == pytest.approx(2.5 / 3, abs=5e-7)


def test_two_parameter_sets_of_one_method_and_layer_stay_apart(tmp_path: Path) -> None:
    other = [{**r, "params_hash": "q" * 16, "params": '{"noise": 0.2}', "iou_mean": [0.0, 0.0]}
             for r in ROWS if r["iou_mean"] is not None]
    write_part(tmp_path, ROWS + other)
    render_tables(tmp_path, ["mean"], 15.0)
    rows = [r for r in _table(tmp_path / "tables" / "iou_by_threshold.csv")
            if (r["class"], r["subset"], r["threshold"]) == ("Cardiomegaly", "all", "top:0.05")]
    means = {r["params_hash"]: (r["params"], float(r["mean"]), int(r["n"])) for r in rows}
    assert means == {"p" * 16: ("{}", pytest.approx(0.875 / 3, abs=5e-7), 3),
                     "q" * 16: ('{"noise": 0.2}', 0.0, 3)}


def test_tables_do_not_depend_on_how_the_parts_were_written(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    write_part(one, ROWS)
    for row in reversed(ROWS):
        write_part(two, [row])
    write_part(two, [ROWS[0]])  # a duplicate row (same key and class) counts once
    for out in (one, two):
        render_tables(out, ["mean", "best", "fused"], 15.0)
    for name in ("iou_by_threshold.csv", "pointing.csv", "classification.csv"):
        assert (one / "tables" / name).read_bytes() == (two / "tables" / name).read_bytes()


def test_sanity_rows_of_the_explained_classes_only_give_no_classification_table(tmp_path: Path) -> None:
    # a sanity study with classes: predicted stores the predicted positives alone; an AUC over them means nothing
    sanity = [{**r, "image": f"s_{r['image']}", "block": "sanity", "cascade": ["fc"], "sanity_ssim": [0.5],
               "sanity_spearman": [0.1]} for r in ROWS]
    write_part(tmp_path, [*ROWS, *sanity])
    render_tables(tmp_path, ["mean"], 8.0)
    cls = {r["class"]: r for r in _table(tmp_path / "tables" / "classification.csv")}
    assert cls["Cardiomegaly"]["n"] == "4"  # the localisation rows' images only
    only = tmp_path / "only"
    write_part(only, sanity)
    render_tables(only, ["mean"], 8.0)
    assert _table(only / "tables" / "classification.csv") == []

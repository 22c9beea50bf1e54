"""The review gallery's Qt-free part: a hand-written store read back, filtered by outcome and sorted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training.study import StudyError
from training.study.review import OUTCOMES, open_review, outcome_of
from training.study.store import write_part

SHA = "a" * 64
GRID = ["top:0.05", "max:0.5", "otsu"]
THRESHOLDS = {"A": 0.5, "B": 0.3}
# image -> class -> (probability, label); IoU (mean policy) per threshold for gradcam / smoothgrad
KNOWN: dict[str, dict[str, tuple[float, int]]] = {
    "img/1.png": {"A": (0.90, 1), "B": (0.10, 0)},   # A: TP   B: TN
    "img/2.png": {"A": (0.70, 0), "B": (0.35, 1)},   # A: FP   B: TP
    "img/3.png": {"A": (0.20, 1), "B": (0.30, 0)},   # A: FN   B: FP (0.30 reaches the threshold)
    "img/4.png": {"A": (0.10, 0), "B": (0.29, 1)},   # A: TN   B: FN
    "img/5.png": {"A": (0.60, 1), "B": (0.05, 0)},   # A: TP   B: TN
    "img/6.png": {"A": (0.45, 1), "B": (0.50, 0)},   # A: FN   B: FP
}
IOU = {  # (method, image) -> IoU at top:0.05 / max:0.5 / otsu under the mean policy (A only)
    ("gradcam", "img/1.png"): [0.30, 0.10, 0.50],
    ("gradcam", "img/3.png"): [0.60, 0.20, 0.05],
    ("gradcam", "img/5.png"): [0.10, 0.40, 0.25],
    ("gradcam", "img/6.png"): [0.45, 0.00, 0.15],
    ("smoothgrad", "img/1.png"): [0.05, 0.05, 0.05],
    ("smoothgrad", "img/3.png"): [0.90, 0.90, 0.90],
    ("smoothgrad", "img/5.png"): [0.50, 0.50, 0.50],
    ("smoothgrad", "img/6.png"): [0.20, 0.20, 0.20],
}
TASKS: tuple[tuple[str, str, str, dict[str, Any]], ...] = (
    ("gradcam", "layer4", "h-gc", {"relu": True}), ("smoothgrad", "", "h-sg", {"n": 2, "noise": 0.1}))


def _row(method: str, layer: str, phash: str, params: dict[str, Any], image: str, cls: str) -> dict[str, Any]:
    p, label = KNOWN[image][cls]
    iou = IOU.get((method, image)) if cls == "A" else None
    return {
        "image": image, "model": SHA, "model_name": "m", "model_version": "1", "method": method, "layer": layer,
        "params_hash": phash, "params": json.dumps(params), "class": cls, "probability": p, "label": label,
        "predicted": p >= THRESHOLDS[cls], "n_gt_boxes": 1 if iou else 0, "n_annotators": 1 if iou else 0,
        "thresholds": GRID, "iou_mean": iou, "iou_best": [v + 0.01 for v in iou] if iou else None,
        "iou_fused": [1.0 - v for v in iou] if iou else None, "n_pred_boxes": [1, 1, 1] if iou else None,
        "pointing": bool(iou) if iou else None, "pointing_tolerant": None, "energy": 0.5 if iou else None,
    }


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    rows = [_row(*t, image, cls) for t in TASKS for image in KNOWN for cls in ("A", "B")]
    write_part(tmp_path, rows[:10])
    write_part(tmp_path, rows[10:])
    (tmp_path / "study.json").write_text(json.dumps({
        "models": [{"sha256": SHA, "name": "m", "version": "1", "path": "/bundles/m", "classes": ["A", "B"],
                    "thresholds": [THRESHOLDS["A"], THRESHOLDS["B"]]}],
        "data": {"folder": "/data/set", "annotations": "/data/set/train.csv"},
    }))
    return tmp_path


def test_outcome_convention() -> None:
    assert [outcome_of(1, True), outcome_of(0, True), outcome_of(1, False), outcome_of(0, False)] == list(OUTCOMES)


def test_reads_models_explanations_and_paths(study: Path) -> None:
    review = open_review(study)
    assert review.classes == ("A", "B")
    assert [e.label for e in review.explanations] == ["gradcam @ layer4", "smoothgrad"]
    assert review.explanations[1].params == {"n": 2, "noise": 0.1}
    assert review.model(SHA).threshold("B") == 0.3
    assert review.path_of("img/2.png") == Path("/data/set/img/2.png")
    assert review.annotations == Path("/data/set/train.csv")
    assert review.thresholds_of(review.explanations[0]) == tuple(GRID)


@pytest.mark.parametrize("cls", ["A", "B"])
def test_outcomes_match_the_model_thresholds(study: Path, cls: str) -> None:
    review = open_review(study)
    gradcam = review.explanations[0]
    # independent reference: the outcome from probability >= the study.json threshold and the label
    expected: dict[str, list[str]] = {o: [] for o in OUTCOMES}
    for image, by_class in KNOWN.items():
        p, label = by_class[cls]
        positive = p >= THRESHOLDS[cls]
        expected[("T" if bool(label) == positive else "F") + ("P" if positive else "N")].append(image)
    for outcome in OUTCOMES:
        got = review.gallery(cls, [gradcam], outcomes=[outcome], sort_by="image")
        assert [e.image for e in got] == sorted(expected[outcome])
        assert all(e.outcome == outcome for e in got)
    assert review.counts(cls, gradcam) == {o: len(v) for o, v in expected.items()}


def test_filter_by_several_outcomes_and_sort_by_probability(study: Path) -> None:
    review = open_review(study)
    got = review.gallery("A", [review.explanations[0]], outcomes=["TP", "FN"], sort_by="probability")
    assert [e.image for e in got] == ["img/1.png", "img/5.png", "img/6.png", "img/3.png"]  # 0.9, 0.6, 0.45, 0.2
    up = review.gallery("A", [review.explanations[0]], outcomes=["TP", "FN"], descending=False)
    assert [e.image for e in up] == ["img/3.png", "img/6.png", "img/5.png", "img/1.png"]


@pytest.mark.parametrize(("threshold", "order"), [
    ("top:0.05", ["img/3.png", "img/6.png", "img/1.png", "img/5.png"]),  # 0.60, 0.45, 0.30, 0.10
    ("max:0.5", ["img/5.png", "img/3.png", "img/1.png", "img/6.png"]),   # 0.40, 0.20, 0.10, 0.00
    ("otsu", ["img/1.png", "img/5.png", "img/6.png", "img/3.png"]),      # 0.50, 0.25, 0.15, 0.05
])
def test_sort_by_iou_at_a_threshold(study: Path, threshold: str, order: list[str]) -> None:
    review = open_review(study)
    got = review.gallery("A", [review.explanations[0]], outcomes=["TP", "FN"], sort_by="iou", threshold=threshold)
    assert [e.image for e in got] == order
    assert got[0].iou(threshold) == max(IOU[("gradcam", i)][GRID.index(threshold)] for i in order)


def test_iou_policy_and_images_without_iou_last(study: Path) -> None:
    review = open_review(study)
    gc = review.explanations[0]
    # fused = 1 - mean in the store: the order at top:0.05 reverses
    fused = review.gallery("A", [gc], sort_by="iou", threshold="top:0.05", policy="fused")
    assert [e.image for e in fused][:4] == ["img/5.png", "img/1.png", "img/6.png", "img/3.png"]
    # FP/TN images (no ground-truth box) have no IoU: they follow, in image order
    assert [e.image for e in fused][4:] == ["img/2.png", "img/4.png"]
    assert fused[-1].iou("top:0.05", "fused") is None and fused[-1].n_gt_boxes == 0
    assert review.gallery("A", [gc], sort_by="iou", threshold="otsu", policy="best")[0].iou("otsu", "best") == \
        pytest.approx(0.51)


def test_side_by_side_sorts_by_the_first_explanation(study: Path) -> None:
    review = open_review(study)
    gc, sg = review.explanations
    got = review.gallery("A", [sg, gc], outcomes=["TP", "FN"], sort_by="iou", threshold="otsu")
    assert [e.image for e in got] == ["img/3.png", "img/5.png", "img/6.png", "img/1.png"]  # smoothgrad's order
    assert all(len(e.cells) == 2 for e in got)
    first = got[0]
    assert first.cells[0] is not None and first.cells[0].explanation == sg
    assert first.cells[1] is not None and first.cells[1].iou_at("otsu") == pytest.approx(0.05)  # gradcam's value


def test_bad_requests_are_typed_errors(study: Path, tmp_path: Path) -> None:
    review = open_review(study)
    gc = review.explanations[0]
    with pytest.raises(StudyError, match="TP, FP, FN, TN"):
        review.gallery("A", [gc], outcomes=["XX"])
    with pytest.raises(StudyError, match="not in the grid"):
        review.gallery("A", [gc], sort_by="iou", threshold="top:0.5")
    with pytest.raises(StudyError, match="no explanation"):
        review.gallery("A", [])
    with pytest.raises(StudyError, match="cannot sort"):
        review.gallery("A", [gc], sort_by="pointing")
    with pytest.raises(StudyError, match="stored no Δp"):  # a study without the perturbation block
        review.gallery("A", [gc], sort_by="delta_p", mode="mean", fraction=0.1)
    with pytest.raises(StudyError, match=r"no study\.json"):
        open_review(tmp_path / "empty")
    empty = tmp_path / "norows"
    empty.mkdir()
    (empty / "study.json").write_text(json.dumps({"models": []}))
    with pytest.raises(StudyError, match="no stored results"):
        open_review(empty)


def test_robustness_and_sanity_rows_are_not_gallery_explanations(study: Path) -> None:
    """Rows of other blocks (same model, method and class, no boxes) never become gallery columns or entries."""
    other = []
    for block, layer in (("robustness", "layer1.0"), ("sanity", "layer4")):
        row = _row("gradcam", layer, f"h-{block}", {"relu": True}, "img/1.png", "A")
        row.update(block=block, iou_mean=None, iou_best=None, iou_fused=None, n_pred_boxes=None, pointing=None)
        other.append(row)
    write_part(study, other)
    review = open_review(study)
    assert [e.label for e in review.explanations] == ["gradcam @ layer4", "smoothgrad"]
    assert len(review.gallery("A", review.explanations[:1], outcomes=OUTCOMES)) == len(KNOWN)

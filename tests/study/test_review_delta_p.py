"""The review gallery sorted by Δp: the perturbation block's rows of a hand-written store are matched
to the localisation explanation (same model, method, layer, parameters) and the images sorted by the
class's own Δp at a chosen mode and fraction; the gallery widget offers the sort and shows the Δp."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training.study import StudyError
from training.study.review import open_review
from training.study.store import write_part

SHA = "b" * 64
CLASSES = ["A", "B"]
MODES, FRACTIONS = ["mean", "blur"], [0.1, 0.5]
PARAMS = {"relu": True}
# image -> (p_A, label_A); A's own Δp per (mode, fraction) where A was a perturbation target
IMAGES = {"i1.png": (0.9, 1), "i2.png": (0.8, 1), "i3.png": (0.7, 0), "i4.png": (0.6, 1)}
OWN_DP = {  # image -> {(mode, fraction): Δp of A}
    "i1.png": {("mean", 0.1): 0.05, ("mean", 0.5): 0.30, ("blur", 0.1): 0.02, ("blur", 0.5): 0.10},
    "i2.png": {("mean", 0.1): 0.40, ("mean", 0.5): 0.10, ("blur", 0.1): 0.01, ("blur", 0.5): 0.20},
    "i4.png": {("mean", 0.1): -0.10, ("mean", 0.5): 0.50, ("blur", 0.1): 0.03, ("blur", 0.5): 0.00},
}  # i3: A was not a target (no Δp)


def _common(image: str, cls: str, block: str, phash: str) -> dict[str, Any]:
    p, label = IMAGES[image] if cls == "A" else (0.1, 0)
    return {"image": image, "model": SHA, "model_name": "m", "model_version": "1", "method": "gradcam",
            "layer": "layer4", "params_hash": phash, "params": json.dumps(PARAMS), "class": cls, "probability": p,
            "label": label, "predicted": p >= 0.5, "block": block}


def _rows() -> list[dict[str, Any]]:
    rows = []
    for image in IMAGES:
        for cls in CLASSES:
            loc = _common(image, cls, "localisation", "h-loc")
            loc.update({"n_gt_boxes": 0, "thresholds": ["otsu"]})
            rows.append(loc)
            pert = _common(image, cls, "perturbation", "h-pert")
            own = OWN_DP.get(image) if cls == "A" else None
            if own is not None:
                # Δp flattened mode x fraction x affected class; B's Δp is a decoy (-1) that must not be read
                flat = [own[(m, f)] if c == "A" else -1.0 for m in MODES for f in FRACTIONS for c in CLASSES]
                pert.update({"dp_modes": MODES, "dp_fractions": FRACTIONS, "dp_classes": CLASSES,
                             "dp_delta": flat, "dp_random": [0.0] * 4})
            rows.append(pert)
    return rows


@pytest.fixture()
def study(tmp_path: Path) -> Path:
    write_part(tmp_path, _rows())
    (tmp_path / "study.json").write_text(json.dumps({
        "study": {"name": "dp"}, "data": {"folder": str(tmp_path), "annotations": ""},
        "models": [{"sha256": SHA, "name": "m", "version": "1", "path": str(tmp_path / "no-bundle"),
                    "classes": CLASSES, "thresholds": [0.5, 0.5]}]}))
    return tmp_path


def test_gallery_sorts_by_the_class_own_delta_p_and_puts_non_targets_last(study: Path) -> None:
    review = open_review(study)
    (explanation,) = review.explanations  # the perturbation rows are not a second explanation
    assert review.delta_p_grid(explanation) == (("mean", "blur"), (0.1, 0.5))
    for mode, fraction in [("mean", 0.1), ("mean", 0.5), ("blur", 0.5)]:
        entries = review.gallery("A", [explanation], sort_by="delta_p", mode=mode, fraction=fraction)
        expected = [*sorted(OWN_DP, key=lambda i: -OWN_DP[i][mode, fraction]), "i3.png"]
        assert [e.image for e in entries] == expected
        assert [e.delta_p(mode, fraction) for e in entries] == [OWN_DP[i][(mode, fraction)] for i in expected[:3]] \
            + [None]
    ascending = review.gallery("A", [explanation], sort_by="delta_p", mode="mean", fraction=0.1, descending=False)
    assert [e.image for e in ascending] == ["i4.png", "i1.png", "i2.png", "i3.png"]
    only_tp = review.gallery("A", [explanation], outcomes=["TP"], sort_by="delta_p", mode="mean", fraction=0.5)
    assert [e.image for e in only_tp] == ["i4.png", "i1.png", "i2.png"]


def test_delta_p_sort_names_the_stored_grid_when_asked_for_another(study: Path) -> None:
    review = open_review(study)
    with pytest.raises(StudyError, match=r"modes mean, blur and fractions 0\.1, 0\.5"):
        review.gallery("A", list(review.explanations), sort_by="delta_p", mode="inpaint", fraction=0.1)


def test_gallery_widget_offers_the_delta_p_sort_and_shows_the_values(qtbot, study: Path) -> None:
    from PySide6 import QtCore

    from viewer.study_gallery import StudyGallery

    gallery = StudyGallery(open_review(study))
    qtbot.addWidget(gallery)
    gallery.class_combo.setCurrentText("A")
    assert gallery.dp_combo.count() == 4 and not gallery.dp_combo.isHidden()
    gallery.dp_combo.setCurrentIndex(gallery.dp_combo.findText("mean, top 0.5"))
    gallery.sort_combo.setCurrentIndex(gallery.sort_combo.findData("delta_p"))
    assert [e.image for e in gallery.model.entries] == ["i4.png", "i1.png", "i2.png", "i3.png"]
    text = gallery.model.data(gallery.model.index(0, 1), QtCore.Qt.ItemDataRole.DisplayRole)
    assert "Δp +0.500 (mean, 0.5)" in text
    last = gallery.model.data(gallery.model.index(3, 1), QtCore.Qt.ItemDataRole.DisplayRole)
    assert "Δp: not a target" in last
    gallery.close()

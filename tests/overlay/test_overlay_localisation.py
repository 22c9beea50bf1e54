"""Boxes cut from the map, and the IoU table against annotators and the user's own boxes."""

from __future__ import annotations

import numpy as np
import pytest
from overlay_helpers import explained

from engine.annotations import BoxAnnotation, Source
from engine.localise import iou, map_to_boxes
from plugins.explain_overlay import scores
from plugins.explain_overlay.panel import BOXES_LAYER, HEATMAP_LAYER

CLASS = "Cardiomegaly"  # phantom_00002 has Cardiomegaly boxes from R6, R11 and R13


def _show(qtbot, panel, cls=CLASS):
    explained(qtbot, panel)
    panel.probability_table.selectRow(panel.probability_table.row_of(cls))
    assert panel.host.state.selected_class == cls
    return panel.host.state.explanation


def _drawn(panel) -> np.ndarray:
    return np.array([b for b, _style in panel.host.canvas.boxes[BOXES_LAYER]], dtype=float).reshape(-1, 4)


def _mean_best(pred: np.ndarray, gt: list[tuple[float, ...]]) -> float:
    """Mean over GT boxes of the best IoU with any predicted box, by engine.localise.iou pairwise."""
    return float(np.mean([max((iou(p, g) for p in pred), default=0.0) for g in gt]))


def test_threshold_change_redraws_the_boxes_live(qtbot, ready):
    panel, state = ready, ready.host.state
    result = _show(qtbot, panel)
    heat = result.map(CLASS, "image")
    for kind, value, spec in (("fraction_of_max", 0.5, "max:0.5"), ("top_fraction", 0.2, "top:0.2"),
                              ("otsu", None, "otsu")):
        control = panel.threshold_control
        control.kind.setCurrentIndex(control.kind.findData(kind))
        if value is not None:
            control.value.setValue(value)
        assert state.threshold == spec
        np.testing.assert_allclose(_drawn(panel), map_to_boxes(heat, spec))
        assert state.localisation.threshold == spec and state.localisation.class_name == CLASS
    small = map_to_boxes(heat, "top:0.01")
    control.kind.setCurrentIndex(control.kind.findData("top_fraction"))
    control.value.setValue(0.01)
    area = lambda b: float(((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).sum())  # noqa: E731
    assert area(_drawn(panel)) == pytest.approx(area(small))
    assert area(small) < area(map_to_boxes(heat, "top:0.2"))


def test_iou_table_equals_pairwise_iou_against_each_annotator(qtbot, ready):
    panel, state = ready, ready.host.state
    _show(qtbot, panel)
    pred = _drawn(panel)
    gt: dict[str, list[tuple[float, ...]]] = {}
    for box in state.ground_truth.boxes:
        if box.class_name == CLASS:
            gt.setdefault(box.annotator, []).append(box.as_tuple())
    assert sorted(gt) == ["R11", "R13", "R6"]
    for annotator, boxes in gt.items():
        assert panel.iou_table.value(f"gt:{annotator}") == pytest.approx(_mean_best(pred, boxes))
    pooled = [b for boxes in gt.values() for b in boxes]
    assert panel.iou_table.value("gt:mean") == pytest.approx(_mean_best(pred, pooled))
    assert panel.iou_table.value("gt:best") == pytest.approx(max(iou(p, g) for p in pred for g in pooled))
    assert 0.0 <= panel.iou_table.value("gt:fused") <= 1.0
    assert panel.iou_table.text("pointing") in ("hit", "miss")
    assert 0.0 <= panel.iou_table.value("energy") <= 1.0
    assert panel.iou_table.value("user:mean") is None  # no user box yet


def test_user_box_changes_the_user_row_and_undo_restores_it(qtbot, ready):
    panel, state = ready, ready.host.state
    _show(qtbot, panel)
    pred = _drawn(panel)
    assert panel.iou_table.text("user:mean") == "no box of this class"
    mine = BoxAnnotation(CLASS, 170.0, 215.0, 390.0, 352.0, annotator="me", source=Source.USER,
                         image_id=state.user_boxes.image_id)
    state.edit_user_boxes(state.user_boxes.added(mine), "Add box")
    expected = max(iou(p, mine.as_tuple()) for p in pred)
    assert expected > 0
    assert panel.iou_table.value("user:mean") == pytest.approx(expected)
    assert panel.iou_table.value("user:best") == pytest.approx(expected)
    assert state.localisation.user is not None
    # a user box of another class does not count for this one
    other = BoxAnnotation("Pneumothorax", 10, 10, 60, 60, annotator="me", source=Source.USER)
    state.edit_user_boxes(state.user_boxes.added(other), "Add box")
    assert panel.iou_table.value("user:mean") == pytest.approx(expected)
    state.undo()
    state.undo()
    assert panel.iou_table.text("user:mean") == "no box of this class"
    assert state.localisation.user is None
    state.redo()
    assert panel.iou_table.value("user:mean") == pytest.approx(expected)


def test_class_without_ground_truth_says_so(qtbot, ready):
    panel = ready
    _show(qtbot, panel, "Pneumothorax")  # no Pneumothorax box on phantom_00002
    assert panel.iou_table.text("gt:none") == "no box of this class"
    with pytest.raises(KeyError):
        panel.iou_table.value("pointing")


def test_large_images_are_drawn_and_localised_in_the_worker(qtbot, ready, monkeypatch):
    panel, state = ready, ready.host.state
    monkeypatch.setattr(scores, "INLINE_PIXELS", 0)
    result = _show(qtbot, panel)
    overlays = panel.host.canvas.overlays
    qtbot.waitUntil(lambda: HEATMAP_LAYER in overlays, timeout=5000)
    assert overlays[HEATMAP_LAYER].shape == (*state.image.display.shape[:2], 4)
    qtbot.waitUntil(lambda: state.localisation is not None and state.localisation.class_name == CLASS, timeout=5000)
    control = panel.threshold_control
    control.kind.setCurrentIndex(control.kind.findData("fraction_of_max"))
    control.value.setValue(0.3)
    qtbot.waitUntil(lambda: state.localisation.threshold == "max:0.3", timeout=5000)
    np.testing.assert_allclose(_drawn(panel), map_to_boxes(result.map(CLASS, "image"), "max:0.3"))


def test_box_options_union_largest_and_minimum_area(qtbot, ready):
    panel, state = ready, ready.host.state
    result = _show(qtbot, panel)
    heat = result.map(CLASS, "image")
    control = panel.threshold_control
    control.kind.setCurrentIndex(control.kind.findData("top_fraction"))
    control.value.setValue(0.2)
    for mode in ("union", "largest", "all"):
        control.box_mode.setCurrentIndex(control.box_mode.findData(mode))
        np.testing.assert_allclose(_drawn(panel), map_to_boxes(heat, "top:0.2", mode=mode))
        assert state.localisation.extra["box_mode"] == mode
    assert len(map_to_boxes(heat, "top:0.2", mode="union")) == 1
    control.min_area.setValue(999_999)  # larger than the image: nothing is left
    assert _drawn(panel).shape == (0, 4) and state.localisation.extra["min_area"] == 999_999
    assert panel.iou_table.value("gt:mean") == 0.0
    assert panel.host.settings.values["box_mode"] == "all" and panel.host.settings.values["min_area"] == 999_999


def test_dragging_the_threshold_slider_recuts_the_boxes(qtbot, ready):
    panel, state = ready, ready.host.state
    result = _show(qtbot, panel)
    heat = result.map(CLASS, "image")
    control = panel.threshold_control
    control.kind.setCurrentIndex(control.kind.findData("top_fraction"))
    for percent in (2, 10, 50):
        control.slider.setValue(percent)
        spec = f"top:{percent / 100:g}"
        assert control.value.value() == pytest.approx(percent / 100)
        assert state.threshold == spec and state.localisation.threshold == spec
        np.testing.assert_allclose(_drawn(panel), map_to_boxes(heat, spec))
    control.value.setValue(0.2)  # the box and the slider show the same fraction
    assert control.slider.value() == 20
    control.kind.setCurrentIndex(control.kind.findData("otsu"))
    assert not control.slider.isEnabled() and state.threshold == "otsu"

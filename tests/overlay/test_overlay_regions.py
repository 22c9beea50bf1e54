"""The panel lists each box cut from the map in words, under the IoU table, and keeps it in step."""

from __future__ import annotations

import numpy as np
import pytest
from overlay_helpers import explained

from engine.localise import iou
from plugins.explain_overlay.panel import BOXES_LAYER

CLASS = "Cardiomegaly"  # phantom_00002: a PA film (PatientOrientation L\F) with Cardiomegaly GT boxes


def test_region_sentences_follow_the_boxes(qtbot, ready):
    panel, state = ready, ready.host.state
    explained(qtbot, panel)
    panel.probability_table.selectRow(panel.probability_table.row_of(CLASS))
    assert tuple(state.image.metadata.patient_orientation) == ("L", "F")
    boxes = np.array([b for b, _s in panel.host.canvas.boxes[BOXES_LAYER]], float).reshape(-1, 4)
    texts = panel.region_list.texts()
    assert len(texts) == len(boxes) > 0 and panel.region_list.isVisibleTo(panel)
    assert panel.region_list.note().startswith("Patient's side from PatientOrientation L\\F")
    width = state.image.shape[1]
    gt = [b.as_tuple() for b in state.ground_truth.boxes if b.class_name == CLASS]
    for i, (box, text) in enumerate(zip(boxes, texts, strict=True), 1):
        assert text.startswith(f"Region {i} ({CLASS}): ")
        assert "mm² highlighted" in text and "(from PatientOrientation)" in text
        left = (min(box[2], width / 2) - min(box[0], width / 2)) / (box[2] - box[0])  # share on the image's left
        if left >= 0.75:
            assert "patient's right" in text  # a PA film shows the patient's right on the image's left
        elif left <= 0.25:
            assert "patient's left" in text
        else:
            assert "across the midline" in text
        best = max(iou(box, g) for g in gt)
        assert f"IoU {best:.2f} with the best ground-truth box" in text
    control = panel.threshold_control
    control.kind.setCurrentIndex(control.kind.findData("top_fraction"))
    control.value.setValue(0.01)
    qtbot.waitUntil(lambda: len(panel.region_list.texts()) == len(panel.host.canvas.boxes[BOXES_LAYER]))
    assert panel.region_list.texts() != texts
    state.update(selected_class=None)
    assert panel.region_list.texts() == [] and not panel.region_list.isVisibleTo(panel)
    assert panel.region_list.note() == ""


@pytest.mark.parametrize("text", [["Region 1 (x): image left <b>"]])
def test_region_list_escapes_text(qtbot, text):
    from plugins.explain_overlay.regions import RegionList

    widget = RegionList()
    qtbot.addWidget(widget)
    widget.set_regions(text)
    assert "&lt;b&gt;" in widget.text() and widget.texts() == text

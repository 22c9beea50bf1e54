"""The explanation panel with a regression model: value and unit, and a raises/lowers switch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from overlay_helpers import explained, open_demo

from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest
from plugins.explain_overlay import scores
from plugins.explain_overlay.presenter import HEATMAP_LAYER


@pytest.fixture(scope="module")
def ctr_model() -> LoadedModel:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=1)
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    manifest = ModelManifest.from_dict({
        "name": "ctr-view", "version": "1", "architecture": "resnet18", "task": "regression",
        "outputs": [{"name": "Cardiothoracic ratio", "unit": "ratio"}], "in_channels": 1, "input_size": [96, 96],
        "mean": [0.5], "std": [0.25], "target_layer": "layer3"})
    return LoadedModel.from_module(net, manifest)


def test_panel_shows_the_value_and_switches_direction(qtbot: Any, host: Any, make_panel: Any,
                                                      ctr_model: LoadedModel) -> None:
    host.state.update(model=ctr_model)
    open_demo(host, "phantom_00002")
    panel = make_panel()
    qtbot.waitUntil(lambda: panel.method_chooser.layers.count() > 0, timeout=10000)
    assert not panel.direction_switch.isVisibleTo(panel) and panel.prob_box.title() == "Probabilities"
    result = explained(qtbot, panel)
    state = host.state
    assert result.is_regression and result.direction == "raises" and state.selected_class == "Cardiothoracic ratio"
    table = panel.probability_table
    assert table.horizontalHeaderItem(1).text() == "Value" and panel.prob_box.title() == "Predicted values"
    assert float(table.item(0, 1).data(0x0100)) == pytest.approx(result.value(0))
    assert table.item(0, 2).text() == "ratio"
    assert "= " in panel.score_label.text() and "raises" in panel.score_label.text()
    assert panel.direction_switch.isVisibleTo(panel)
    qtbot.waitUntil(lambda: state.localisation is not None, timeout=10000)
    raised = host.canvas.overlays[HEATMAP_LAYER].copy()
    raised_loc = state.localisation
    panel.direction_switch.buttons["lowers"].setChecked(True)
    assert state.explanation.direction == "lowers" and "lowers" in panel.score_label.text()
    qtbot.waitUntil(lambda: state.localisation is not None and state.localisation is not raised_loc, timeout=10000)
    name = "Cardiothoracic ratio"
    box_mode, min_area = panel.presenter.box_options()
    expected = scores.localise_class(result.directed("lowers"), name, state.threshold, state.ground_truth,
                                     state.user_boxes, box_mode, min_area)
    np.testing.assert_array_equal(np.asarray(state.localisation.boxes), np.asarray(expected.boxes))
    lowered = host.canvas.overlays[HEATMAP_LAYER]
    assert not np.array_equal(raised, lowered)
    np.testing.assert_array_equal(state.explanation.native_maps, result.direction_maps["lowers"])
    # a new explanation keeps the chosen direction
    again = explained(qtbot, panel)
    assert again.direction == "lowers"
    panel.direction_switch.buttons["raises"].setChecked(True)
    assert state.explanation.direction == "raises"
    qtbot.waitUntil(lambda: bool(panel.iou_table.rows()), timeout=10000)
    assert not any(row.key == "call" for row in panel.iou_table.rows())  # a value has no positive/negative call
    state.update(explanation=None)  # a classifier's result or none: the switch goes
    assert not panel.direction_switch.isVisibleTo(panel) and table.horizontalHeaderItem(1).text() == "p"
    assert host.errors == []


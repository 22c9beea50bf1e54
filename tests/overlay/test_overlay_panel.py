"""The explanation panel against a fake host: run, probability table, overlay, display settings."""

from __future__ import annotations

import numpy as np
import pytest
from overlay_helpers import explained, open_demo
from PySide6.QtCore import Qt

from engine.render import colormap_lut
from plugins.explain_overlay.panel import HEATMAP_LAYER
from plugins.explain_overlay.rendering import display_map


def test_run_fills_the_probability_table_with_every_class(qtbot, ready, default_model):
    panel, state = ready, ready.host.state
    assert panel.objectName() == "explanation"
    result = explained(qtbot, panel)
    assert result.method == "gradcam" and result.layers == (default_model.manifest.target_layer,)
    table = panel.probability_table
    assert sorted(table.class_names()) == sorted(default_model.class_names)
    manifest = default_model.manifest
    for i, name in enumerate(default_model.class_names):
        row = table.row_values(name)
        assert row["probability"] == pytest.approx(float(result.probabilities[i]), abs=1e-6)
        assert 0.0 <= row["probability"] <= 1.0
        assert row["threshold"] == pytest.approx(manifest.threshold(i))
        assert row["positive"] == (float(result.probabilities[i]) >= manifest.threshold(i))
    # the first class shown is the most probable positive one (or the most probable at all)
    probs = dict(zip(result.class_names, result.probabilities, strict=True))
    positive = [c for c in result.class_names if c in result.predicted()]
    assert state.selected_class == max(positive or list(probs), key=probs.__getitem__)
    assert table.selected_class() == state.selected_class
    # the map of the selected class is drawn over the image, same pixel grid
    rgba = panel.host.canvas.overlays[HEATMAP_LAYER]
    assert rgba.dtype == np.uint8 and rgba.shape == (*state.image.display.shape[:2], 4)
    assert (rgba[..., 3] > 0).any()
    assert "per-map min-max" in panel.display_controls.legend.text()
    assert panel.host.errors == []


def test_table_sorts_by_probability(qtbot, ready):
    result = explained(qtbot, ready)
    table = ready.probability_table
    table.sortItems(1, Qt.SortOrder.DescendingOrder)
    shown = [table.row_values(c)["probability"] for c in table.class_names()]
    assert shown == sorted(shown, reverse=True)
    assert len(shown) == len(result.class_names)


def test_selecting_a_row_sets_the_class_and_its_overlay(qtbot, ready):
    panel, state = ready, ready.host.state
    result = explained(qtbot, panel)
    other = next(c for c in result.class_names if c != state.selected_class)
    before = panel.host.canvas.overlays[HEATMAP_LAYER]
    panel.probability_table.selectRow(panel.probability_table.row_of(other))
    assert state.selected_class == other
    after = panel.host.canvas.overlays[HEATMAP_LAYER]
    assert after.shape == before.shape and not np.array_equal(after, before)


def test_heatmap_colours_follow_the_colour_map_and_opacity(qtbot, ready):
    panel, state = ready, ready.host.state
    result = explained(qtbot, panel)
    dc = panel.display_controls
    dc.mode.setCurrentIndex(dc.mode.findData("heatmap"))
    dc.colormap.setCurrentIndex(dc.colormap.findData("viridis"))
    dc.opacity.setValue(60)
    qtbot.waitUntil(lambda: panel.host.settings.values.get("opacity") == pytest.approx(0.6), timeout=2000)
    qtbot.wait(80)  # the overlay refresh is coalesced
    rgba = panel.host.canvas.overlays[HEATMAP_LAYER]
    heat, _scale = display_map(result, state.selected_class)
    lut = colormap_lut("viridis")
    expected = lut[np.floor(np.clip(heat, 0, 1) * 255).astype(int)]
    assert np.array_equal(rgba[..., :3], expected)
    assert (rgba[..., 3] == round(0.6 * 255)).all()
    assert panel.host.settings.values["colormap"] == "viridis"
    assert panel.host.settings.values["display_mode"] == "heatmap"
    # the report draws with what is on screen: the look is in the viewer state
    assert (state.colormap, state.opacity) == ("viridis", pytest.approx(0.6))
    # outline: iso-lines only, most of the image stays clear
    dc.mode.setCurrentIndex(dc.mode.findData("outline"))
    qtbot.wait(80)
    outline = panel.host.canvas.overlays[HEATMAP_LAYER]
    drawn = outline[..., 3] > 0
    assert 0 < drawn.mean() < 0.2


def test_choices_persist_in_settings_and_restore(qtbot, ready, make_panel):
    panel = ready
    chooser = panel.method_chooser
    chooser.method.setCurrentIndex(chooser.method.findData("smoothgrad"))
    values = panel.host.settings.values
    assert values["method"] == "smoothgrad"
    assert values["params"]["smoothgrad"]["n"] == 50  # SPEC §3 research default
    panel.threshold_control.kind.setCurrentIndex(panel.threshold_control.kind.findData("otsu"))
    assert values["threshold"] == "otsu" and panel.host.state.threshold == "otsu"
    second = make_panel()
    assert second.method_chooser.method_name() == "smoothgrad"
    assert second.threshold_control.spec() == "otsu"


def test_auto_run_explains_each_opened_image(qtbot, ready):
    panel, state = ready, ready.host.state
    panel.auto_run.setChecked(True)
    open_demo(panel.host, "phantom_00003")
    qtbot.waitUntil(lambda: state.explanation is not None, timeout=20000)
    assert state.explanation.geometry.image_size == state.image.display.shape[:2]
    assert panel.host.settings.values["auto_run"] is True

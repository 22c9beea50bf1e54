"""Recolouring and switching class reuse the index images kept with the result (issue #19)."""

from __future__ import annotations

import numpy as np
import pytest
from overlay_helpers import explained

from engine.render import heat_palette, lut_index, outline_index, outline_palette
from plugins.explain_overlay.presenter import HEATMAP_LAYER, OUTLINE_LAYER
from plugins.explain_overlay.rendering import display_map


def test_recolour_and_mode_changes_reuse_the_index_images(qtbot, ready):
    panel, state = ready, ready.host.state
    result = explained(qtbot, panel)
    cls = state.selected_class
    dc, canvas = panel.display_controls, panel.host.canvas
    dc.mode.setCurrentIndex(dc.mode.findData("both"))
    qtbot.waitUntil(lambda: OUTLINE_LAYER in canvas.overlays, timeout=3000)
    heat, lines = result.derived[("overlay.heat", cls)], result.derived[("overlay.outline", cls)]
    m01 = display_map(result, cls)[0]
    np.testing.assert_array_equal(heat, lut_index(m01))
    np.testing.assert_array_equal(lines, outline_index(m01))
    for cmap, opacity in [("viridis", 60), ("inferno", 25)]:
        dc.colormap.setCurrentIndex(dc.colormap.findData(cmap))
        dc.opacity.setValue(opacity)
        qtbot.wait(80)  # the refresh is coalesced
        # the same arrays, recoloured: palette[index] is what the canvas shows
        assert result.derived[("overlay.heat", cls)] is heat and result.derived[("overlay.outline", cls)] is lines
        np.testing.assert_array_equal(canvas.overlays[HEATMAP_LAYER], heat_palette(cmap, opacity / 100)[heat])
        want = outline_palette(cmap, min(1.0, 2 * opacity / 100))[lines]
        np.testing.assert_array_equal(canvas.overlays[OUTLINE_LAYER], want)
    dc.mode.setCurrentIndex(dc.mode.findData("heatmap"))
    qtbot.wait(80)
    assert OUTLINE_LAYER not in canvas.overlays and HEATMAP_LAYER in canvas.overlays
    assert state.opacity == pytest.approx(0.25)

"""The side-by-side comparison window: two explanations of the same image, views linked."""

from __future__ import annotations

import numpy as np
from overlay_helpers import explained

from plugins.explain_overlay.rendering import display_map, overlay_rgba


def test_two_methods_side_by_side_with_linked_views(qtbot, ready):
    panel, state = ready, ready.host.state
    explained(qtbot, panel)
    window = panel.open_comparison()
    assert window is panel.open_comparison()  # one window, raised again
    window.set_choice("left", method="gradcam", cls="Cardiomegaly")
    window.set_choice("right", method="layercam", layer="layer3", cls="Cardiomegaly")
    window.run()
    left, right = window.sides["left"], window.sides["right"]
    qtbot.waitUntil(lambda: left.result is not None and right.result is not None, timeout=20000)
    assert left.result.method == "gradcam" and left.result.layers == ("layer4",)
    assert right.result.method == "layercam" and right.result.layers == ("layer3",)
    h, w = state.image.display.shape[:2]
    for side in (left, right):
        assert side.image_item.image.shape[:2] == (h, w)
        assert side.overlay_item.image.shape == (h, w, 4)
        assert "Cardiomegaly: p = " in side.caption.text()
    dc = panel.display_controls
    expected = overlay_rgba(display_map(right.result, "Cardiomegaly")[0], dc.display_mode(), dc.cmap(),
                            dc.opacity_value())
    assert np.array_equal(right.overlay_item.image, expected)
    # panning or zooming one view moves the other
    left.view.setRange(xRange=(100, 200), yRange=(150, 250), padding=0)
    qtbot.wait(20)
    np.testing.assert_allclose(right.view.viewRange()[0], left.view.viewRange()[0], atol=1e-6)
    np.testing.assert_allclose(right.view.viewRange()[1], left.view.viewRange()[1], atol=1e-6)
    # changing only the class re-uses the result (no new run) and redraws
    result = right.result
    window.set_choice("right", cls="Pleural effusion")
    assert right.result is result and "Pleural effusion" in right.caption.text()
    window.close()

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
    window.set_choice("right", method="layercam", layer="layer4", cls="Cardiomegaly")
    window.run()
    left, right = window.sides["left"], window.sides["right"]
    qtbot.waitUntil(lambda: left.result is not None and right.result is not None, timeout=20000)
    assert left.result.method == "gradcam" and left.result.layers == (state.model.manifest.target_layer,) == ("layer3",)
    assert right.result.method == "layercam" and right.result.layers == ("layer4",)
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


def _truth(side):
    return sorted((item.box, item.style.label, item.style.dashed) for item in side.truth_items)


def test_each_view_shows_the_truth_of_its_class_and_the_users_boxes(qtbot, ready):
    from engine.annotations import BoxAnnotation, Source

    panel, state = ready, ready.host.state
    window = panel.open_comparison()
    window.set_choice("left", cls="Cardiomegaly")
    window.set_choice("right", cls="Pleural effusion")
    left, right = window.sides["left"], window.sides["right"]
    for side, cls in ((left, "Cardiomegaly"), (right, "Pleural effusion")):
        expected = sorted((b.as_tuple(), b.annotator, False) for b in state.ground_truth.boxes if b.class_name == cls)
        assert expected and _truth(side) == expected
    mine = BoxAnnotation("Cardiomegaly", 10.0, 20.0, 60.0, 90.0, annotator="me", source=Source.USER)
    state.edit_user_boxes(state.user_boxes.added(mine), "Draw box")
    assert ((10.0, 20.0, 60.0, 90.0), "yours · me", True) in _truth(left)
    assert all(not dashed for _b, _l, dashed in _truth(right))  # not of the right side's class
    state.undo()
    assert all(not dashed for _b, _l, dashed in _truth(left))
    window.close()


def test_a_large_image_is_drawn_off_the_gui_thread_with_the_overlays_look(qtbot, ready, monkeypatch):
    """The comparison draws through the presenter like the canvas overlay: for a large image on the
    job runner, never on the GUI thread, and with the look in ``state.overlay``."""
    import threading

    from plugins.explain_overlay import presenter, scores

    panel, state = ready, ready.host.state
    explained(qtbot, panel)
    monkeypatch.setattr(scores, "INLINE_PIXELS", 0)  # every image counts as large
    threads: list[int] = []
    real = presenter.render

    def recording(*args):
        threads.append(threading.get_ident())
        return real(*args)

    monkeypatch.setattr(presenter, "render", recording)
    state.overlay.update(mode="heatmap", colormap="viridis", opacity=0.7)
    window = panel.open_comparison()
    window.set_choice("right", method="gradcam", cls="Cardiomegaly")
    window.run()
    right = window.sides["right"]
    qtbot.waitUntil(lambda: right.result is not None and right.overlay_item.image is not None, timeout=20000)
    gui = threading.get_ident()
    assert threads and gui not in threads
    expected = overlay_rgba(display_map(right.result, "Cardiomegaly")[0], "heatmap", "viridis", 0.7)
    assert np.array_equal(right.overlay_item.image, expected)
    state.overlay.update(mode="outline")  # the look changes: the side is drawn again with it
    outline = overlay_rgba(display_map(right.result, "Cardiomegaly")[0], "outline", "viridis", 0.7)
    qtbot.waitUntil(lambda: np.array_equal(right.overlay_item.image, outline), timeout=10000)
    window.close()

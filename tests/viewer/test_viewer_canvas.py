"""The canvas alone: rate-limited window/level, screen-resolution preview while dragging, layers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.io import Window
from engine.io.model import make_image
from plugins.api import BoxStyle


@pytest.fixture()
def canvas(qtbot):
    from viewer.app import application
    from viewer.canvas import Canvas

    application()
    c = Canvas()
    qtbot.addWidget(c)
    c.resize(600, 500)
    c.show()
    raw = np.arange(1500 * 1200, dtype=np.float32).reshape(1500, 1200) % 4096
    image = make_image(raw=raw, path="big.dcm", kind="dicom", window=Window(2048, 4096), windows=(Window(2048, 4096),))
    c.show_image(image)
    qtbot.wait(20)
    return c


def test_drag_events_are_coalesced_and_the_latest_value_wins(canvas, qtbot):
    before = canvas.model.window
    renders = []
    canvas.model.listen(lambda name, value: renders.append(value) if name == "window" else None)
    for _ in range(10):
        canvas.view.on_window_drag(2.0, 0.0, False)
    assert renders == []  # nothing applied inside the frame
    qtbot.waitUntil(lambda: len(renders) == 1, timeout=1000)
    qtbot.wait(40)
    assert len(renders) == 1
    one_step = canvas.model.window.width - before.width
    canvas.view.on_window_drag(2.0, 0.0, True)  # release: applied at once
    assert len(renders) == 2
    assert canvas.model.window.width - before.width == pytest.approx(one_step * 11 / 10)


def test_preview_while_dragging_full_resolution_after(canvas, qtbot):
    assert canvas.zoom_factor() < 0.5  # 1500 px image in a 500 px view
    canvas.view.on_window_drag(5.0, 0.0, False)
    canvas._flush_window_drag()
    preview = canvas.image_item.image
    assert preview.shape[0] < 1500
    assert preview.shape[0] * canvas.image_item.transform().m22() == pytest.approx(1500, abs=3)
    canvas.view.on_window_drag(5.0, 0.0, True)
    assert canvas.image_item.image.shape == (1500, 1200)
    assert canvas.image_item.transform().m22() == pytest.approx(1.0)


def test_layers_and_display_override(canvas):
    rgba = np.zeros((1500, 1200, 4), np.uint8)
    canvas.set_image_overlay("p:heat", rgba)
    canvas.set_boxes("p:boxes", [((1, 2, 30, 40), BoxStyle(label="a")), ((1, 2, 31, 41), BoxStyle(label="b"))])
    assert canvas.layer_keys() == {"overlays": ["p:heat"], "boxes": ["p:boxes"], "overrides": []}
    canvas.set_display_override("p:perturbed", np.full((1500, 1200), 0.5, np.float32))
    assert canvas.image_item.image.dtype == np.uint8 and int(canvas.image_item.image[0, 0]) == 128
    with pytest.raises(ValueError):
        canvas.set_display_override("p:bad", np.zeros((3, 3), np.float32))
    canvas.set_display_override("p:perturbed", None)
    canvas.set_image_overlay("p:heat", None)
    canvas.set_boxes("p:boxes", None)
    assert canvas.layer_keys() == {"overlays": [], "boxes": [], "overrides": []}
    assert canvas.image_item.image.dtype == np.uint16  # back to the windowed study image


def test_pixel_value_and_orientation_mapping(canvas):
    assert canvas.pixel_value(10.5, 3.2) == float(canvas.image.raw[3, 10])
    assert canvas.pixel_value(-1, 0) is None and canvas.pixel_value(1200, 0) is None
    canvas.rotate(1)
    from PySide6 import QtCore

    scene = canvas.group.mapToScene(QtCore.QPointF(10.5, 3.5))
    assert canvas.to_image(scene) == pytest.approx((10.5, 3.5))

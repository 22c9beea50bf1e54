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


def test_indexed_overlay_recolours_through_its_palette(canvas):
    from PySide6 import QtGui

    index = np.zeros((1500, 1200), np.uint8)
    index[:, 600:] = 200
    red, blue = np.zeros((256, 4), np.uint8), np.zeros((256, 4), np.uint8)
    red[200] = (255, 0, 0, 255)
    blue[200] = (0, 0, 255, 255)
    canvas.set_indexed_overlay("p:heat", index, red)
    item = canvas._overlays["p:heat"]
    item.render()
    assert item.qimage.format() == QtGui.QImage.Format.Format_Indexed8  # no RGBA copy of the image
    assert QtGui.QColor(item.qimage.pixel(900, 10)).getRgb() == (255, 0, 0, 255)
    assert QtGui.QColor.fromRgba(item.qimage.pixel(10, 10)).alpha() == 0
    canvas.set_indexed_overlay("p:heat", index, blue)  # same index: only the colour table changes
    assert canvas._overlays["p:heat"] is item
    item.render()
    assert QtGui.QColor(item.qimage.pixel(900, 10)).getRgb() == (0, 0, 255, 255)
    other = index.copy()
    canvas.set_indexed_overlay("p:heat", other, blue)  # another index image: a new layer
    assert canvas._overlays["p:heat"] is not item
    canvas.set_indexed_overlay("p:heat", None, blue)
    assert canvas.layer_keys()["overlays"] == []


def test_pixel_value_and_orientation_mapping(canvas):
    assert canvas.pixel_value(10.5, 3.2) == float(canvas.image.raw[3, 10])
    assert canvas.pixel_value(-1, 0) is None and canvas.pixel_value(1200, 0) is None
    canvas.rotate(1)
    from PySide6 import QtCore

    scene = canvas.group.mapToScene(QtCore.QPointF(10.5, 3.5))
    assert canvas.to_image(scene) == pytest.approx((10.5, 3.5))


def test_box_labels_do_not_overlap_and_stay_inside_the_image(canvas):
    """Labels of boxes sharing a corner go elsewhere (engine.render.place_labels); every plate lies
    inside the image and no two plates overlap, at the zoom they were placed at."""
    from viewer.box_items import label_size

    same = (0.0, 5.0, 300.0, 400.0)  # four boxes on one spot, one at the image's top edge
    boxes = [(same, BoxStyle(label=f"R{i} Cardiomegaly")) for i in range(4)]
    boxes.append(((900.0, 1300.0, 1199.0, 1499.0), BoxStyle(label="bottom right")))
    boxes.append(((50.0, 50.0, 60.0, 60.0), BoxStyle()))  # no label: takes no room
    canvas.set_boxes("test", boxes)
    items = canvas._box_layers["test"]
    pixel = 1.0 / canvas.zoom_factor()
    rects = []
    for item, (_box, style) in zip(items, boxes, strict=True):
        if not style.label:
            assert item.label_at is None
            continue
        w, h = label_size(style.label)
        x, y = item.label_at
        rects.append((x, y, x + w * pixel, y + h * pixel))
    assert len(rects) == 5
    for x0, y0, x1, y1 in rects:
        assert -1e-6 <= x0 and -1e-6 <= y0 and x1 <= 1200 + 1e-6 and y1 <= 1500 + 1e-6
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert not (a[0] < b[2] - 1e-6 and b[0] < a[2] - 1e-6 and a[1] < b[3] - 1e-6 and b[1] < a[3] - 1e-6), (a, b)

"""The main window on the demo study: W/L drag, box tool with undo/redo and sidecar, ruler, close."""

from __future__ import annotations

import json
import threading

import pytest
from PySide6 import QtCore, QtWidgets
from viewer_helpers import drag

from engine.annotations import Source, find_sidecar, read_sidecar


def test_opens_the_demo_study_with_ground_truth_and_browser(open_window, qtbot):
    w = open_window
    qtbot.waitUntil(lambda: len(w.browser.image_paths()) == 6, timeout=10000)
    assert w.state.image.shape == (512, 512)
    assert w.state.image_path.name == "phantom_00000.dcm"
    # phantom_00000 has three Pneumothorax boxes from R11, R12, R14 in train.csv
    assert sorted(b.annotator for b in w.state.ground_truth.boxes) == ["R11", "R12", "R14"]
    assert w.canvas.layer_keys()["boxes"] == ["ground_truth"]
    assert "not for diagnostic use" in w.status.research.text().lower()
    assert "RadLens phantom ResNet-18" in w.status.model.text()
    items = [w.browser._items[p] for p in w.browser.image_paths()]
    qtbot.waitUntil(lambda: all(not item.icon(0).isNull() for item in items), timeout=15000)  # thumbnails


def test_right_drag_changes_window_and_levels(open_window, qtbot):
    w = open_window
    before = w.canvas.model.window
    levels_before = tuple(w.canvas.image_item.levels)
    drag(qtbot, w, (200, 200), (320, 260), QtCore.Qt.MouseButton.RightButton)
    qtbot.waitUntil(lambda: w.canvas.model.window != before, timeout=3000)
    after = w.canvas.model.window
    assert after.width > before.width  # dragged right: wider
    assert after.center > before.center  # dragged down: higher level
    assert tuple(w.canvas.image_item.levels) != levels_before
    assert w.state.user_boxes.boxes == ()  # a right drag draws nothing


def test_box_drawn_by_mouse_is_undoable_and_autosaved(open_window, qtbot):
    w = open_window
    w.set_tool("box")
    w.canvas.model.set(box_class="Cardiomegaly")
    drag(qtbot, w, (100, 120), (260, 300), QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(w.state.user_boxes.boxes) == 1, timeout=3000)
    box = w.state.user_boxes.boxes[0]
    assert box.class_name == "Cardiomegaly" and box.source == Source.USER
    assert box.x0 == pytest.approx(100, abs=2) and box.y0 == pytest.approx(120, abs=2)
    assert box.x1 == pytest.approx(260, abs=2) and box.y1 == pytest.approx(300, abs=2)
    path = w.state.image_path
    saved = read_sidecar(path).annotations
    assert [b.id for b in saved.boxes] == [box.id]
    assert w.state.undo()
    assert w.state.user_boxes.boxes == ()
    assert read_sidecar(path).annotations.boxes == ()  # undo is saved too
    w.actions_by_id["redo"].trigger()
    assert [b.id for b in w.state.user_boxes.boxes] == [box.id]
    assert [b.id for b in read_sidecar(path).annotations.boxes] == [box.id]
    # reopening the image loads the box back from the sidecar
    w.open_image(w.browser.image_paths()[1] if len(w.browser.image_paths()) > 1 else path)
    w.open_image(path)
    assert [b.id for b in w.state.user_boxes.boxes] == [box.id]


def test_box_moves_resizes_and_deletes_through_state(open_window, qtbot):
    w = open_window
    box = w.layer.add_box((50.0, 60.0, 150.0, 200.0))
    w.layer.redraw()
    roi = w.layer._rois[box.id]
    roi.setPos(QtCore.QPointF(70, 80), finish=True)
    qtbot.waitUntil(lambda: w.state.user_boxes.get(box.id).x0 == 70, timeout=2000)
    moved = w.state.user_boxes.get(box.id)
    assert (moved.y0, moved.x1, moved.y1) == (80, 170, 220)
    w.canvas.model.set(selected_box=box.id)
    w.actions_by_id["delete_box"].trigger()
    assert w.state.user_boxes.boxes == ()
    w.state.undo()
    assert w.state.user_boxes.get(box.id).x0 == 70
    w.state.undo()
    assert w.state.user_boxes.get(box.id).x0 == 50


def test_ruler_measures_in_mm_with_its_spacing_source(open_window, qtbot):
    w = open_window
    w.set_tool("ruler")
    drag(qtbot, w, (100, 100), (400, 100), QtCore.Qt.MouseButton.LeftButton)
    image = w.state.image
    (x0, _), (x1, _) = w.canvas.model.ruler
    expected = abs(x1 - x0) * image.spacing[1]
    assert f"{expected:.1f} mm" in w.status.ruler.text()
    assert str(image.spacing_source) in w.status.ruler.text()


def test_hover_shows_modality_value(open_window, qtbot):
    w = open_window
    w._on_hover(10.5, 20.5)
    value = float(w.state.image.raw[20, 10])
    assert f"value {value:g}" in w.status.cursor.text()


def test_presets_invert_orientation_and_shortcut_help(open_window, qtbot):
    w = open_window
    image = w.state.image
    w.canvas.auto_window()
    assert w.canvas.model.window.function == "LINEAR_EXACT"
    w.apply_preset(1)
    assert w.canvas.model.window == image.windows[0]
    w.actions_by_id["invert"].trigger()
    assert w.canvas.model.invert
    w.actions_by_id["rotate_cw"].trigger()
    assert w.canvas.model.orientation.rotation == 1
    w.actions_by_id["reset"].trigger()
    assert not w.canvas.model.invert and w.canvas.model.orientation.rotation == 0
    dialog = w.show_help()
    table = dialog.findChildren(QtWidgets.QTableWidget)[0]
    keys = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert {"F1", "Ctrl+Z", "Ctrl+Shift+Z", "Right drag", "I", "A", "F", "Ctrl+1", "]", "H", "M", "B"} <= keys
    dialog.close()


def test_tag_browser_lists_and_filters(open_window, qtbot):
    w = open_window
    w.toggle_dock("tags")
    qtbot.waitUntil(lambda: w.tags.tree.topLevelItemCount() > 5, timeout=3000)
    assert w.tags.apply_filter("PatientID") >= 1
    visible = [w.tags.tree.topLevelItem(i) for i in range(w.tags.tree.topLevelItemCount())
               if not w.tags.tree.topLevelItem(i).isHidden()]
    assert any(item.text(1) == "PatientID" for item in visible)
    assert w.tags.apply_filter("") == 0


def test_unreadable_file_listed_with_reason(open_window, qtbot, demo_copy):
    w = open_window
    (demo_copy / "broken.dcm").write_bytes(b"not an image at all" * 10)
    w.open_path(demo_copy)
    qtbot.waitUntil(lambda: w.browser.index is not None and len(w.browser.index.errors) == 1, timeout=10000)
    top = [w.browser.tree.topLevelItem(i).text(0) for i in range(w.browser.tree.topLevelItemCount())]
    assert "Unreadable files (1)" in top
    assert not w.open_image(demo_copy / "broken.dcm")
    assert w.errors and "broken.dcm" in w.errors[-1][1]
    assert w.state.image is not None  # the previous image stays


def test_settings_remember_last_file_and_close_leaves_no_thread(open_window, qtbot, settings_path):
    w = open_window
    qtbot.waitUntil(lambda: len(w.browser.image_paths()) == 6, timeout=10000)
    w.step_image(1)
    assert w.state.image_path.name == "phantom_00001.dcm"
    w.close()
    doc = json.loads(settings_path.read_text())
    assert doc["last_file"].endswith("phantom_00001.dcm")
    assert doc["window_geometry"]
    extra = [t for t in threading.enumerate() if t not in w.threads_before and t.is_alive()]
    assert extra == []
    assert find_sidecar(w.state.image_path) is None  # nothing edited, nothing written


def test_class_and_annotator_toggles_hide_their_boxes(open_window, qtbot):
    w = open_window
    panel = w.annotations

    def shown():
        return sorted(item.style.label for item in w.canvas._box_layers.get("ground_truth", []))

    qtbot.waitUntil(lambda: len(shown()) == 3, timeout=3000)

    def item(lst, text):
        return next(lst.item(i) for i in range(lst.count()) if lst.item(i).text() == text)

    item(panel.annotator_list, "R12").setCheckState(QtCore.Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: shown() == ["Pneumothorax · R11", "Pneumothorax · R14"], timeout=3000)
    item(panel.class_list, "Pneumothorax").setCheckState(QtCore.Qt.CheckState.Unchecked)
    qtbot.waitUntil(lambda: shown() == [], timeout=3000)
    item(panel.class_list, "Pneumothorax").setCheckState(QtCore.Qt.CheckState.Checked)
    qtbot.waitUntil(lambda: len(shown()) == 2, timeout=3000)
    assert w.layer.visibility.hidden_annotators == {"R12"}


def test_the_state_follows_the_window_and_inversion_on_screen(open_window):
    from engine.io import Window

    window = open_window
    image = window.state.image
    assert window.state.window == image.window and window.state.invert is False
    narrow = Window(image.window.center, image.window.width / 3, "LINEAR", "user", "user")
    window.canvas.set_window(narrow)
    assert window.state.window == narrow
    window.canvas.model.set(invert=True)
    assert window.state.invert is True

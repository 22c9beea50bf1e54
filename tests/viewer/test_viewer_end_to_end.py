"""End to end with the built-in explanation-overlay plugin, found through its entry point:
open the demo, run ``explanation.run``, see the overlay and the probability table, draw a box by
mouse, see the localisation against the user's boxes change, undo, find the sidecar, close clean."""

from __future__ import annotations

import threading

import pytest
from PySide6 import QtCore, QtWidgets
from viewer_helpers import drag

from engine.annotations import find_sidecar, read_sidecar


@pytest.fixture()
def full_window(qtbot, settings_path, demo_copy):
    from viewer.app import create_window

    before = set(threading.enumerate())
    window = create_window(str(demo_copy), load_model=False)  # plugins: everything installed
    window.setProperty("quiet_errors", True)
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    qtbot.waitUntil(lambda: window.state.image is not None, timeout=15000)
    # a test-only attribute on the app's window, read back by the thread-leak check below
    window.threads_before = before  # type: ignore[attr-defined]
    yield window
    window.close()


def test_explain_draw_box_undo_and_close(full_window, qtbot):
    w = full_window
    if "explanation.run" not in w.host.commands:
        pytest.fail(f"the explanation-overlay plugin did not load: {w.host.failures()}")
    panel = w.findChild(QtWidgets.QWidget, "explanation")
    assert panel is not None and panel.isVisible()
    assert w.host.run_command("explanation.run")
    qtbot.waitUntil(lambda: w.state.explanation is not None, timeout=180000)
    qtbot.waitUntil(lambda: w.state.localisation is not None, timeout=20000)
    qtbot.wait(100)
    layers = w.canvas.layer_keys()
    assert layers["overlays"] or [k for k in layers["boxes"] if k != "ground_truth"], layers
    # the probability table lists every class of the model with a probability in [0, 1]
    classes = w.state.model.manifest.class_names
    tables = [t for t in panel.findChildren(QtWidgets.QTableWidget) if t.rowCount() == len(classes)]
    assert tables, "no table with one row per class"
    table = tables[0]
    shown = {table.item(r, 0).text(): float(table.item(r, 1).text()) for r in range(table.rowCount())}
    assert set(shown) == set(classes)
    probabilities = w.state.explanation.probabilities
    for i, name in enumerate(classes):
        assert 0.0 <= shown[name] <= 1.0
        assert abs(shown[name] - float(probabilities[i])) < 0.0015  # printed with 3 decimals
    # draw a box of the selected class over the map's first box: the user comparison appears
    loc0 = w.state.localisation
    assert loc0.user is None
    assert len(loc0.boxes) >= 1
    x0, y0, x1, y1 = (float(v) for v in loc0.boxes[0])
    w.set_tool("box")
    w.canvas.model.set(box_class=w.state.selected_class)
    drag(qtbot, w, (x0, y0), (x1, y1), QtCore.Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: len(w.state.user_boxes.boxes) == 1, timeout=3000)
    qtbot.waitUntil(lambda: w.state.localisation is not None and w.state.localisation.user is not None,
                    timeout=10000)
    assert w.state.localisation.user.best > 0.5
    sidecar_boxes = read_sidecar(w.state.image_path).annotations.boxes
    assert [b.id for b in sidecar_boxes] == [w.state.user_boxes.boxes[0].id]
    w.actions_by_id["undo"].trigger()
    qtbot.waitUntil(lambda: w.state.localisation is not None and w.state.localisation.user is None, timeout=10000)
    assert find_sidecar(w.state.image_path) is not None
    w.close()
    qtbot.waitUntil(lambda: QtCore.QThreadPool.globalInstance().activeThreadCount() == 0, timeout=10000)
    extra = [t for t in threading.enumerate() if t not in w.threads_before and t.is_alive()]
    assert extra == []

"""Zoom (wheel around the cursor, fit, 1:1), pan and window/level from the keyboard."""

from __future__ import annotations

import pytest
from PySide6 import QtCore, QtGui, QtWidgets
from viewer_helpers import to_viewport


def _wheel(widget, pos: QtCore.QPointF, steps: int) -> None:
    global_pos = QtCore.QPointF(widget.mapToGlobal(pos.toPoint()))
    event = QtGui.QWheelEvent(pos, global_pos, QtCore.QPoint(0, 0), QtCore.QPoint(0, 120 * steps),
                              QtCore.Qt.MouseButton.NoButton, QtCore.Qt.KeyboardModifier.NoModifier,
                              QtCore.Qt.ScrollPhase.NoScrollPhase, False)
    QtWidgets.QApplication.sendEvent(widget, event)


def test_wheel_zooms_around_the_cursor_fit_and_one_to_one(open_window, qtbot):
    w = open_window
    canvas = w.canvas
    before = canvas.zoom_factor()
    h, wd = w.state.image.shape
    assert abs(canvas.view.viewRect().width() * before - canvas.view.width()) < 1
    point = (300.0, 200.0)
    pos = QtCore.QPointF(to_viewport(w, *point))
    _wheel(canvas.viewport(), pos, 2)
    qtbot.waitUntil(lambda: canvas.zoom_factor() > before * 1.1, timeout=2000)
    after = QtCore.QPointF(to_viewport(w, *point))
    assert abs(after.x() - pos.x()) < 2 and abs(after.y() - pos.y()) < 2  # the point under the cursor stays
    w.actions_by_id["fit"].trigger()
    rect = canvas.view.viewRect()
    assert rect.width() >= wd - 1 and rect.height() >= h - 1  # the whole image...
    assert rect.width() <= wd * 1.05 or rect.height() <= h * 1.05  # ...filling the view one way
    w.actions_by_id["one_to_one"].trigger()
    assert abs(canvas.zoom_factor() * canvas.devicePixelRatioF() - 1.0) < 0.02


def test_arrow_keys_move_the_image_only_while_it_has_the_focus(open_window, qtbot):
    w = open_window
    canvas = w.canvas
    canvas.zoom(2.0)
    start = to_viewport(w, 256, 256)
    w.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus, timeout=2000)
    qtbot.keyClick(canvas, QtCore.Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: to_viewport(w, 256, 256).x() > start.x() + 20, timeout=2000)
    assert abs(to_viewport(w, 256, 256).y() - start.y()) <= 1
    qtbot.keyClick(canvas, QtCore.Qt.Key.Key_Down)
    qtbot.waitUntil(lambda: to_viewport(w, 256, 256).y() > start.y() + 20, timeout=2000)
    # in the study browser the arrows move through the list instead
    tree = w.browser.tree
    tree.setFocus()
    qtbot.waitUntil(tree.hasFocus, timeout=2000)
    here = canvas.view.viewRect()
    qtbot.keyClick(tree, QtCore.Qt.Key.Key_Right)
    qtbot.keyClick(tree, QtCore.Qt.Key.Key_Down)
    assert canvas.view.viewRect() == here


def test_shift_arrows_change_window_and_level(open_window, qtbot):
    w = open_window
    canvas = w.canvas
    w.activateWindow()
    canvas.setFocus()
    qtbot.waitUntil(canvas.hasFocus, timeout=2000)
    first = canvas.model.window
    shift = QtCore.Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(canvas, QtCore.Qt.Key.Key_Right, shift)
    wider = canvas.model.window
    assert wider.width > first.width and abs(wider.center - first.center) < 1e-6
    qtbot.keyClick(canvas, QtCore.Qt.Key.Key_Down, shift)
    assert canvas.model.window.center > wider.center
    qtbot.keyClick(canvas, QtCore.Qt.Key.Key_Up, shift)
    qtbot.keyClick(canvas, QtCore.Qt.Key.Key_Left, shift)
    back = canvas.model.window
    assert abs(back.width - first.width) < 1e-3 and abs(back.center - first.center) < 1e-3
    keys = {s.shortcut for s in __import__("viewer.actions", fromlist=["ACTIONS"]).ACTIONS}
    assert {"Left", "Shift+Right", "Shift+Up"} <= keys


@pytest.mark.parametrize("button", ["left", "middle"])
def test_pan_tool_and_middle_drag_move_the_image_with_the_mouse(open_window, qtbot, button):
    w = open_window
    w.set_tool("pan")
    w.canvas.zoom(2.0)
    qtbot.wait(20)
    start = QtCore.QPointF(to_viewport(w, 200, 200))
    target = QtCore.QPointF(to_viewport(w, 260, 230))
    buttons = {"left": QtCore.Qt.MouseButton.LeftButton, "middle": QtCore.Qt.MouseButton.MiddleButton}
    viewport = w.canvas.viewport()
    qtbot.mousePress(viewport, buttons[button], pos=start.toPoint())
    for i in range(1, 7):  # screen positions: the image follows the mouse
        qtbot.mouseMove(viewport, (start + (target - start) * (i / 6)).toPoint())
        qtbot.wait(5)
    qtbot.mouseRelease(viewport, buttons[button], pos=target.toPoint())
    qtbot.waitUntil(lambda: abs(QtCore.QPointF(to_viewport(w, 200, 200)).x() - target.x()) < 3, timeout=2000)
    moved = QtCore.QPointF(to_viewport(w, 200, 200))
    assert abs(moved.y() - target.y()) < 3 and abs(moved.x() - start.x()) > 20

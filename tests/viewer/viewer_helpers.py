"""Helpers of the viewer tests: image points to viewport positions, simulated drags."""

from __future__ import annotations


def to_viewport(window, x: float, y: float):
    """Viewport widget position of image pixel ``(x, y)``."""
    from PySide6 import QtCore

    canvas = window.canvas
    scene = canvas.group.mapToScene(QtCore.QPointF(x, y))
    return canvas.mapFromScene(scene)


def drag(qtbot, window, start, end, button, steps: int = 6) -> None:
    """Press at image point ``start``, move in steps, release at ``end``."""
    viewport = window.canvas.viewport()
    p0 = to_viewport(window, *start)
    qtbot.mousePress(viewport, button, pos=p0)
    for i in range(1, steps + 1):
        x = start[0] + (end[0] - start[0]) * i / steps
        y = start[1] + (end[1] - start[1]) * i / steps
        qtbot.mouseMove(viewport, to_viewport(window, x, y))
        qtbot.wait(5)
    qtbot.mouseRelease(viewport, button, pos=to_viewport(window, *end))
    qtbot.wait(20)


def make_panel(_host):
    """A plugin panel factory for layout tests: a plain label that would like to be tall."""
    from PySide6 import QtWidgets

    label = QtWidgets.QLabel("panel")
    label.setMinimumHeight(120)
    return label

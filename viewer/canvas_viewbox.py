"""The canvas's ViewBox: the mouse gestures of a radiology viewer.

* Right drag: window/level (horizontal = width, vertical = center).
* Left drag: the current tool — pan, draw a box (pyqtgraph has no drag-to-create ROI, so it is
  done here), or measure with the ruler. Middle drag always pans. Wheel zooms around the cursor.
* Left click on the image: tells the canvas (deselects boxes).
"""

from __future__ import annotations

from collections.abc import Callable

import pyqtgraph as pg
from PySide6 import QtCore

Point = tuple[float, float]


class CanvasViewBox(pg.ViewBox):
    """A ViewBox that hands drags to callbacks in image coordinates.

    Args:
        to_image: Maps a scene position to image pixel coordinates ``(x, y)``.
    """

    def __init__(self, to_image: Callable[[QtCore.QPointF], Point]) -> None:
        super().__init__(lockAspect=True, invertY=True, enableMenu=False)
        self._to_image = to_image
        self.tool = "pan"
        self.on_window_drag: Callable[[float, float, bool], None] | None = None
        self.on_tool_drag: Callable[[str, Point, Point, bool], None] | None = None
        self.on_click: Callable[[Point], None] | None = None
        self.setMouseMode(pg.ViewBox.PanMode)

    def mouseDragEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseDragEvent, axis: int | None = None) -> None:
        button = ev.button()
        if button == QtCore.Qt.MouseButton.RightButton:
            ev.accept()
            delta = ev.screenPos() - ev.lastScreenPos()
            if self.on_window_drag is not None:
                self.on_window_drag(delta.x(), delta.y(), ev.isFinish())
            return
        if button == QtCore.Qt.MouseButton.LeftButton and self.tool in ("box", "ruler"):
            ev.accept()
            start = self._to_image(ev.buttonDownScenePos(button))
            here = self._to_image(ev.scenePos())
            if self.on_tool_drag is not None:
                self.on_tool_drag(self.tool, start, here, ev.isFinish())
            return
        super().mouseDragEvent(ev, axis)

    def mouseClickEvent(self, ev: pg.GraphicsScene.mouseEvents.MouseClickEvent) -> None:
        if ev.button() == QtCore.Qt.MouseButton.LeftButton:
            ev.accept()
            if self.on_click is not None:
                self.on_click(self._to_image(ev.scenePos()))
            return
        ev.accept()  # no context menu: right button is window/level

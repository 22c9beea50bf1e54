"""A tab page that puts its controls beside its charts when wide and above them when narrow.

The panel may sit in a short, wide bottom dock or in a tall, narrow right-hand column (the main
window's default layout tabs every plugin panel there). A fixed grid was cramped in one or the
other: the bar chart's axis labels ran into each other at about 70 px of height.
"""

from __future__ import annotations

from PySide6 import QtWidgets

WIDE = 900  # at least this many pixels wide: controls on the left, charts on the right
CONTROLS_WIDTH = 360


class ResponsivePage(QtWidgets.QWidget):
    """``controls`` then ``charts``: side by side (controls of fixed width) or stacked.

    ``charts_direction`` is the direction of the charts among themselves: side by side when the
    page is wide, stacked when it is narrow (``charts`` must use a :class:`QBoxLayout`).
    """

    def __init__(self, controls: QtWidgets.QWidget, charts: QtWidgets.QWidget,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.controls = controls
        self.charts = charts
        self.box = QtWidgets.QBoxLayout(QtWidgets.QBoxLayout.Direction.TopToBottom, self)
        self.box.setContentsMargins(4, 4, 4, 4)
        self.box.addWidget(controls)
        self.box.addWidget(charts, 1)
        self.wide: bool | None = None
        self._arrange(False)

    def _arrange(self, wide: bool) -> None:
        if wide == self.wide:
            return
        self.wide = wide
        Direction = QtWidgets.QBoxLayout.Direction
        self.box.setDirection(Direction.LeftToRight if wide else Direction.TopToBottom)
        if wide:
            self.controls.setFixedWidth(CONTROLS_WIDTH)
        else:
            self.controls.setMinimumWidth(0)
            self.controls.setMaximumWidth(16777215)
        inner = self.charts.layout()
        if isinstance(inner, QtWidgets.QBoxLayout):
            inner.setDirection(Direction.LeftToRight if wide else Direction.TopToBottom)

    def resizeEvent(self, event) -> None:
        self._arrange(event.size().width() >= WIDE)
        super().resizeEvent(event)


def controls_column(layout: QtWidgets.QLayout) -> QtWidgets.QWidget:
    """A widget holding ``layout`` at the top, with stretch below it."""
    inner = QtWidgets.QWidget()
    inner.setLayout(layout)
    outer = QtWidgets.QWidget()
    column = QtWidgets.QVBoxLayout(outer)
    column.setContentsMargins(0, 0, 0, 0)
    column.addWidget(inner)
    column.addStretch(1)
    return outer

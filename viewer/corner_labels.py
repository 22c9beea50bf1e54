"""Text in the four corners of the canvas, as on a radiology workstation."""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from engine.io import Window

CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


class CornerLabels(QtCore.QObject):
    """Four transparent labels laid over a view; :meth:`set_text` fills one corner."""

    def __init__(self, view: QtWidgets.QAbstractScrollArea) -> None:
        super().__init__(view)
        self._view = view
        self.labels: dict[str, QtWidgets.QLabel] = {}
        for corner in CORNERS:
            label = QtWidgets.QLabel(view)
            label.setObjectName(f"corner_{corner}")
            label.setAttribute(QtCore.Qt.WidgetAttribute.WA_TransparentForMouseEvents)
            label.setStyleSheet("color: #f0f0f0; background: rgba(0, 0, 0, 110); font-size: 11px; padding: 1px 3px;")
            align = QtCore.Qt.AlignmentFlag.AlignRight if "right" in corner else QtCore.Qt.AlignmentFlag.AlignLeft
            label.setAlignment(align | QtCore.Qt.AlignmentFlag.AlignTop)
            self.labels[corner] = label
        self._window_text = ""
        view.installEventFilter(self)

    def set_text(self, corner: str, text: str) -> None:
        label = self.labels[corner]
        label.setText(text)
        self._layout()

    def set_window(self, window: Window) -> None:
        if window.function == "LUT":
            text = f"VOI LUT {window.name}".strip()
        else:
            text = f"W {window.width:.0f}  L {window.center:.0f}"
            if window.name and window.name != "user":
                text += f"  ({window.name})"
        self.set_text("bottom_left", text)

    def eventFilter(self, obj: QtCore.QObject, event: QtCore.QEvent) -> bool:
        if obj is self._view and event.type() == QtCore.QEvent.Type.Resize:
            self._layout()
        return False

    def _layout(self) -> None:
        w, h, m = self._view.width(), self._view.height(), 8
        for corner, label in self.labels.items():
            label.adjustSize()
            x = w - label.width() - m if "right" in corner else m
            y = h - label.height() - m if "bottom" in corner else m
            label.move(max(0, x), max(0, y))

"""A colour legend with a fixed, labelled scale: the colour bar, its end values and the mode."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QImage, QPainter, QPaintEvent
from PySide6.QtWidgets import QSizePolicy, QWidget

from plugins.explain_overlay.rendering import ColourScale, lut_rgba


class ColourLegend(QWidget):
    """Draws the colour map as a bar labelled with the raw values at both ends, and below it
    which normalisation produced the scale (per-map, shared or raw)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanation.legend")
        self.setMinimumHeight(44)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self._cmap = "jet"
        self._scale: ColourScale | None = None
        self._bar: QImage | None = None
        self._bar_data: np.ndarray | None = None
        self.set_colormap("jet")

    def set_colormap(self, name: str) -> None:
        self._cmap = name
        lut = lut_rgba(name)
        self._bar_data = np.ascontiguousarray(lut[None, :, :])  # 1 x 256 RGBA
        self._bar = QImage(self._bar_data.data, 256, 1, 256 * 4, QImage.Format.Format_RGBA8888)
        self.update()

    def set_scale(self, scale: ColourScale | None) -> None:
        self._scale = scale
        self.setToolTip(scale.describe() if scale else "")
        self.update()

    def text(self) -> str:
        """What the legend states, as plain text (also its tooltip)."""
        if self._scale is None:
            return "no map shown"
        return f"{self._cmap}; {self._scale.describe()}"

    def paintEvent(self, event: QPaintEvent) -> None:
        painter = QPainter(self)
        try:
            w = self.width()
            bar = QRectF(4, 2, max(10, w - 8), 14)
            if self._bar is not None:
                painter.drawImage(bar, self._bar)
            painter.setPen(QColor(120, 120, 120))
            painter.drawRect(bar)
            painter.setPen(self.palette().windowText().color())
            if self._scale is None:
                painter.drawText(QRectF(4, 18, w - 8, 24), Qt.AlignmentFlag.AlignLeft, "no map shown")
                return
            low, high = f"{self._scale.low:.3g}", f"{self._scale.high:.3g}"
            painter.drawText(QRectF(4, 17, w / 2, 14), Qt.AlignmentFlag.AlignLeft, low)
            painter.drawText(QRectF(w / 2, 17, w / 2 - 4, 14), Qt.AlignmentFlag.AlignRight, high)
            painter.drawText(QRectF(4, 30, w - 8, 14), Qt.AlignmentFlag.AlignHCenter,
                             self._scale.describe().split(":")[0])
        finally:
            painter.end()

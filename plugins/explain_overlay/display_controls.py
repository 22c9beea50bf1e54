"""How the selected class's map is drawn: outline/heatmap/both, colour map, opacity, legend.

The widgets are a view of :class:`plugins.api.OverlayDisplay` (after :meth:`DisplayControls.bind`):
a user's change is written to it, and a change of it (from code, settings, another view) is shown.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFormLayout, QHBoxLayout, QLabel, QSlider, QWidget

from plugins.api import OverlayDisplay, Unsubscribe
from plugins.explain_overlay.legend import ColourLegend
from plugins.explain_overlay.rendering import COLORMAPS, DISPLAY_MODES
from plugins.explain_overlay.widgets import compact_combo

MODE_LABELS = {"outline": "Outline", "heatmap": "Heatmap", "both": "Outline + heatmap"}


class DisplayControls(QWidget):
    """Display mode, colour map and opacity, with the colour legend below them.

    Signals:
        changed(): any of the three changed.
    """

    changed = Signal()

    def __init__(self, mode: str = "outline", cmap: str = "jet", opacity: float = 0.45,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.mode = compact_combo()
        for m in DISPLAY_MODES:
            self.mode.addItem(MODE_LABELS[m], m)
        self.mode.setToolTip("Outline (iso-lines at 25/50/75 % of the scale) is the calm default; "
                             "readers were most sensitive with outline and heatmap together.")
        self.colormap = compact_combo()
        for name in COLORMAPS:
            self.colormap.addItem(name, name)
        self.opacity = QSlider(Qt.Orientation.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity_label = QLabel()
        self.legend = ColourLegend()
        self.set_values(mode, cmap, opacity)
        row = QHBoxLayout()
        row.addWidget(self.opacity, 1)
        row.addWidget(self.opacity_label)
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Show", self.mode)
        form.addRow("Colours", self.colormap)
        form.addRow("Opacity", row)
        form.addRow(self.legend)
        self.mode.currentIndexChanged.connect(self._emit)
        self.colormap.currentIndexChanged.connect(self._emit)
        self.opacity.valueChanged.connect(self._emit)
        self._display: OverlayDisplay | None = None
        self._unlisten: Unsubscribe | None = None

    def bind(self, display: OverlayDisplay) -> None:
        """Show ``display`` and write the user's changes to it (it is the one place they are kept)."""
        if self._unlisten is not None:
            self._unlisten()
        self._display = display
        self.set_values(display.mode, display.colormap, display.opacity)
        unlisten = self._unlisten = display.listen(self._on_display)
        self.destroyed.connect(lambda *_: unlisten())

    def _on_display(self, name: str, _value: Any) -> None:
        d = self._display
        if d is not None and name in ("mode", "colormap", "opacity"):
            self.set_values(d.mode, d.colormap, d.opacity)

    def set_values(self, mode: str, cmap: str, opacity: float) -> None:
        """Set the controls (unknown values fall back to the defaults) without emitting."""
        self.blockSignals(True)
        try:
            self.mode.setCurrentIndex(max(0, self.mode.findData(mode)))
            self.colormap.setCurrentIndex(max(0, self.colormap.findData(cmap)))
            self.opacity.setValue(round(min(max(float(opacity), 0.0), 1.0) * 100))
            self.opacity_label.setText(f"{self.opacity.value()} %")
            self.legend.set_colormap(self.cmap())
        finally:
            self.blockSignals(False)

    def display_mode(self) -> str:
        return str(self.mode.currentData())

    def cmap(self) -> str:
        return str(self.colormap.currentData())

    def opacity_value(self) -> float:
        return self.opacity.value() / 100.0

    def _emit(self) -> None:
        self.opacity_label.setText(f"{self.opacity.value()} %")
        self.legend.set_colormap(self.cmap())
        if self._display is not None:
            self._display.update(mode=self.display_mode(), colormap=self.cmap(), opacity=self.opacity_value())
        self.changed.emit()

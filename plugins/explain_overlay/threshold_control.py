"""The threshold that cuts boxes from the map (top fraction, fraction of max, Otsu) and the box options."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QDoubleSpinBox, QHBoxLayout, QLabel, QSlider, QSpinBox, QVBoxLayout, QWidget

from engine.localise import RESEARCH_TOP_FRACTIONS, Threshold, ThresholdSpecError
from plugins.explain_overlay.widgets import compact_combo

KINDS = (
    ("top_fraction", "Top fraction"),
    ("fraction_of_max", "Fraction of max"),
    ("otsu", "Otsu"),
)
DEFAULT_VALUES = {"top_fraction": 0.05, "fraction_of_max": 0.5}
BOX_MODES = (("all", "a box per component"), ("largest", "largest component"), ("union", "one box around all"))


class ThresholdControl(QWidget):
    """A kind chooser and a fraction, and how the mask becomes boxes (SPEC §4 options).

    Signals:
        changed(str): the new threshold spec, as :class:`engine.localise.Threshold` prints it.
        optionsChanged(): the box mode or the minimum component area changed.
    """

    changed = Signal(str)
    optionsChanged = Signal()

    def __init__(self, spec: str = "top:0.05", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanation.threshold")
        self.kind = compact_combo()
        for kind, label in KINDS:
            self.kind.addItem(label, kind)
        self.value = QDoubleSpinBox()
        self.value.setDecimals(3)
        self.value.setRange(0.001, 1.0)
        self.value.setSingleStep(0.01)
        self.value.setKeyboardTracking(False)
        self.value.setToolTip(
            "Top fraction: keep this share of the map's pixels (research grid "
            + ", ".join(f"{f:g}" for f in RESEARCH_TOP_FRACTIONS)
            + "). Fraction of max: keep pixels ≥ this × the maximum (0.15 and 0.5 are common)."
        )
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("explanation.threshold_slider")
        self.slider.setRange(1, 100)  # per cent; the boxes follow while it is dragged
        self.slider.setToolTip("Drag to cut the map at another fraction; the boxes and the IoU table follow")
        self.box_mode = compact_combo()
        for mode, label in BOX_MODES:
            self.box_mode.addItem(label, mode)
        self.box_mode.setToolTip("One box per connected component of the cut map, only the largest, or their union")
        self.min_area = QSpinBox()
        self.min_area.setRange(0, 999_999)
        self.min_area.setPrefix("≥ ")
        self.min_area.setSuffix(" px")
        self.min_area.setKeyboardTracking(False)
        self.min_area.setToolTip("Minimum component area: components with fewer pixels are dropped")
        row1 = QHBoxLayout()
        row1.setContentsMargins(0, 0, 0, 0)
        cut = QLabel("Cut at")
        cut.setToolTip("The threshold that cuts boxes from the map")
        row1.addWidget(cut)
        row1.addWidget(self.kind, 1)
        row1.addWidget(self.value)
        row_slider = QHBoxLayout()
        row_slider.setContentsMargins(0, 0, 0, 0)
        row_slider.addWidget(self.slider)
        row2 = QHBoxLayout()
        row2.setContentsMargins(0, 0, 0, 0)
        row2.addWidget(self.box_mode, 1)
        row2.addWidget(self.min_area)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row1)
        layout.addLayout(row_slider)
        layout.addLayout(row2)
        self._values = dict(DEFAULT_VALUES)
        self._quiet = False
        self.set_spec(spec)
        self.kind.currentIndexChanged.connect(self._kind_changed)
        self.value.valueChanged.connect(self._value_changed)
        self.slider.valueChanged.connect(lambda v: self.value.setValue(v / 100.0))
        self.box_mode.currentIndexChanged.connect(self.optionsChanged)
        self.min_area.valueChanged.connect(self.optionsChanged)

    def box_options(self) -> tuple[str, int]:
        """(box mode, minimum component area in pixels) for ``engine.analysis.localise``."""
        return str(self.box_mode.currentData()), int(self.min_area.value())

    def set_box_options(self, mode: str, min_area: int) -> None:
        """Show the box options without emitting (unknown values fall back to the defaults)."""
        self.box_mode.blockSignals(True)
        self.min_area.blockSignals(True)
        try:
            self.box_mode.setCurrentIndex(max(0, self.box_mode.findData(mode)))
            self.min_area.setValue(max(0, int(min_area)))
        finally:
            self.box_mode.blockSignals(False)
            self.min_area.blockSignals(False)

    def spec(self) -> str:
        """The current threshold as canonical text."""
        kind = self.kind.currentData()
        value = None if kind == "otsu" else round(self.value.value(), 6)
        return str(Threshold(kind, value))

    def set_spec(self, spec: str) -> None:
        """Show ``spec`` without emitting :attr:`changed`; an invalid spec is ignored."""
        try:
            t = Threshold.parse(spec)
        except ThresholdSpecError:
            return
        self._quiet = True
        try:
            self.kind.setCurrentIndex([k for k, _ in KINDS].index(t.kind))
            if t.value is not None:
                self._values[t.kind] = t.value
                self.value.setValue(t.value)
            self.value.setEnabled(t.kind != "otsu")
            self._sync_slider()
        finally:
            self._quiet = False

    def _sync_slider(self) -> None:
        """Show the fraction on the slider (without feeding it back); Otsu has no fraction."""
        self.slider.blockSignals(True)
        try:
            self.slider.setValue(max(1, round(self.value.value() * 100)))
            self.slider.setEnabled(self.kind.currentData() != "otsu")
        finally:
            self.slider.blockSignals(False)

    def _kind_changed(self) -> None:
        kind = self.kind.currentData()
        self.value.setEnabled(kind != "otsu")
        if kind != "otsu":
            quiet, self._quiet = self._quiet, True
            self.value.setValue(self._values.get(kind, 0.5))
            self._quiet = quiet
        self._sync_slider()
        if not self._quiet:
            self.changed.emit(self.spec())

    def _value_changed(self) -> None:
        kind = self.kind.currentData()
        if kind != "otsu":
            self._values[kind] = self.value.value()
        if not self.slider.isSliderDown():
            self._sync_slider()
        if not self._quiet:
            self.changed.emit(self.spec())

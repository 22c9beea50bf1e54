"""The raises/lowers switch of a regression explanation (:mod:`engine.explainers.direction`).

A regression model's explanation holds two maps per output: what raises the predicted value and
what lowers it. The switch picks which one the canvas shows; the panel then puts that direction's
view of the result (``result.directed(direction)``) into ``state.explanation``, so the map, the
boxes, the IoU table and the report all follow the chosen direction.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QRadioButton, QWidget

DIRECTIONS = ("raises", "lowers")
LABELS = {"raises": "Raises the value", "lowers": "Lowers the value"}


class DirectionSwitch(QWidget):
    """Two radio buttons, "Raises the value" / "Lowers the value"; hidden for classifiers."""

    directionChanged = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanation.direction")
        self.setToolTip("Regression models: show what raises the predicted value (the map of +y) or what lowers "
                        "it (the map of -y); boxes and IoU are cut from the map shown")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Map shows what"))
        self.group = QButtonGroup(self)
        self.buttons: dict[str, QRadioButton] = {}
        for i, d in enumerate(DIRECTIONS):
            button = QRadioButton(LABELS[d].split(" ", 1)[0].lower())
            button.setObjectName(f"explanation.direction.{d}")
            self.group.addButton(button, i)
            self.buttons[d] = button
            row.addWidget(button)
        row.addWidget(QLabel("the value"))
        row.addStretch(1)
        self.buttons["raises"].setChecked(True)
        self.group.idToggled.connect(self._toggled)
        self.hide()

    def direction(self) -> str:
        """The chosen direction, ``raises`` or ``lowers``."""
        return "lowers" if self.buttons["lowers"].isChecked() else "raises"

    def set_direction(self, direction: str) -> None:
        """Check ``direction`` without emitting :attr:`directionChanged`."""
        if direction in self.buttons and direction != self.direction():
            self.group.blockSignals(True)
            self.buttons[direction].setChecked(True)
            self.group.blockSignals(False)

    def _toggled(self, index: int, checked: bool) -> None:
        if checked:
            self.directionChanged.emit(DIRECTIONS[index])

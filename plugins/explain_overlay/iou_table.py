"""The localisation table of the selected class: IoU per annotator, mean/best/fused, user, pointing."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from plugins.explain_overlay.scores import ScoreRow
from plugins.explain_overlay.widgets import fit_height


class IouTable(QTableWidget):
    """Two columns (measure, value); each row keeps its :class:`ScoreRow` key and number."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, 2, parent)
        self.setObjectName("explanation.iou")
        self.setHorizontalHeaderLabels(["Localisation", "Value"])
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.setToolTip("Boxes cut from the selected class's map at the threshold, compared with each "
                        "ground-truth annotator (mean of best matches), the best single match, the fused "
                        "consensus, and your own boxes. IoU uses pixel-edge box coordinates.")
        self._rows: list[ScoreRow] = []

    def set_rows(self, rows: list[ScoreRow]) -> None:
        """Show ``rows`` (an empty list clears the table)."""
        self._rows = list(rows)
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            label = QTableWidgetItem(row.label)
            label.setData(Qt.ItemDataRole.UserRole, row.key)
            value = QTableWidgetItem(row.text)
            value.setData(Qt.ItemDataRole.UserRole, row.value)
            value.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.setItem(r, 0, label)
            self.setItem(r, 1, value)
        self.resizeRowsToContents()
        fit_height(self)

    def rows(self) -> list[ScoreRow]:
        return list(self._rows)

    def value(self, key: str) -> float | None:
        """The number of the row ``key`` (``"user:mean"``, ``"gt:R8"``...); KeyError if absent."""
        for row in self._rows:
            if row.key == key:
                return row.value
        raise KeyError(f"no row {key!r}; rows: {[r.key for r in self._rows]}")

    def text(self, key: str) -> str:
        """The displayed value of the row ``key``."""
        for row in self._rows:
            if row.key == key:
                return row.text
        raise KeyError(f"no row {key!r}; rows: {[r.key for r in self._rows]}")

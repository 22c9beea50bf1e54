"""The sortable table of every class's probability, its decision threshold and the call."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem, QWidget

from engine.explainers import ExplanationResult
from plugins.explain_overlay.widgets import fit_height

COLUMNS = ("Class", "p", "Thr.", "Call")
HEADER_TIPS = (
    "Finding",
    "Probability the model gives the finding",
    "Decision threshold of the finding, from the model bundle",
    "positive when p ≥ threshold",
)
_POSITIVE_BG = QColor(255, 236, 179)
#: Header of a regression model's rows (its predicted values; no threshold or call).
_REGRESSION_HEADER = ["Output", "Value", "Unit", ""]


class _Item(QTableWidgetItem):
    """A cell that sorts by its number (``Qt.UserRole``) when it has one, else by its text."""

    def __lt__(self, other: QTableWidgetItem) -> bool:
        a, b = self.data(Qt.ItemDataRole.UserRole), other.data(Qt.ItemDataRole.UserRole)
        if isinstance(a, int | float) and isinstance(b, int | float):
            return a < b
        return self.text().lower() < other.text().lower()  # super().__lt__ recurses in PySide6


class ProbabilityTable(QTableWidget):
    """Class, probability, threshold and positive/negative call; selecting a row picks the class.

    Signals:
        classSelected(str): the user selected a row.
    """

    classSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(0, len(COLUMNS), parent)
        self.setObjectName("explanation.probabilities")
        self.setHorizontalHeaderLabels(list(COLUMNS))
        for col, tip in enumerate(HEADER_TIPS):
            header_item = self.horizontalHeaderItem(col)
            if header_item is not None:
                header_item.setToolTip(tip)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.verticalHeader().setVisible(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setSortingEnabled(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)  # model order until the user sorts
        self.setToolTip("Probability of every class and its decision threshold from the model bundle; "
                        "a class is positive when p ≥ threshold. Click a row to show its map.")
        self._quiet = False
        self.itemSelectionChanged.connect(self._selection_changed)

    def set_result(self, result: ExplanationResult | None) -> None:
        """Fill the table from an ``ExplanationResult`` (None empties it)."""
        self._quiet = True
        try:
            self.setSortingEnabled(False)
            self.clearSelection()
            self.setRowCount(0)
            regression = result is not None and result.is_regression
            self.setHorizontalHeaderLabels(_REGRESSION_HEADER if regression else list(COLUMNS))
            for col, tip in enumerate(HEADER_TIPS):
                header_item = self.horizontalHeaderItem(col)
                if header_item is not None:
                    header_item.setToolTip("" if regression else tip)
            if result is not None and result.is_regression:
                self._fill_values(result)
            elif result is not None:
                names = list(result.class_names)
                thresholds = list(result.thresholds) or [0.5] * len(names)
                self.setRowCount(len(names))
                for row, name in enumerate(names):
                    p = float(result.probabilities[row])
                    t = float(thresholds[row])
                    positive = p >= t
                    cells = [
                        (name, None),
                        (f"{p:.3f}", p),
                        (f"{t:.3f}", t),
                        ("positive" if positive else "negative", 1 if positive else 0),
                    ]
                    for col, (text, number) in enumerate(cells):
                        item = _Item(text)
                        item.setData(Qt.ItemDataRole.UserRole, number)
                        if col > 0:
                            item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                        if positive:
                            font = QFont(item.font())
                            font.setBold(True)
                            item.setFont(font)
                            item.setBackground(QBrush(_POSITIVE_BG))
                            item.setForeground(QBrush(QColor(0, 0, 0)))
                        if name not in result.explained:
                            item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                        self.setItem(row, col, item)
            self.setSortingEnabled(True)
            self.resizeRowsToContents()
            fit_height(self)
        finally:
            self._quiet = False

    def _fill_values(self, result: ExplanationResult) -> None:
        """A regression model's rows: output, predicted value, unit (no threshold, no call)."""
        names = list(result.class_names)
        self.setRowCount(len(names))
        for row, name in enumerate(names):
            value = result.value(row)
            for col, (text, number) in enumerate([(name, None), (f"{value:.4g}", value), (result.unit(row), None),
                                                  ("", None)]):
                item = _Item(text)
                item.setData(Qt.ItemDataRole.UserRole, number)
                if col > 0:
                    item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if name not in result.explained:
                    item.setFlags(item.flags() & ~Qt.ItemFlag.ItemIsSelectable)
                self.setItem(row, col, item)

    def _cell(self, row: int, col: int) -> QTableWidgetItem:
        item = self.item(row, col)
        if item is None:
            raise LookupError(f"the probability table has no cell ({row}, {col})")
        return item

    def class_names(self) -> list[str]:
        """Classes in the order shown (after any sorting)."""
        return [self._cell(r, 0).text() for r in range(self.rowCount())]

    def row_of(self, name: str) -> int:
        """Row showing ``name``, or -1."""
        for r in range(self.rowCount()):
            if self._cell(r, 0).text() == name:
                return r
        return -1

    def row_values(self, name: str) -> dict[str, Any]:
        """``{"probability": float, "threshold": float, "positive": bool}`` of a class."""
        r = self.row_of(name)
        if r < 0:
            raise KeyError(name)
        return {
            "probability": float(self._cell(r, 1).data(Qt.ItemDataRole.UserRole)),
            "threshold": float(self._cell(r, 2).data(Qt.ItemDataRole.UserRole)),
            "positive": bool(self._cell(r, 3).data(Qt.ItemDataRole.UserRole)),
        }

    def selected_class(self) -> str | None:
        rows = self.selectionModel().selectedRows() if self.selectionModel() else []
        return self._cell(rows[0].row(), 0).text() if rows else None

    def select_class(self, name: str | None) -> None:
        """Select ``name``'s row without emitting :attr:`classSelected`."""
        self._quiet = True
        try:
            r = self.row_of(name) if name else -1
            if r < 0:
                self.clearSelection()
            else:
                self.selectRow(r)
                self.scrollToItem(self._cell(r, 0))
        finally:
            self._quiet = False

    def _selection_changed(self) -> None:
        if self._quiet:
            return
        name = self.selected_class()
        if name is not None:
            self.classSelected.emit(name)

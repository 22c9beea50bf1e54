"""Small widget helpers shared by the panel's parts."""

from __future__ import annotations

from PySide6.QtWidgets import QComboBox, QTableWidget


def compact_combo() -> QComboBox:
    """A combo box that can shrink to a narrow dock (long entries are elided, not forcing width)."""
    combo = QComboBox()
    combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    combo.setMinimumContentsLength(6)
    return combo


def fit_height(table: QTableWidget, min_rows: int = 3, max_rows: int = 16) -> None:
    """Size ``table`` to show its rows without a scroll bar (between ``min_rows`` and ``max_rows``)."""
    rows = min(max(table.rowCount(), min_rows), max_rows)
    row_height = table.verticalHeader().defaultSectionSize()
    shown = sum(table.rowHeight(r) for r in range(min(rows, table.rowCount()))) + row_height * max(
        0, rows - table.rowCount())
    table.setFixedHeight(shown + table.horizontalHeader().height() + 2 * table.frameWidth() + 2)

"""The "Tables & figures" tab of the review gallery: ``OUT/tables/*.csv`` and ``OUT/figures/*.png``.

A list on the left names every table and figure of the study; the chosen one is shown on the
right (a CSV as a sortable table with its header row, a PNG scaled to the width). Reading the
files is quick (the tables are aggregates), so it happens when an entry is chosen.
"""

from __future__ import annotations

import csv
import logging
from pathlib import Path

from PySide6 import QtCore, QtGui, QtWidgets

log = logging.getLogger(__name__)

MAX_TABLE_ROWS = 20000  # rows shown of one CSV (a note says when a table is longer)


def read_csv(path: Path, limit: int = MAX_TABLE_ROWS) -> tuple[list[str], list[list[str]], bool]:
    """(header, rows, truncated) of a CSV file with a header row."""
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        header = next(reader, [])
        rows: list[list[str]] = []
        for row in reader:
            if len(rows) >= limit:
                return header, rows, True
            rows.append(row)
    return header, rows, False


def _sort_key(text: str) -> tuple[int, float, str]:
    try:
        return (0, float(text), "")
    except ValueError:
        return (1, 0.0, text)


class _Item(QtWidgets.QTableWidgetItem):
    """A cell that sorts numbers as numbers."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        return _sort_key(self.text()) < _sort_key(other.text())


class TablesTab(QtWidgets.QWidget):
    """The study's tables and figures.

    Args:
        tables: CSV files; figures: PNG files.
    """

    def __init__(self, tables: list[Path], figures: list[Path], parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("study_gallery.tables")
        self.files = [*tables, *figures]
        self.listing = QtWidgets.QListWidget()
        self.listing.setObjectName("study_gallery.files")
        for p in self.files:
            item = QtWidgets.QListWidgetItem(("Table: " if p.suffix == ".csv" else "Figure: ") + p.name)
            item.setToolTip(str(p))
            self.listing.addItem(item)
        self.table = QtWidgets.QTableWidget()
        self.table.setObjectName("study_gallery.table")
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.figure = QtWidgets.QLabel()
        self.figure.setAlignment(QtCore.Qt.AlignmentFlag.AlignCenter)
        self._pixmap = QtGui.QPixmap()
        scroll = QtWidgets.QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.figure)
        self.note = QtWidgets.QLabel("")
        self.stack = QtWidgets.QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(scroll)
        right = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(right)
        col.setContentsMargins(0, 0, 0, 0)
        col.addWidget(self.note)
        col.addWidget(self.stack, 1)
        split = QtWidgets.QSplitter()
        split.addWidget(self.listing)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 800])
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(split)
        self.listing.currentRowChanged.connect(self.show_file)
        if self.files:
            self.listing.setCurrentRow(0)
        else:
            self.note.setText("This study has no tables or figures yet: run `radlens study report OUT`.")

    def show_file(self, index: int) -> None:
        """Show the ``index``-th file of the list."""
        if not 0 <= index < len(self.files):
            return
        path = self.files[index]
        try:
            if path.suffix == ".csv":
                self._show_table(path)
            else:
                self._show_figure(path)
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            log.warning("cannot show %s: %s", path, exc)
            self.note.setText(f"{path}: cannot be read ({exc}).")

    def _show_table(self, path: Path) -> None:
        header, rows, truncated = read_csv(path)
        t = self.table
        t.setSortingEnabled(False)
        t.clear()
        t.setColumnCount(len(header))
        t.setRowCount(len(rows))
        t.setHorizontalHeaderLabels(header)
        for r, row in enumerate(rows):
            for c, text in enumerate(row[: len(header)]):
                t.setItem(r, c, _Item(text))
        t.setSortingEnabled(True)
        t.resizeColumnsToContents()
        self.stack.setCurrentIndex(0)
        more = f" (first {len(rows)} shown)" if truncated else ""
        self.note.setText(f"{path.name}: {len(rows)} rows{more}. Click a column header to sort.")

    def _show_figure(self, path: Path) -> None:
        self._pixmap = QtGui.QPixmap(str(path))
        if self._pixmap.isNull():
            raise OSError("not a readable PNG")
        self.figure.setPixmap(self._pixmap)
        self.stack.setCurrentIndex(1)
        self.note.setText(f"{path.name}: {self._pixmap.width()} × {self._pixmap.height()} px")

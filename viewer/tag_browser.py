"""The DICOM tag browser: the open file's dataset as a searchable tree (sequences nested)."""

from __future__ import annotations

from pathlib import Path

import pydicom
from PySide6 import QtWidgets

MAX_VALUE = 200


def dataset_rows(ds: pydicom.Dataset) -> list[tuple[str, str, str, str, list]]:
    """``(tag, keyword, VR, value, children)`` for every element; sequences give their items."""
    rows = []
    for elem in ds:
        tag = f"({elem.tag.group:04X},{elem.tag.element:04X})"
        keyword = elem.keyword or elem.name
        if elem.VR == "SQ":
            items = [(f"Item {i + 1}", "", "", "", dataset_rows(item)) for i, item in enumerate(elem.value)]
            rows.append((tag, keyword, "SQ", f"{len(elem.value)} item(s)", items))
        elif elem.tag == 0x7FE00010 or (elem.VR in ("OB", "OW", "OF", "OD", "UN") and elem.value is not None):
            size = len(elem.value) if isinstance(elem.value, bytes | bytearray) else 0
            rows.append((tag, keyword, elem.VR, f"<{size} bytes>", []))
        else:
            text = str(elem.value)
            rows.append((tag, keyword, elem.VR, text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…", []))
    return rows


class TagBrowser(QtWidgets.QWidget):
    """Shows the tags of one DICOM file; the search box filters by tag, keyword or value."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("tag_browser")
        self.search = QtWidgets.QLineEdit(placeholderText="Search tag, keyword or value…")
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(self.apply_filter)
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Keyword", "VR", "Value"])
        metrics = self.tree.fontMetrics()  # a tag and its tree indentation must never be cut
        self.tree.setColumnWidth(0, metrics.horizontalAdvance("(0000,0000)") + self.tree.indentation() + 16)
        self.tree.setColumnWidth(1, metrics.horizontalAdvance("PhotometricInterpretation") + 12)
        self.tree.setColumnWidth(2, metrics.horizontalAdvance("VR") + 14)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.search)
        layout.addWidget(self.tree)

    def show_file(self, path: Path | None) -> None:
        """Read ``path``'s header (no pixel data) and list it; non-DICOM files say so."""
        self.tree.clear()
        if path is None:
            return
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
        except Exception as exc:  # not DICOM, or unreadable: say so in the tree
            self.tree.addTopLevelItem(QtWidgets.QTreeWidgetItem(["", "", "", f"Not a DICOM file ({exc})"]))
            return
        if getattr(ds, "file_meta", None) is not None and len(ds.file_meta):
            meta = QtWidgets.QTreeWidgetItem(["", "File meta", "", ""])
            self._fill(meta, dataset_rows(ds.file_meta))
            self.tree.addTopLevelItem(meta)
        root = self.tree.invisibleRootItem()
        self._fill(root, dataset_rows(ds))
        self.apply_filter(self.search.text())

    def _fill(self, parent: QtWidgets.QTreeWidgetItem, rows: list) -> None:
        for tag, keyword, vr, value, children in rows:
            item = QtWidgets.QTreeWidgetItem([tag, keyword, vr, value])
            item.setToolTip(3, value)
            parent.addChild(item)
            self._fill(item, children)

    def apply_filter(self, text: str) -> int:
        """Hide rows matching nothing (parents of matches stay); returns the number of matches."""
        needle = text.strip().lower()

        def visit(item: QtWidgets.QTreeWidgetItem) -> tuple[bool, int]:
            own = not needle or any(needle in item.text(c).lower() for c in range(4))
            count = int(own and bool(needle))
            child_match = False
            for i in range(item.childCount()):
                child = item.child(i)
                if child is None:
                    continue
                matched, n = visit(child)
                child_match |= matched
                count += n
            item.setHidden(not (own or child_match))
            if needle and child_match:
                item.setExpanded(True)
            return own or child_match, count

        root = self.tree.invisibleRootItem()
        children = (root.child(i) for i in range(root.childCount()))
        return sum(visit(child)[1] for child in children if child is not None)

"""The study browser: patients → studies → series → images, with thumbnails and unreadable files.

The folder is indexed by :func:`engine.io.study.scan_folder` (headers only) on the app's
:class:`viewer.worker.TaskRunner` (key ``scan``; a newer scan cancels the older one); thumbnails
(:func:`engine.io.study.thumbnail`) follow in batches (key ``thumbnails``). Files that are not images are
listed under "Unreadable files" with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.io.study import StudyIndex, scan_folder, thumbnail
from viewer.worker import CancelledFn, ProgressFn, TaskRunner

THUMB = 64
BATCH = 12
MAX_THUMBS = 2000
PATH_ROLE = QtCore.Qt.ItemDataRole.UserRole


def to_pixmap(pixels: np.ndarray) -> QtGui.QPixmap:
    """A QPixmap of a uint8 grayscale or RGB array."""
    pixels = np.ascontiguousarray(pixels)
    h, w = pixels.shape[:2]
    if pixels.ndim == 2:
        image = QtGui.QImage(pixels.data, w, h, w, QtGui.QImage.Format.Format_Grayscale8)
    else:
        image = QtGui.QImage(pixels.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888)
    return QtGui.QPixmap.fromImage(image.copy())


class StudyBrowser(QtWidgets.QWidget):
    """Emits :attr:`image_chosen` with a file path when the user picks an image."""

    image_chosen = QtCore.Signal(object)
    scanned = QtCore.Signal(object)  # the StudyIndex

    def __init__(self, jobs: TaskRunner, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("study_browser")
        self.jobs = jobs
        self.index: StudyIndex | None = None
        self.tree = QtWidgets.QTreeWidget()
        self.tree.setHeaderHidden(True)
        self.tree.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.tree.itemActivated.connect(self._activated)
        self.tree.itemClicked.connect(self._activated)
        self.info = QtWidgets.QLabel("No folder open")
        self.info.setWordWrap(True)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(2, 2, 2, 2)
        layout.addWidget(self.info)
        layout.addWidget(self.tree)
        self._items: dict[Path, QtWidgets.QTreeWidgetItem] = {}
        self._generation = 0

    # --- scanning --------------------------------------------------------------------------------
    def scan(self, folder: Path) -> None:
        """Index ``folder`` in the background; the tree fills when done."""
        self._generation += 1
        generation = self._generation
        self.info.setText(f"Scanning {folder} …")
        self.tree.clear()
        self._items = {}
        def scan(cancelled: CancelledFn, _progress: ProgressFn) -> StudyIndex:
            return scan_folder(folder, should_stop=cancelled)

        self.jobs.cancel("thumbnails")
        self.jobs.submit(
            "scan",
            scan,
            lambda index: self._show(index) if generation == self._generation else None,
            lambda exc: self.info.setText(f"Cannot scan {folder}: {exc}"),
        )

    def _show(self, index: StudyIndex) -> None:
        self.index = index
        self.tree.clear()
        self._items = {}
        for patient in index.patients:
            p_item = QtWidgets.QTreeWidgetItem([f"{patient.name or '(no name)'}  [{patient.patient_id or '?'}]"])
            self.tree.addTopLevelItem(p_item)
            for study in patient.studies:
                s_item = QtWidgets.QTreeWidgetItem([f"{study.description or 'Study'}  {study.date}".strip()])
                p_item.addChild(s_item)
                for series in study.series:
                    number = "" if series.number is None else f"#{series.number} "
                    label = f"{number}{series.description or series.modality or 'Series'} ({len(series.images)})"
                    r_item = QtWidgets.QTreeWidgetItem([label])
                    s_item.addChild(r_item)
                    for image in series.images:
                        frames = f"  [{image.n_frames} frames]" if image.n_frames > 1 else ""
                        i_item = QtWidgets.QTreeWidgetItem([f"{image.path.name}{frames}"])
                        i_item.setData(0, PATH_ROLE, str(image.path))
                        i_item.setToolTip(0, str(image.path))
                        r_item.addChild(i_item)
                        self._items[image.path.resolve()] = i_item
        problems = [(p.path, p.reason) for p in index.errors]
        if problems:
            e_item = QtWidgets.QTreeWidgetItem([f"Unreadable files ({len(problems)})"])
            e_item.setForeground(0, QtGui.QBrush(QtGui.QColor(230, 120, 80)))
            self.tree.addTopLevelItem(e_item)
            for path, reason in problems:
                child = QtWidgets.QTreeWidgetItem([f"{path.name}: {reason}"])
                child.setToolTip(0, f"{path}\n{reason}")
                e_item.addChild(child)
        self.tree.expandAll()
        self.info.setText(index.summary())
        self.scanned.emit(index)
        self._thumbnails(list(self._items), self._generation)

    def _thumbnails(self, paths: list[Path], generation: int) -> None:
        """Make thumbnails one batch at a time (one background thread), newest scan only."""
        paths = paths[:MAX_THUMBS]
        if not paths or generation != self._generation:
            return
        batch, rest = paths[:BATCH], paths[BATCH:]

        def done(thumbs: dict[Path, np.ndarray]) -> None:
            if generation == self._generation:
                self._set_thumbs(thumbs)
                self._thumbnails(rest, generation)

        self.jobs.submit("thumbnails", lambda cancelled, _p: self._make_thumbs(batch, cancelled), done)

    @staticmethod
    def _make_thumbs(paths: list[Path], cancelled: CancelledFn) -> dict[Path, np.ndarray]:
        out = {}
        for path in paths:
            if cancelled():
                break
            try:
                out[path] = thumbnail(path, THUMB)
            except Exception:  # listed without a thumbnail; opening it shows the reason
                continue
        return out

    def _set_thumbs(self, thumbs: dict[Path, np.ndarray]) -> None:
        for path, pixels in thumbs.items():
            item = self._items.get(path)
            if item is not None:
                item.setIcon(0, QtGui.QIcon(to_pixmap(pixels)))

    # --- navigation -----------------------------------------------------------------------------------
    def image_paths(self) -> list[Path]:
        """Every image in browser order."""
        return list(self._items)

    def select(self, path: Path) -> None:
        item = self._items.get(Path(path).resolve())
        if item is not None:
            self.tree.blockSignals(True)
            self.tree.setCurrentItem(item)
            self.tree.blockSignals(False)

    def _activated(self, item: QtWidgets.QTreeWidgetItem, _column: int = 0) -> None:
        path = item.data(0, PATH_ROLE)
        if path:
            self.image_chosen.emit(Path(path))

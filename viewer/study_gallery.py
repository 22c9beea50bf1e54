"""File > Open study…: the review gallery of a ``radlens study`` output folder (issue #15).

One window, two tabs. *Gallery*: the study's images for a chosen model and class, filtered by
outcome at the model's thresholds (TP/FP/FN/TN), sorted by probability, IoU (at a chosen
threshold and annotator policy) or Δp (the class's own probability drop when the top fraction of its
map is replaced, at a chosen mode and fraction, from the perturbation block's rows), one thumbnail
per chosen explanation side by side, each with the
class's map drawn over it. *Tables & figures*: ``OUT/tables/*.csv`` and ``OUT/figures/*.png``.
Clicking a thumbnail opens the image in the main viewer with that explanation and its ground
truth (:mod:`viewer.study_gallery_open`).

The data (``training.study.review``) is read on the job runner; maps are computed on the
gallery's own :class:`viewer.worker.TaskRunner` for the visible rows only (key ``maps``: a scroll
or a new filter replaces the stale request) and cached (:mod:`viewer.study_gallery_maps`); the
plain thumbnail shows until the map is ready.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PySide6 import QtCore, QtGui, QtWidgets

from engine.errors import RadLensError
from training.study.review import OUTCOMES, Explanation, GalleryEntry, StudyReview, open_review
from viewer.study_gallery_maps import THUMB, THUMBS_KEPT, MapCache, MapRequest, requests_for
from viewer.study_gallery_open import OpenRequest, open_in_viewer
from viewer.study_gallery_tables import TablesTab
from viewer.worker import CancelledFn, ProgressFn, TaskRunner

log = logging.getLogger(__name__)

OBJECT_NAME = "study_gallery"
SORTS = (("Probability", "probability"), ("IoU", "iou"), ("Δp (perturbation)", "delta_p"), ("Image name", "image"))
Role = QtCore.Qt.ItemDataRole


def to_pixmap(rgb: np.ndarray) -> QtGui.QPixmap:
    """An H x W x 3 uint8 array as a pixmap (copied)."""
    a = np.ascontiguousarray(rgb, dtype=np.uint8)
    h, w = a.shape[:2]
    image = QtGui.QImage(a.data, w, h, 3 * w, QtGui.QImage.Format.Format_RGB888)
    return QtGui.QPixmap.fromImage(image.copy())


class GalleryModel(QtCore.QAbstractTableModel):
    """Rows = gallery entries; column 0 = the image's decision, then one thumbnail per explanation."""

    def __init__(self, cache: MapCache, parent: QtCore.QObject | None = None) -> None:
        super().__init__(parent)
        self.cache = cache
        self.entries: list[GalleryEntry] = []
        self.explanations: list[Explanation] = []
        self.cls = ""
        self.threshold: str | None = None
        self.policy = "mean"
        self.dp: tuple[str, float] | None = None
        self._pixmaps: dict[tuple[Any, ...], QtGui.QPixmap] = {}
        self._blank = QtGui.QPixmap(THUMB, THUMB)
        self._blank.fill(QtGui.QColor(40, 40, 40))

    def set_entries(self, entries: list[GalleryEntry], explanations: list[Explanation], cls: str,
                    threshold: str | None, policy: str, dp: tuple[str, float] | None = None) -> None:
        self.beginResetModel()
        self.entries, self.explanations, self.cls = entries, explanations, cls
        self.threshold, self.policy, self.dp = threshold, policy, dp
        self.endResetModel()

    def _dp_text(self, entry: GalleryEntry, index: int) -> str:
        if self.dp is None or entry.cells[index] is None:
            return ""
        v = entry.delta_p(*self.dp, index=index)
        mode, fraction = self.dp
        return f"Δp {v:+.3f} ({mode}, {fraction:g})" if v is not None else "Δp: not a target"

    def rowCount(self, parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.entries)

    def columnCount(self, parent: QtCore.QModelIndex | QtCore.QPersistentModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else 1 + len(self.explanations)

    def headerData(self, section: int, orientation: QtCore.Qt.Orientation, role: int = Role.DisplayRole) -> Any:
        if role != Role.DisplayRole or orientation != QtCore.Qt.Orientation.Horizontal:
            return None
        return "Image" if section == 0 else self.explanations[section - 1].label

    def _iou_text(self, entry: GalleryEntry, index: int) -> str:
        if self.threshold is None:
            return ""
        cell = entry.cells[index]
        if cell is None:
            return "not in the study"
        if self.threshold not in cell.thresholds:
            return ""
        v = cell.iou_at(self.threshold, self.policy)
        return "IoU: no GT box" if v is None else f"IoU {v:.3f}"

    def data(self, index: QtCore.QModelIndex | QtCore.QPersistentModelIndex, role: int = Role.DisplayRole) -> Any:
        if not index.isValid() or index.row() >= len(self.entries):
            return None
        e = self.entries[index.row()]
        col = index.column()
        if col == 0:
            if role == Role.DisplayRole:
                return (f"{Path(e.image).name}\n{e.outcome}: p = {e.probability:.3f}\nlabel {e.label}, "
                        f"GT boxes {e.n_gt_boxes}")
            if role == Role.ToolTipRole:
                return f"{e.path}\n{self.cache.errors.get(e.image, '')}".strip()
            return None
        explanation = self.explanations[col - 1]
        if role == Role.DisplayRole:
            text = f"{self._iou_text(e, col - 1)}\n{self.threshold or ''} {self.policy}".strip()
            dp = self._dp_text(e, col - 1)
            return f"{text}\n{dp}".strip() if dp else text
        if role == Role.DecorationRole:
            return self.pixmap(MapRequest(e.image, explanation, self.cls))
        if role == Role.ToolTipRole:
            error = self.cache.failure(MapRequest(e.image, explanation, self.cls))
            ready = "map ready" if self.map_ready(index.row(), col) else "map being computed"
            state = f"no map: {error}" if error else ready
            return f"{explanation.label} — {e.cls} — click to open in the viewer\n{state}"
        return None

    def map_ready(self, row: int, col: int) -> bool:
        """Whether the cell shows its map (not the plain thumbnail)."""
        e = self.entries[row]
        return self.cache.overlay(MapRequest(e.image, self.explanations[col - 1], self.cls)) is not None

    def pixmap(self, request: MapRequest) -> QtGui.QPixmap:
        """The map over the thumbnail when ready, else the plain thumbnail, else a grey square."""
        key = ("map", request.image, request.explanation.key, request.cls)
        if len(self._pixmaps) > THUMBS_KEPT:  # bounded: pixmaps are made again from the cache when needed
            self._pixmaps.clear()
        if key not in self._pixmaps:
            rgb = self.cache.overlay(request)
            if rgb is not None:
                self._pixmaps[key] = to_pixmap(rgb)
        if key in self._pixmaps:
            return self._pixmaps[key]
        plain_key = ("plain", request.image)
        if plain_key not in self._pixmaps:
            rgb = self.cache.plain(request.image)
            if rgb is None:
                return self._blank
            self._pixmaps[plain_key] = to_pixmap(rgb)
        return self._pixmaps[plain_key]

    def refresh_image(self, image: str) -> None:
        """Redraw the rows of ``image`` (its thumbnail or a map became ready)."""
        for r, e in enumerate(self.entries):
            if e.image == image:
                self.dataChanged.emit(self.index(r, 0), self.index(r, self.columnCount() - 1))


class StudyGallery(QtWidgets.QWidget):
    """The review window of one study (a top-level window; see the module docstring).

    Args:
        review: The study read for review.
        opener: Called with an :class:`OpenRequest` when a thumbnail is clicked (None: nothing opens).
        parent: Owner (the main window); the gallery is a separate window.
    """

    def __init__(self, review: StudyReview, opener: Callable[[OpenRequest], None] | None = None,
                 parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent, QtCore.Qt.WindowType.Window)
        self.setObjectName(OBJECT_NAME)
        self.review = review
        self.opener = opener
        self.runner = TaskRunner(self)
        self.cache = MapCache(review)
        self.model = GalleryModel(self.cache, self)
        self.last_error = ""
        self.setWindowTitle(f"Study {review.study.get('study', {}).get('name', review.out.name)} — {review.out} "
                            "— research use, not for diagnostic use")
        self._build()
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(60)
        self._timer.timeout.connect(self.request_visible_maps)
        self._fill_models()
        self._connect()
        self.refresh()

    # --- layout ---------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_combo = QtWidgets.QComboBox()
        self.class_combo = QtWidgets.QComboBox()
        self.explanation_list = QtWidgets.QListWidget()
        self.explanation_list.setToolTip("Tick the explanations to show side by side; the first ticked one "
                                         "decides the IoU sort")
        self.explanation_list.setMaximumHeight(90)
        self.outcome_boxes = {o: QtWidgets.QCheckBox(o) for o in OUTCOMES}
        for box in self.outcome_boxes.values():
            box.setChecked(True)
        self.sort_combo = QtWidgets.QComboBox()
        for text, key in SORTS:
            self.sort_combo.addItem(text, key)
        self.threshold_combo = QtWidgets.QComboBox()
        self.threshold_combo.setToolTip("Threshold the IoU is read at (the study's grid)")
        self.policy_combo = QtWidgets.QComboBox()
        self.policy_combo.addItems(["mean", "best", "fused"])
        self.policy_combo.setToolTip("Annotator policy of the IoU: mean over annotators, best match, fused boxes")
        self.dp_combo = QtWidgets.QComboBox()
        self.dp_combo.setObjectName("study_gallery.dp")
        self.dp_combo.setToolTip("Δp sort: the replacement mode and the fraction of the class's map replaced "
                                 "(the study's perturbation section)")
        self.descending = QtWidgets.QCheckBox("Highest first")
        self.descending.setChecked(True)
        self.summary = QtWidgets.QLabel("")
        self.summary.setObjectName("study_gallery.summary")

        form = QtWidgets.QGridLayout()
        form.addWidget(QtWidgets.QLabel("Model"), 0, 0)
        form.addWidget(self.model_combo, 0, 1)
        form.addWidget(QtWidgets.QLabel("Class"), 1, 0)
        form.addWidget(self.class_combo, 1, 1)
        form.addWidget(QtWidgets.QLabel("Explanations"), 0, 2)
        form.addWidget(self.explanation_list, 0, 3, 2, 1)
        outcomes = QtWidgets.QHBoxLayout()
        for box in self.outcome_boxes.values():
            outcomes.addWidget(box)
        form.addWidget(QtWidgets.QLabel("Outcome"), 0, 4)
        form.addLayout(outcomes, 0, 5)
        sort = QtWidgets.QHBoxLayout()
        for w in (self.sort_combo, self.threshold_combo, self.policy_combo, self.dp_combo, self.descending):
            sort.addWidget(w)
        form.addWidget(QtWidgets.QLabel("Sort by"), 1, 4)
        form.addLayout(sort, 1, 5)
        form.setColumnStretch(3, 1)

        self.view = QtWidgets.QTableView()
        self.view.setObjectName("study_gallery.view")
        self.view.setModel(self.model)
        self.view.setIconSize(QtCore.QSize(THUMB, THUMB))
        self.view.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        self.view.setVerticalScrollMode(QtWidgets.QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.verticalHeader().setSectionResizeMode(QtWidgets.QHeaderView.ResizeMode.Fixed)
        self.view.verticalHeader().setDefaultSectionSize(THUMB + 8)
        self.view.horizontalHeader().setDefaultSectionSize(THUMB + 110)
        self.view.setWordWrap(True)

        gallery = QtWidgets.QWidget()
        col = QtWidgets.QVBoxLayout(gallery)
        col.setContentsMargins(4, 4, 4, 4)
        col.addLayout(form)
        col.addWidget(self.summary)
        col.addWidget(self.view, 1)
        self.tabs = QtWidgets.QTabWidget()
        self.tabs.addTab(gallery, "Gallery")
        self.tables = TablesTab(self.review.tables(), self.review.figures())
        self.tabs.addTab(self.tables, "Tables && figures")
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.tabs)
        self.resize(1200, 800)

    def _fill_models(self) -> None:
        for m in self.review.models:
            if self.review.explanations_of(m.sha256):
                self.model_combo.addItem(f"{m.name} {m.version} ({m.sha256[:8]})", m.sha256)
        self._fill_for_model()

    def _fill_for_model(self) -> None:
        sha = self.model_combo.currentData()
        blockers = [QtCore.QSignalBlocker(w) for w in (self.class_combo, self.explanation_list)]
        self.class_combo.clear()
        self.explanation_list.clear()
        if sha is not None:
            spec = self.review.model(sha)
            self.class_combo.addItems(list(spec.classes))
            for i, e in enumerate(self.review.explanations_of(sha)):
                item = QtWidgets.QListWidgetItem(e.label + (f"  {e.params_hash[:6]}" if self._ambiguous(e) else ""))
                item.setData(Role.UserRole, i)
                item.setFlags(item.flags() | QtCore.Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(QtCore.Qt.CheckState.Checked if i < 2 else QtCore.Qt.CheckState.Unchecked)
                item.setToolTip(f"parameters {e.params} (hash {e.params_hash})")
                self.explanation_list.addItem(item)
        del blockers
        self._fill_thresholds()

    def _ambiguous(self, e: Explanation) -> bool:
        return sum(1 for x in self.review.explanations_of(e.model) if x.label == e.label) > 1

    def _fill_thresholds(self) -> None:
        chosen = self.chosen_explanations()
        current = self.threshold_combo.currentText()
        with QtCore.QSignalBlocker(self.threshold_combo):
            self.threshold_combo.clear()
            grid = self.review.thresholds_of(chosen[0]) if chosen else ()
            self.threshold_combo.addItems(list(grid))
            if current in grid:
                self.threshold_combo.setCurrentText(current)
        current_dp = self.dp_combo.currentText()
        with QtCore.QSignalBlocker(self.dp_combo):
            self.dp_combo.clear()
            modes, fractions = self.review.delta_p_grid(chosen[0]) if chosen else ((), ())
            for m in modes:
                for f in fractions:
                    self.dp_combo.addItem(f"{m}, top {f:g}", (m, f))
            if self.dp_combo.findText(current_dp) >= 0:
                self.dp_combo.setCurrentText(current_dp)
            self.dp_combo.setVisible(bool(modes))

    def _connect(self) -> None:
        self.model_combo.currentIndexChanged.connect(self._model_changed)
        self.class_combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.explanation_list.itemChanged.connect(self._explanations_changed)
        for box in self.outcome_boxes.values():
            box.toggled.connect(lambda _on: self.refresh())
        for combo in (self.sort_combo, self.threshold_combo, self.policy_combo, self.dp_combo):
            combo.currentIndexChanged.connect(lambda _i: self.refresh())
        self.descending.toggled.connect(lambda _on: self.refresh())
        self.view.verticalScrollBar().valueChanged.connect(lambda _v: self._timer.start())
        self.view.clicked.connect(self._clicked)

    def _model_changed(self, _index: int) -> None:
        self._fill_for_model()
        self.refresh()

    def _explanations_changed(self, _item: QtWidgets.QListWidgetItem) -> None:
        self._fill_thresholds()
        self.refresh()

    # --- choices --------------------------------------------------------------------------------------
    def chosen_explanations(self) -> list[Explanation]:
        """The ticked explanations of the chosen model, in list order."""
        sha = self.model_combo.currentData()
        if sha is None:
            return []
        options = self.review.explanations_of(sha)
        out = []
        for i in range(self.explanation_list.count()):
            item = self.explanation_list.item(i)
            if item.checkState() == QtCore.Qt.CheckState.Checked:
                out.append(options[int(item.data(Role.UserRole))])
        return out

    def chosen_outcomes(self) -> list[str]:
        return [o for o, box in self.outcome_boxes.items() if box.isChecked()]

    def refresh(self) -> None:
        """Filter and sort again with the current choices, then draw the visible maps."""
        explanations = self.chosen_explanations()
        cls = self.class_combo.currentText()
        sort_by = str(self.sort_combo.currentData())
        threshold = self.threshold_combo.currentText() or None
        policy = self.policy_combo.currentText()
        self.last_error = ""
        self.threshold_combo.setEnabled(sort_by == "iou" or threshold is not None)
        dp = self.dp_combo.currentData()
        dp_choice = (str(dp[0]), float(dp[1])) if dp else None
        entries: list[GalleryEntry] = []
        if explanations and cls:
            try:
                entries = self.review.gallery(cls, explanations, outcomes=self.chosen_outcomes(), sort_by=sort_by,
                                              threshold=threshold, policy=policy,
                                              descending=self.descending.isChecked(),
                                              mode=dp_choice[0] if dp_choice else None,
                                              fraction=dp_choice[1] if dp_choice else None)
            except RadLensError as exc:
                self.last_error = str(exc)
                self.summary.setText(str(exc))
            counts = self.review.counts(cls, explanations[0])
            for o, box in self.outcome_boxes.items():
                box.setText(f"{o} ({counts[o]})")
        self.model.set_entries(entries, explanations, cls, threshold, policy, dp_choice)
        if not self.last_error:
            self.summary.setText(self._summary(entries, explanations, cls))
        self.view.scrollToTop()
        self._timer.start()

    def _summary(self, entries: list[GalleryEntry], explanations: list[Explanation], cls: str) -> str:
        if not explanations:
            return "Tick at least one explanation."
        spec = self.review.model(explanations[0].model)
        return (f"{len(entries)} image(s) of {len(self.review.images)} — {cls} at the model's threshold "
                f"{spec.threshold(cls):.2f} — click a thumbnail to open it in the viewer with that explanation")

    # --- maps -----------------------------------------------------------------------------------------
    def visible_rows(self) -> range:
        """The rows the view shows now."""
        n = self.model.rowCount()
        if n == 0:
            return range(0)
        top = self.view.rowAt(0)
        bottom = self.view.rowAt(max(0, self.view.viewport().height() - 1))
        top = 0 if top < 0 else top
        bottom = n - 1 if bottom < 0 else bottom
        return range(top, bottom + 1)

    def visible_requests(self) -> list[MapRequest]:
        """The cells of the visible rows."""
        rows = [self.model.entries[r] for r in self.visible_rows()]
        return requests_for(rows, self.model.explanations, self.model.cls)

    def request_visible_maps(self) -> None:
        """Compute the visible rows' thumbnails and maps on the runner (replacing a stale request)."""
        requests = self.visible_requests()
        if not requests or (not self.cache.missing(requests)
                            and all(self.cache.plain(r.image) is not None or r.image in self.cache.errors
                                    for r in requests)):
            return
        cache = self.cache

        def task(cancelled: CancelledFn, progress: ProgressFn) -> int:
            return cache.compute(requests, cancelled, progress)

        self._submit("maps", task, self._maps_done, self._maps_failed,
                     lambda _f, image: self.model.refresh_image(image), serial=True)

    def _submit(self, key: str, fn: Callable[[CancelledFn, ProgressFn], Any], on_done: Callable[[Any], None],
                on_error: Callable[[BaseException], None], on_progress: ProgressFn | None = None,
                serial: bool = False) -> bool:
        """Submit to the gallery's runner; False once the app has shut the runners down (closing)."""
        try:
            self.runner.submit(key, fn, on_done, on_error, on_progress, serial=serial)
        except RuntimeError:
            self._timer.stop()
            return False
        return True

    def maps_pending(self) -> bool:
        """Whether maps are being computed."""
        return self.runner.is_busy("maps")

    def _maps_done(self, _made: int) -> None:
        self.model.layoutChanged.emit()
        failed = [f for f in (self.cache.failure(r) for r in self.visible_requests()) if f]
        if failed:
            self.last_error = failed[0]
            self.summary.setText(f"{len(failed)} map(s) could not be made (plain thumbnails shown): {failed[0]}")

    def _maps_failed(self, exc: BaseException) -> None:
        self.last_error = str(exc)
        self.summary.setText(f"Maps cannot be computed: {exc}")
        log.error("study gallery maps: %s", exc)

    # --- opening in the viewer -----------------------------------------------------------------------------
    def _clicked(self, index: QtCore.QModelIndex) -> None:
        self.open_cell(index.row(), index.column())

    def open_cell(self, row: int, column: int) -> None:
        """Open row ``row`` in the viewer with the explanation of ``column`` (0 = the first one)."""
        if self.opener is None or not 0 <= row < len(self.model.entries) or not self.model.explanations:
            return
        entry = self.model.entries[row]
        explanation = self.model.explanations[max(0, column - 1)]
        threshold = self.model.threshold
        cache, review, opener = self.cache, self.review, self.opener

        def task(cancelled: CancelledFn, _progress: ProgressFn) -> OpenRequest:
            result = cache.explain(entry.image, explanation, cancelled)
            return OpenRequest(entry.path, entry.image, entry.cls, explanation, result,
                               cache.model(explanation.model), threshold, review.annotations)

        self.summary.setText(f"Opening {Path(entry.image).name} with {explanation.label}…")
        self._submit("open", task, opener, self._open_failed)

    def _open_failed(self, exc: BaseException) -> None:
        self.last_error = str(exc)
        self.summary.setText(f"Cannot open: {exc}")

    def closeEvent(self, event: QtGui.QCloseEvent) -> None:
        self._timer.stop()
        self.runner.shutdown(5000)
        super().closeEvent(event)


# --- the main window's entry points -----------------------------------------------------------------------
def open_study(window: Any, out: str | Path) -> None:
    """Read the study in ``out`` on the main window's job runner, then show its gallery window.

    An error (no study there, no results yet) goes to ``window.show_error``.
    """
    folder = Path(out)

    def load(_cancelled: CancelledFn, _progress: ProgressFn) -> StudyReview:
        return open_review(folder)

    def show(review: StudyReview) -> None:
        old = window.findChild(QtWidgets.QWidget, OBJECT_NAME)
        if old is not None:
            old.close()
            old.deleteLater()
        def opener(request: OpenRequest) -> None:
            open_in_viewer(window, request)

        gallery = StudyGallery(review, opener, parent=window)
        gallery.show()
        gallery.raise_()
        window.show_status(f"Study {folder}: {len(review.images)} images", 8000)

    window.show_status(f"Reading the study in {folder}…", 8000)
    window.jobs.submit("study-review", load, show, lambda exc: window.show_error("Open study", str(exc)))


def open_study_dialog(window: Any) -> None:
    """File > Open study…: choose a study's OUT folder, then :func:`open_study`."""
    path = QtWidgets.QFileDialog.getExistingDirectory(window, "Open study (the --out folder of radlens study run)",
                                                      str(Path.home()))
    if path:
        open_study(window, path)

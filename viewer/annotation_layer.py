"""Boxes on the canvas: ground truth (read-only) and the user's boxes (the box tool).

Ground-truth boxes are drawn in per-class colours with ``class · annotator`` labels; the user's
boxes are dashed, with corner handles to resize and a body to move. Every edit (draw, move,
resize, delete) goes through :meth:`viewer.state.ViewerState.edit_user_boxes`, so it can be undone.
Which classes and annotators are shown is :class:`Visibility` (plain Python).
"""

from __future__ import annotations

import dataclasses
import getpass
from collections.abc import Callable
from dataclasses import dataclass, field

import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from engine.annotations import AnnotationSet, BoxAnnotation, Source, image_key
from plugins.api import BoxStyle
from viewer.box_items import class_color, make_label, make_pen
from viewer.canvas import Canvas
from viewer.state import ViewerState

MIN_BOX = 2.0  # a drag smaller than this (image pixels) is a click, not a box


def user_name() -> str:
    """The annotator name given to the user's boxes."""
    try:
        return getpass.getuser() or "user"
    except Exception:  # no login name in some containers
        return "user"


@dataclass
class Visibility:
    """Classes and annotators hidden from the canvas (plain Python, saved in the settings)."""

    hidden_classes: set[str] = field(default_factory=set)
    hidden_annotators: set[str] = field(default_factory=set)

    def shows(self, box: BoxAnnotation) -> bool:
        return box.class_name not in self.hidden_classes and box.annotator not in self.hidden_annotators


def clamp_box(p0: tuple[float, float], p1: tuple[float, float], shape: tuple[int, int]) -> tuple[float, ...]:
    """The box spanned by two points, ordered and clipped to an image of ``shape`` (h, w)."""
    h, w = shape
    x0, x1 = sorted((min(max(p0[0], 0.0), w), min(max(p1[0], 0.0), w)))
    y0, y1 = sorted((min(max(p0[1], 0.0), h), min(max(p1[1], 0.0), h)))
    return round(x0, 1), round(y0, 1), round(x1, 1), round(y1, 1)


class AnnotationLayer(QtCore.QObject):
    """Draws the annotations of ``state`` on ``canvas`` and runs the box tool and the ruler."""

    def __init__(self, state: ViewerState, canvas: Canvas, classes: Callable[[], tuple[str, ...]]) -> None:
        super().__init__(canvas)
        self.state = state
        self.canvas = canvas
        self.classes = classes
        self.visibility = Visibility()
        self.annotator = user_name()
        self._rois: dict[str, pg.ROI] = {}
        self._preview: QtWidgets.QGraphicsRectItem | None = None
        state.subscribe("user_boxes", lambda _v: self.schedule_redraw())
        state.subscribe("ground_truth", lambda _v: self.schedule_redraw())
        canvas.model.listen(lambda name, _v: self.schedule_redraw() if name == "selected_box" else None)
        canvas.view.on_tool_drag = self._on_tool_drag
        canvas.view.on_click = lambda _p: canvas.model.set(selected_box=None)

    # --- drawing --------------------------------------------------------------------------------
    def schedule_redraw(self) -> None:
        """Redraw after the current event (never inside an ROI's own mouse handler)."""
        QtCore.QTimer.singleShot(0, self.redraw)

    def redraw(self) -> None:
        classes = self.classes()
        gt = [
            (b.as_tuple(), BoxStyle(class_color(b.class_name, classes), 2.0, False, f"{b.class_name} · {b.annotator}"))
            for b in self.state.ground_truth.boxes
            if self.visibility.shows(b)
        ]
        self.canvas.set_boxes("ground_truth", gt)
        for roi in self._rois.values():
            self.canvas.scene().removeItem(roi)
        self._rois = {}
        for box in self.state.user_boxes.boxes:
            if self.visibility.shows(box):
                self._rois[box.id] = self._make_roi(box, class_color(box.class_name, classes))

    def _make_roi(self, box: BoxAnnotation, color: tuple[int, int, int]) -> pg.ROI:
        selected = box.id == self.canvas.model.selected_box
        style = BoxStyle(color, 2.0, True)
        roi = pg.ROI((box.x0, box.y0), (box.width, box.height), pen=make_pen(style, selected), movable=True)
        roi.hoverPen = make_pen(BoxStyle((255, 255, 255), 2.0, True))
        roi.setParentItem(self.canvas.group)
        roi.setZValue(30)
        for pos, center in (((1, 1), (0, 0)), ((0, 0), (1, 1)), ((1, 0), (0, 1)), ((0, 1), (1, 0))):
            roi.addScaleHandle(pos, center)
        roi.setAcceptedMouseButtons(QtCore.Qt.MouseButton.LeftButton)
        roi.sigClicked.connect(lambda _r, _ev, box_id=box.id: self.canvas.model.set(selected_box=box_id))
        roi.sigRegionChangeFinished.connect(lambda r, box_id=box.id: self._roi_changed(box_id, r))
        label = make_label(roi, f"{box.class_name} · {box.annotator}", color)
        label.setTransform(QtGui.QTransform.fromTranslate(1, -label.boundingRect().height() - 2))
        return roi

    # --- edits ------------------------------------------------------------------------------------
    def _roi_changed(self, box_id: str, roi: pg.ROI) -> None:
        if self.canvas.image is None or box_id not in {b.id for b in self.state.user_boxes}:
            return
        pos, size = roi.pos(), roi.size()
        coords = clamp_box((pos.x(), pos.y()), (pos.x() + size.x(), pos.y() + size.y()), self.canvas.image.shape)
        old = self.state.user_boxes.get(box_id)
        if coords == tuple(round(v, 1) for v in old.as_tuple()):
            return
        self.state.edit_user_boxes(self.state.user_boxes.replaced(old.with_coords(*coords)), "Move/resize box")

    def _on_tool_drag(self, tool: str, start: tuple[float, float], here: tuple[float, float], finish: bool) -> None:
        if self.canvas.image is None:
            return
        if tool == "ruler":
            self.canvas.model.set(ruler=(start, here))
            return
        coords = clamp_box(start, here, self.canvas.image.shape)
        if self._preview is None:
            self._preview = QtWidgets.QGraphicsRectItem(self.canvas.group)
            self._preview.setPen(make_pen(BoxStyle((255, 255, 255), 1.5, True)))
            self._preview.setZValue(40)
        self._preview.setRect(QtCore.QRectF(coords[0], coords[1], coords[2] - coords[0], coords[3] - coords[1]))
        if finish:
            self.canvas.scene().removeItem(self._preview)
            self._preview = None
            if coords[2] - coords[0] >= MIN_BOX and coords[3] - coords[1] >= MIN_BOX:
                self.add_box(coords)

    def add_box(self, coords: tuple[float, ...]) -> BoxAnnotation:
        """Add a user box ``(x0, y0, x1, y1)`` of the current box class (undoable); returns it."""
        name = self.canvas.model.box_class or (self.classes() or ("Finding",))[0]
        image_id = image_key(self.state.image_path) if self.state.image_path else ""
        x0, y0, x1, y1 = coords
        box = BoxAnnotation(name, x0, y0, x1, y1, annotator=self.annotator, source=Source.USER, image_id=image_id)
        self.state.edit_user_boxes(self.state.user_boxes.added(box), f"Draw {name} box")
        self.canvas.model.set(selected_box=box.id)
        return box

    def delete_selected(self) -> bool:
        """Delete the selected user box (undoable); False when none is selected."""
        box_id = self.canvas.model.selected_box
        if box_id is None or box_id not in {b.id for b in self.state.user_boxes}:
            return False
        self.state.edit_user_boxes(self.state.user_boxes.removed(box_id), "Delete box")
        self.canvas.model.set(selected_box=None)
        return True

    def set_selected_class(self, name: str) -> None:
        """Change the class of the selected box (undoable), and make it the class of new boxes."""
        self.canvas.model.set(box_class=name)
        box_id = self.canvas.model.selected_box
        if box_id and box_id in {b.id for b in self.state.user_boxes}:
            old = self.state.user_boxes.get(box_id)
            if old.class_name != name:
                new = dataclasses.replace(old, class_name=name)
                self.state.edit_user_boxes(self.state.user_boxes.replaced(new), f"Class {name}")

    def annotators(self) -> tuple[str, ...]:
        both = AnnotationSet(self.state.ground_truth.boxes + self.state.user_boxes.boxes)
        return both.annotators

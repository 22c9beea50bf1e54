"""Read-only boxes on the canvas: a cosmetic rectangle plus a screen-sized label.

:func:`box_items` is the one place where boxes become graphics items with de-overlapped labels:
the canvas's ``set_boxes`` and plugins' own views (through ``ViewerHost.box_items``) use it, and
where the labels go is decided by the engine's Qt-free :func:`engine.render.place_labels` (the
CLI's and the report's box drawing use the same function).
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from engine.render import place_labels
from plugins.api import Box, BoxStyle, StyledBox

#: Label text size (points) and the dark plate's margin around it (screen pixels).
LABEL_POINTS = 8.5
PLATE = (2.0, 1.0)
#: Screen pixels between a label and the box edge it sits above or below.
LABEL_GAP = 2.0

#: Per-class colours (colour-blind friendly first; cycled when there are more classes).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (255, 190, 0),
    (0, 200, 255),
    (255, 80, 80),
    (120, 230, 90),
    (230, 120, 255),
    (255, 140, 40),
    (60, 140, 255),
    (255, 255, 120),
    (0, 230, 180),
    (255, 100, 180),
)


def class_color(name: str, classes: tuple[str, ...]) -> tuple[int, int, int]:
    """The colour of class ``name``: its position in ``classes`` (else a stable hash) picks it."""
    if name in classes:
        return PALETTE[classes.index(name) % len(PALETTE)]
    return PALETTE[sum(map(ord, name)) % len(PALETTE)]


def make_pen(style: BoxStyle, selected: bool = False) -> QtGui.QPen:
    """A cosmetic pen (constant width on screen at any zoom)."""
    pen = QtGui.QPen(QtGui.QColor(*style.color))
    pen.setCosmetic(True)
    pen.setWidthF(style.width + (1.5 if selected else 0.0))
    if style.dashed:
        pen.setStyle(QtCore.Qt.PenStyle.DashLine)
    return pen


def label_font() -> QtGui.QFont:
    """The font of box labels (bold, :data:`LABEL_POINTS`)."""
    font = QtGui.QFont()
    font.setPointSizeF(LABEL_POINTS)
    font.setBold(True)
    return font


def label_size(text: str) -> tuple[float, float]:
    """(width, height) of a label with its plate, in screen pixels."""
    rect = QtGui.QFontMetricsF(label_font()).boundingRect(text)
    return rect.width() + 2 * PLATE[0], rect.height() + 2 * PLATE[1]


def make_label(parent: QtWidgets.QGraphicsItem, text: str, color: tuple[int, int, int]) -> QtWidgets.QGraphicsItem:
    """A label of constant screen size with a dark plate, its top-left at the parent's origin."""
    label = QtWidgets.QGraphicsSimpleTextItem(text, parent)
    label.setBrush(QtGui.QColor(*color))
    label.setFont(label_font())
    label.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    backing = QtWidgets.QGraphicsRectItem(label.boundingRect().adjusted(-PLATE[0], -PLATE[1], PLATE[0], PLATE[1]),
                                          label)
    backing.setBrush(QtGui.QColor(0, 0, 0, 150))
    backing.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
    backing.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
    label.setPos(0, 0)
    return label


class BoxItem(QtWidgets.QGraphicsRectItem):
    """One read-only box in image coordinates with its label.

    Args:
        box: ``(x0, y0, x1, y1)`` in image pixels.
        style: Colour, width, dash and label text.
        parent: The graphics item it belongs to.
        label_at: Image point of the label plate's top-left (from :func:`engine.render.place_labels`);
            None puts it just above the box's top-left corner.
    """

    def __init__(self, box: Box, style: BoxStyle, parent: QtWidgets.QGraphicsItem | None = None,
                 label_at: tuple[float, float] | None = None) -> None:
        x0, y0, x1, y1 = box
        super().__init__(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0), parent)
        self.setPen(make_pen(style))
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.box = box
        self.style = style
        self.label_at = label_at
        if style.label:
            anchor = QtWidgets.QGraphicsRectItem(QtCore.QRectF(), self)
            anchor.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
            anchor.setPos(*(label_at if label_at is not None else (x0, y0)))
            label = make_label(anchor, style.label, style.color)
            if label_at is None:  # above the top-left corner, whatever the zoom
                dy = -label.boundingRect().height() - PLATE[1] - LABEL_GAP
                label.setTransform(QtGui.QTransform.fromTranslate(PLATE[0], dy))
            else:  # the plate's top-left at label_at
                label.setTransform(QtGui.QTransform.fromTranslate(PLATE[0], PLATE[1]))


def box_items(boxes: Sequence[StyledBox], bounds: tuple[float, float], pixel_size: float,
              parent: QtWidgets.QGraphicsItem | None = None, z: float = 20.0) -> list[BoxItem]:
    """One :class:`BoxItem` per box (z value ``z``), labels placed by :func:`engine.render.place_labels`.

    Args:
        boxes: ``((x0, y0, x1, y1), style)`` in image pixels.
        bounds: ``(width, height)`` of the image: labels stay inside it.
        pixel_size: Image pixels per screen pixel at the current zoom (labels have a constant
            screen size, so their size in image pixels depends on it).
        parent: Graphics item the boxes belong to (None: add them to a view yourself).
        z: Their z value.
    """
    plain = [((float(b[0]), float(b[1]), float(b[2]), float(b[3])), style) for b, style in boxes]
    labelled = [i for i, (_box, style) in enumerate(plain) if style.label]
    sizes = [tuple(v * pixel_size for v in label_size(plain[i][1].label)) for i in labelled]
    origins = place_labels([plain[i][0] for i in labelled], sizes, bounds,  # type: ignore[arg-type]
                           gap=LABEL_GAP * pixel_size)
    at: dict[int, tuple[float, float]] = dict(zip(labelled, origins, strict=True))
    items = []
    for i, (box, style) in enumerate(plain):
        item = BoxItem(box, style, parent, at.get(i))
        item.setZValue(z)
        items.append(item)
    return items

"""Read-only boxes on the canvas: a cosmetic rectangle plus a screen-sized label.

:func:`box_items` is the one place where boxes become graphics items with de-overlapped labels:
the canvas's ``set_boxes`` and plugins' own views (through ``ViewerHost.box_items``) use it.
"""

from __future__ import annotations

from collections.abc import Sequence

from PySide6 import QtCore, QtGui, QtWidgets

from plugins.api import Box, BoxStyle, StyledBox

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


def make_label(parent: QtWidgets.QGraphicsItem, text: str, color: tuple[int, int, int]) -> QtWidgets.QGraphicsItem:
    """A label of constant screen size with a dark backing, anchored at the parent's origin."""
    label = QtWidgets.QGraphicsSimpleTextItem(text, parent)
    label.setBrush(QtGui.QColor(*color))
    font = label.font()
    font.setPointSizeF(8.5)
    font.setBold(True)
    label.setFont(font)
    label.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemIgnoresTransformations)
    backing = QtWidgets.QGraphicsRectItem(label.boundingRect().adjusted(-2, -1, 2, 1), label)
    backing.setBrush(QtGui.QColor(0, 0, 0, 150))
    backing.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
    backing.setFlag(QtWidgets.QGraphicsItem.GraphicsItemFlag.ItemStacksBehindParent)
    label.setPos(0, 0)
    return label


LABEL_CORNERS = ("above_left", "below_left", "above_right", "below_right")


def label_corners(boxes: Sequence[StyledBox], label_size: tuple[float, float]) -> list[str]:
    """The corner of each box its label hangs from, so that labels of about ``label_size`` (w, h,
    image pixels) do not overlap: the first corner (in :data:`LABEL_CORNERS` order) whose anchor is
    at least a label's width or height away from every anchor chosen before; ``above_left`` when none
    is. Unlabelled boxes take ``above_left`` and keep no room."""
    w, h = label_size
    used: list[tuple[float, float]] = []
    corners = []
    for box, style in boxes:
        corner = "above_left"
        if style.label:
            for candidate in LABEL_CORNERS:
                ax, ay = label_anchor(box, candidate)
                if all(abs(ax - ux) > w or abs(ay - uy) > h for ux, uy in used):
                    corner = candidate
                    break
            used.append(label_anchor(box, corner))
        corners.append(corner)
    return corners


def label_anchor(box: Box, corner: str) -> tuple[float, float]:
    """The image point a label at ``corner`` of ``box`` hangs from."""
    x0, y0, x1, y1 = box
    return (x1 if corner.endswith("right") else x0), (y1 if corner.startswith("below") else y0)


class BoxItem(QtWidgets.QGraphicsRectItem):
    """One read-only box in image coordinates with its label at a corner (default: above, left)."""

    def __init__(self, box: Box, style: BoxStyle, parent: QtWidgets.QGraphicsItem | None = None,
                 corner: str = "above_left") -> None:
        x0, y0, x1, y1 = box
        super().__init__(QtCore.QRectF(x0, y0, x1 - x0, y1 - y0), parent)
        self.setPen(make_pen(style))
        self.setAcceptedMouseButtons(QtCore.Qt.MouseButton.NoButton)
        self.box = box
        self.style = style
        if style.label:
            anchor = QtWidgets.QGraphicsRectItem(QtCore.QRectF(), self)
            anchor.setPen(QtGui.QPen(QtCore.Qt.PenStyle.NoPen))
            anchor.setPos(*label_anchor(box, corner))
            label = make_label(anchor, style.label, style.color)
            rect = label.boundingRect()
            dx = -rect.width() - 1 if corner.endswith("right") else 1
            dy = 2 if corner.startswith("below") else -rect.height() - 2
            label.setTransform(QtGui.QTransform.fromTranslate(dx, dy))


def box_items(boxes: Sequence[StyledBox], bounds: Box, label_size: tuple[float, float],
              parent: QtWidgets.QGraphicsItem | None = None, z: float = 20.0) -> list[BoxItem]:
    """One :class:`BoxItem` per box (z value ``z``), labels placed by :func:`label_corners`.

    Args:
        boxes: ``((x0, y0, x1, y1), style)`` in image pixels.
        bounds: The image's ``(0, 0, width, height)`` (reserved for placement within the image).
        label_size: About one label's (width, height) in image pixels at the current zoom.
        parent: Graphics item the boxes belong to (None: add them to a view yourself).
        z: Their z value.
    """
    del bounds  # the corner rule needs no bounds; engine.render.place_labels will
    plain = [(tuple(float(v) for v in xyxy), style) for xyxy, style in boxes]
    items = []
    for (box, style), corner in zip(plain, label_corners(plain, label_size), strict=True):  # type: ignore[arg-type]
        item = BoxItem(box, style, parent, corner)  # type: ignore[arg-type]
        item.setZValue(z)
        items.append(item)
    return items

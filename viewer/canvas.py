"""The main canvas: the study image with fast window/level, orientation, zoom, and overlay layers.

Every image-space item (the image, plugin overlays, boxes, the ruler) is a child of one group
whose transform carries rotation and flips, so all layers stay in image pixel coordinates
(x right, y down) whatever the orientation. The canvas implements
:class:`plugins.api.CanvasLayers`.

Window/level dragging is rate-limited: drag deltas accumulate and are applied at most once per
:data:`FRAME_MS` (the latest value wins), through the integer-LUT fast path of
:mod:`viewer.display`. While the drag lasts, a zoomed-out image is windowed at screen resolution
(every k-th pixel, k = image pixels per screen pixel); releasing the button renders it in full.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtGui, QtWidgets

from engine.io import AUTO_MINMAX, StudyImage, Window, auto_window
from plugins.api import BoxStyle
from viewer import display as dsp
from viewer.box_items import BoxItem, box_items
from viewer.canvas_model import CanvasModel
from viewer.canvas_viewbox import CanvasViewBox
from viewer.corner_labels import CornerLabels
from viewer.measure import measure
from viewer.state import ViewerState

FRAME_MS = 15


class Canvas(pg.GraphicsView):
    """The image view. Emits :attr:`hovered` ``(x, y)`` in image pixels as the mouse moves."""

    hovered = QtCore.Signal(float, float)
    left = QtCore.Signal()

    def __init__(self, parent: QtWidgets.QWidget | None = None, state: ViewerState | None = None) -> None:
        super().__init__(parent, background="k")
        self.model = CanvasModel(state)
        self.view = CanvasViewBox(self.to_image)
        self.setCentralItem(self.view)
        self.group = pg.ItemGroup()
        self.view.addItem(self.group)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setParentItem(self.group)
        self.image: StudyImage | None = None
        self._q: dsp.Quantised | None = None
        self._overlays: dict[str, pg.ImageItem] = {}
        self._box_layers: dict[str, list[QtWidgets.QGraphicsItem]] = {}
        self._overrides: dict[str, np.ndarray] = {}
        self._ruler_items: list[QtWidgets.QGraphicsItem] = []
        self._pending: tuple[float, float] = (0.0, 0.0)
        self._dragging = False
        self._preview: tuple[int, np.ndarray] | None = None
        self._range = (0.0, 1.0)  # modality value range of the image (cached: drags use it)
        self._timer = QtCore.QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(FRAME_MS)
        self._timer.timeout.connect(self._flush_window_drag)
        self.corners = CornerLabels(self)
        self.view.on_window_drag = self._on_window_drag
        self.scene().sigMouseMoved.connect(self._on_mouse_moved)
        self.model.listen(self._on_model)
        self.setAcceptDrops(False)  # the main window takes drops
        self.setFocusPolicy(QtCore.Qt.FocusPolicy.StrongFocus)  # click the image, then arrows pan
        self._fitted = True  # refit on resize until the user zooms or pans
        self.view.sigRangeChangedManually.connect(lambda *_: setattr(self, "_fitted", False))

    # --- coordinates ----------------------------------------------------------------------------
    def to_image(self, scene_pos: QtCore.QPointF) -> tuple[float, float]:
        """Image pixel coordinates ``(x, y)`` of a scene position."""
        p = self.group.mapFromScene(scene_pos)
        return float(p.x()), float(p.y())

    def _on_mouse_moved(self, scene_pos: QtCore.QPointF) -> None:
        if self.image is None:
            return
        x, y = self.to_image(scene_pos)
        h, w = self.image.shape
        if 0 <= x < w and 0 <= y < h:
            self.hovered.emit(x, y)
        else:
            self.left.emit()

    def pixel_value(self, x: float, y: float) -> float | tuple[float, ...] | None:
        """The modality value of the pixel at ``(x, y)``, or None outside the image."""
        if self.image is None:
            return None
        h, w = self.image.shape
        col, row = int(np.floor(x)), int(np.floor(y))
        if not (0 <= row < h and 0 <= col < w):
            return None
        value = self.image.raw[row, col]
        return tuple(float(v) for v in value) if np.ndim(value) else float(value)

    # --- image ----------------------------------------------------------------------------------
    def show_image(self, image: StudyImage | None, keep_view: bool = False) -> None:
        """Show ``image`` with its own window; ``keep_view`` keeps zoom, pan and orientation."""
        self.image = image
        self._q = None
        if image is None:
            self.image_item.clear()
            return
        self._preview = None
        if not image.is_color:
            self._q = dsp.quantise(image.raw)
            self._range = (self._q.offset, self._q.offset + (self._q.n - 1) * self._q.step)
        self._overrides = {k: v for k, v in self._overrides.items() if v.shape[:2] == image.shape}
        self.model.set(window=image.window, ruler=None, selected_box=None)
        if not keep_view:
            self.model.set(invert=False, orientation=dsp.Orientation())
        self._apply_orientation()
        self.render_image()
        if not keep_view:
            self.fit()

    def _index_data(self) -> np.ndarray:
        """The grid indices to draw: every k-th pixel while dragging a zoomed-out image."""
        assert self._q is not None
        if not self._dragging:
            return self._q.index
        k = int(1.0 / max(self.zoom_factor() * self.devicePixelRatioF(), 1e-6))
        if k < 2:
            return self._q.index
        if self._preview is None or self._preview[0] != k:
            self._preview = (k, np.ascontiguousarray(self._q.index[::k, ::k]))
        return self._preview[1]

    def render_image(self) -> None:
        """Push the current window / override to the image item (the fast path)."""
        image = self.image
        if image is None:
            return
        override = next(reversed(self._overrides.values()), None) if self._overrides else None
        if override is not None or image.is_color:
            pixels = image.display if override is None else override
            data = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
            if self.model.invert:
                data = 255 - data
            self.image_item.setImage(data, levels=(0, 255), lut=None, autoLevels=False)
            self.image_item.setRect(QtCore.QRectF(0, 0, data.shape[1], data.shape[0]))
            return
        assert self._q is not None
        window = self.model.window or image.window
        invert = image.inverted != self.model.invert
        levels = dsp.linear_levels(window, self._q)
        data = self._index_data()
        if levels is not None:  # LINEAR / LINEAR_EXACT: pyqtgraph's integer levels path
            self.image_item.setImage(data, levels=levels, lut=dsp.invert_lut(invert), autoLevels=False)
        else:  # SIGMOID or a VOI LUT: the engine's window tabulated for every grid value
            table = dsp.window_table(window, self._q, invert)
            self.image_item.setImage(data, levels=(0, len(table)), lut=table, autoLevels=False)
        h, w = image.shape
        self.image_item.setRect(QtCore.QRectF(0, 0, w, h))
        self.corners.set_window(window)

    # --- window/level -----------------------------------------------------------------------------
    def _on_window_drag(self, dx: float, dy: float, finish: bool) -> None:
        px, py = self._pending
        self._pending = (px + dx, py + dy)
        self._dragging = not finish
        if finish:
            self._flush_window_drag()
            self.render_image()  # full resolution once the button is released
        elif not self._timer.isActive():
            self._timer.start()

    def _flush_window_drag(self) -> None:
        """Apply the accumulated drag now (the timer calls it at most once per frame)."""
        self._timer.stop()
        dx, dy = self._pending
        self._pending = (0.0, 0.0)
        if self.image is None or self.image.is_color or (dx == 0 and dy == 0):
            return
        current = self.model.window or self.image.window
        self.model.set(window=dsp.drag_window(current, dx, dy, self._range))

    def set_window(self, window: Window) -> None:
        self.model.set(window=window)

    def auto_window(self) -> None:
        if self.image is not None:
            center, width = auto_window(self.image.raw)
            self.model.set(window=Window(center, width, "LINEAR_EXACT", AUTO_MINMAX, AUTO_MINMAX))

    def _on_model(self, name: str, value: object) -> None:
        if name in ("window", "invert"):
            self.render_image()
        elif name == "orientation":
            self._apply_orientation()
            self.fit()
        elif name == "tool":
            self.view.tool = str(value)
        elif name == "ruler":
            self._draw_ruler()

    # --- orientation and zoom ------------------------------------------------------------------------
    def _oriented_size(self) -> tuple[float, float]:
        if self.image is None:
            return 1.0, 1.0
        h, w = self.image.shape
        return (h, w) if self.model.orientation.rotation % 2 else (w, h)

    def _apply_orientation(self) -> None:
        if self.image is None:
            return
        h, w = self.image.shape
        m = dsp.orientation_matrix(self.model.orientation, w, h)
        self.group.setTransform(QtGui.QTransform(m[0, 0], m[1, 0], m[0, 1], m[1, 1], m[0, 2], m[1, 2]))

    def rotate(self, steps: int) -> None:
        self.model.set(orientation=self.model.orientation.rotated(steps))

    def flip(self, horizontal: bool) -> None:
        self.model.set(orientation=self.model.orientation.flipped(horizontal))

    def fit(self) -> None:
        w, h = self._oriented_size()
        self.view.setRange(QtCore.QRectF(0, 0, w, h), padding=0.01)
        self._fitted = True

    def close(self) -> bool:
        """Close the view (pyqtgraph clears its scene): stop the timer and the corner labels first."""
        self._timer.stop()
        self.removeEventFilter(self.corners)
        self.corners.deleteLater()
        self.image = None
        return bool(super().close())

    def resizeEvent(self, event: QtGui.QResizeEvent) -> None:
        super().resizeEvent(event)
        if getattr(self, "_fitted", False) and getattr(self, "image", None) is not None:
            self.fit()

    def one_to_one(self) -> None:
        """One image pixel per screen (device) pixel, centred where the view is centred."""
        rect = self.view.viewRect()
        size = self.view.size() * self.devicePixelRatioF()
        c = rect.center()
        self.view.setRange(
            xRange=(c.x() - size.width() / 2, c.x() + size.width() / 2),
            yRange=(c.y() - size.height() / 2, c.y() + size.height() / 2),
            padding=0,
        )
        self._fitted = False

    def pan(self, fx: float, fy: float) -> None:
        """Move the image on screen by fractions of the view (+x right, +y down), as a pan drag does."""
        rect = self.view.viewRect()
        self.view.translateBy(x=-fx * rect.width(), y=-fy * rect.height())
        self._fitted = False

    def nudge_window(self, dx: float, dy: float) -> None:
        """Change the window as a right drag of ``(dx, dy)`` screen pixels would (keyboard W/L)."""
        if self.image is None or self.image.is_color:
            return
        current = self.model.window or self.image.window
        self.model.set(window=dsp.drag_window(current, dx, dy, self._range))

    def zoom(self, factor: float) -> None:
        self.view.scaleBy((1 / factor, 1 / factor))
        self._fitted = False

    def zoom_factor(self) -> float:
        """Screen pixels per image pixel."""
        rect = self.view.viewRect()
        return float(self.view.width() / rect.width()) if rect.width() else 1.0

    def reset(self) -> None:
        """Image's own window, no inversion, no rotation, fitted."""
        if self.image is not None:
            self.model.set(window=self.image.window, invert=False, orientation=dsp.Orientation(), ruler=None)
            self.fit()

    # --- ruler ----------------------------------------------------------------------------------
    def _draw_ruler(self) -> None:
        for item in self._ruler_items:
            self.scene().removeItem(item)
        self._ruler_items = []
        if self.model.ruler is None or self.image is None:
            return
        (x0, y0), (x1, y1) = self.model.ruler
        line = QtWidgets.QGraphicsLineItem(x0, y0, x1, y1, self.group)
        pen = QtGui.QPen(QtGui.QColor(80, 255, 120))
        pen.setCosmetic(True)
        pen.setWidthF(2)
        line.setPen(pen)
        m = measure((x0, y0), (x1, y1), self.image.spacing, self.image.spacing_source)
        label = BoxItem((x1, y1, x1, y1), BoxStyle((80, 255, 120), 0.0, False, m.label()), self.group)
        self._ruler_items = [line, label]

    def ruler_label(self) -> str:
        if self.model.ruler is None or self.image is None:
            return ""
        (p0, p1) = self.model.ruler
        return measure(p0, p1, self.image.spacing, self.image.spacing_source).label()

    # --- CanvasLayers (plugins.api) --------------------------------------------------------------------
    def set_image_overlay(self, key: str, rgba: np.ndarray | None, z: float = 10.0) -> None:
        """Draw an ``H x W x 4`` uint8 RGBA image over the study image; None removes the layer."""
        old = self._overlays.pop(key, None)
        if old is not None:
            self.scene().removeItem(old)
        if rgba is None:
            return
        item = pg.ImageItem(np.ascontiguousarray(rgba), axisOrder="row-major", levels=(0, 255))
        item.setParentItem(self.group)
        item.setZValue(z)
        self._overlays[key] = item

    def set_indexed_overlay(self, key: str, index: np.ndarray | None, palette: np.ndarray, z: float = 10.0) -> None:
        """Draw a uint8 index image through a 256 x 4 RGBA palette (Qt's indexed 8-bit image, no
        RGBA copy); the same ``index`` array again with a new palette only swaps the colour table."""
        old = self._overlays.get(key)
        if index is None:
            if old is not None:
                self.scene().removeItem(self._overlays.pop(key))
            return
        lut = np.ascontiguousarray(palette, dtype=np.uint8)
        if old is not None and getattr(old, "radlens_index", None) is index:
            old.setLookupTable(lut)
            old.setZValue(z)
            return
        if old is not None:
            self.scene().removeItem(self._overlays.pop(key))
        item = pg.ImageItem(axisOrder="row-major")
        item.setImage(np.ascontiguousarray(index, dtype=np.uint8), autoLevels=False, levels=None, lut=lut)
        item.radlens_index = index
        item.setParentItem(self.group)
        item.setZValue(z)
        self._overlays[key] = item

    def set_boxes(self, key: str, boxes: list[tuple[tuple[float, float, float, float], BoxStyle]] | None) -> None:
        """Draw read-only boxes; None (or an empty list) removes the layer.

        Labels are placed by ``engine.render.place_labels`` (through :func:`viewer.box_items.box_items`):
        at a box corner where they overlap no other label, inside the image.
        """
        for item in self._box_layers.pop(key, []):
            self.scene().removeItem(item)
        if not boxes:
            return
        pixel = 1.0 / max(self.zoom_factor(), 1e-6)  # image pixels per screen pixel
        height, width = self.image.shape if self.image is not None else (0, 0)
        items: list[QtWidgets.QGraphicsItem] = list(box_items(boxes, (float(width), float(height)), pixel, self.group))
        self._box_layers[key] = items

    def set_display_override(self, key: str, display: np.ndarray | None) -> None:
        """Show ``display`` (float [0, 1]) instead of the windowed image; None restores it."""
        self._overrides.pop(key, None)
        if display is not None:
            if self.image is not None and display.shape[:2] != self.image.shape:
                raise ValueError(f"display override {key!r} has shape {display.shape}, image is {self.image.shape}")
            self._overrides[key] = display
        self.render_image()

    def layer_keys(self) -> dict[str, list[str]]:
        """Which layers are set (for tests and the screenshot mode)."""
        return {"overlays": list(self._overlays), "boxes": list(self._box_layers), "overrides": list(self._overrides)}

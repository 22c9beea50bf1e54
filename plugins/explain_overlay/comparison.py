"""Side-by-side comparison of two explanations of the open image, with linked views.

Each side chooses a method, a layer and a class; both explain the same image on the panel's job
runner (keys ``compare.left`` and ``compare.right``). A side's map is drawn by the panel's
presenter (:meth:`plugins.explain_overlay.presenter.MapPresenter.render_async`, keys
``compare.left.render`` and ``compare.right.render``): as ``state.overlay`` says, and off the GUI
thread for a large image, exactly like the overlay on the canvas. Panning or zooming one view moves
the other (``setXLink``/``setYLink``). A side re-uses its last result when only the class changed,
since one explanation holds every class's map. Each view also shows the ground-truth boxes of its
class (solid, labelled with the annotator) and the user's boxes of that class (dashed), drawn by the
host (``host.box_items``) as on the canvas, so that both maps are judged against the same truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QGraphicsItem,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from engine.errors import CancelledError
from engine.explainers import ExplanationResult, explain
from engine.io import StudyImage
from engine.models.bundle import LoadedModel
from plugins.api import BoxStyle, CancelledFn, ProgressFn, StyledBox, ViewerHost
from plugins.explain_overlay.method_chooser import available_methods
from plugins.explain_overlay.model_chooser import RESEARCH_NOTICE, model_text
from plugins.explain_overlay.presenter import RenderArgs, Rendered

if TYPE_CHECKING:
    from plugins.explain_overlay.panel import ExplanationPanel

SIDES = ("left", "right")
DEFAULT_LAYER = ""  # the model's default layer


@dataclass
class Side:
    """One half of the comparison: its choosers, view and last result."""

    name: str
    method: QComboBox
    layer: QComboBox
    cls: QComboBox
    caption: QLabel
    view: pg.ViewBox
    image_item: pg.ImageItem
    overlay_item: pg.ImageItem
    result: ExplanationResult | None = None
    result_key: tuple[Any, ...] = field(default_factory=tuple)
    truth_items: list[QGraphicsItem] = field(default_factory=list)

    def choice(self) -> tuple[str, str]:
        return str(self.method.currentData()), str(self.layer.currentData())


class ComparisonWindow(QWidget):
    """A separate window comparing two methods, layers or classes on the open image.

    Args:
        host: The viewer host (its ``state.image`` and ``state.model`` are compared).
        panel: The explanation panel (its runner, layer list and display settings are used).
        parent: The owner (the panel); the comparison is a separate top-level window all the same.
    """

    def __init__(self, host: ViewerHost, panel: ExplanationPanel, parent: QWidget | None = None) -> None:
        super().__init__(parent, Qt.WindowType.Window)
        self.setObjectName("explanation.compare")
        self.setWindowTitle("Compare explanations — " + RESEARCH_NOTICE)
        self.host, self.panel, self.runner = host, panel, panel.runner
        self.resize(1100, 650)
        self.header = QLabel()
        self.header.setStyleSheet("font-weight: bold;")
        self.graphics = pg.GraphicsLayoutWidget()
        self.graphics.setBackground("k")
        self.run_button = QPushButton("Explain both")
        self.status = QLabel("")
        grid = QGridLayout()
        self.sides: dict[str, Side] = {}
        methods = available_methods(host)
        for col, name in enumerate(SIDES):
            view = self.graphics.addViewBox(row=0, col=col)
            view.setAspectLocked(True)
            view.invertY(True)
            image_item, overlay_item = pg.ImageItem(), pg.ImageItem()
            overlay_item.setZValue(10)
            view.addItem(image_item)
            view.addItem(overlay_item)
            method, layer, cls = QComboBox(), QComboBox(), QComboBox()
            for m in methods:
                method.addItem(m.label, m.name)
            caption = QLabel("")
            caption.setWordWrap(True)
            side = Side(name, method, layer, cls, caption, view, image_item, overlay_item)
            self.sides[name] = side
            row = QHBoxLayout()
            for label, w in (("Method", method), ("Layer", layer), ("Class", cls)):
                row.addWidget(QLabel(label))
                row.addWidget(w, 1)
            grid.addLayout(row, 0, col)
            grid.addWidget(caption, 1, col)
            cls.currentIndexChanged.connect(lambda _i, s=side: self._class_changed(s))
        right = self.sides["right"].view
        right.setXLink(self.sides["left"].view)
        right.setYLink(self.sides["left"].view)
        bottom = QHBoxLayout()
        bottom.addWidget(self.run_button)
        bottom.addWidget(self.status, 1)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addLayout(grid)
        layout.addWidget(self.graphics, 1)
        layout.addLayout(bottom)
        self.run_button.clicked.connect(self.run)
        self._unsubscribe = [host.state.subscribe("image", lambda _img: self.refresh_choices()),
                             host.state.subscribe("model", lambda _m: self.refresh_choices()),
                             host.state.subscribe("ground_truth", lambda _gt: self._draw_all_truth()),
                             host.state.subscribe("user_boxes", lambda _ub: self._draw_all_truth()),
                             host.state.overlay.listen(self._look_changed)]
        unsub = self._unsubscribe
        self.destroyed.connect(lambda *_: [u() for u in unsub])
        self.refresh_choices(initial=True)

    # --- choices -----------------------------------------------------------------------------------
    def refresh_choices(self, initial: bool = False) -> None:
        """Fill the layer and class choosers from the model and show the current image."""
        state = self.host.state
        model = state.model
        self.header.setText(f"{model_text(model)}   ·   {RESEARCH_NOTICE}")
        chooser = self.panel.method_chooser
        layers = [chooser.layers.item(r).data(Qt.ItemDataRole.UserRole) for r in range(chooser.layers.count())]
        classes = list(model.class_names) if model is not None else []
        for side in self.sides.values():
            for combo, items in ((side.layer, [("model default", DEFAULT_LAYER)] + [(n, n) for n in layers]),
                                 (side.cls, [(c, c) for c in classes])):
                keep = combo.currentData()
                combo.blockSignals(True)
                combo.clear()
                for text, data in items:
                    combo.addItem(text, data)
                combo.setCurrentIndex(max(0, combo.findData(keep)))
                combo.blockSignals(False)
            side.result, side.result_key = None, ()
            side.overlay_item.clear()
            side.caption.setText("")
        if initial:
            self._initial_choices()
        display = getattr(state.image, "display", None)
        for side in self.sides.values():
            if display is None:
                side.image_item.clear()
            else:
                side.image_item.setImage(np.asarray(display), levels=(0.0, 1.0), axisOrder="row-major")
                side.view.autoRange(padding=0.0)
        self._draw_all_truth()

    def _initial_choices(self) -> None:
        """Left: the panel's method and class; right: another CAM method on the same class."""
        chooser = self.panel.method_chooser
        method = chooser.method_name()
        other = next((m for m in ("gradcampp", "layercam", "xgradcam", "gradcam") if m != method), "gradcam")
        selected = chooser.selected_layers()
        cls = self.host.state.selected_class
        for side, m in ((self.sides["left"], method), (self.sides["right"], other)):
            side.method.setCurrentIndex(max(0, side.method.findData(m)))
            if selected:
                side.layer.setCurrentIndex(max(0, side.layer.findData(selected[0])))
            if cls:
                side.cls.blockSignals(True)
                side.cls.setCurrentIndex(max(0, side.cls.findData(cls)))
                side.cls.blockSignals(False)

    def set_choice(
        self, side: str, method: str | None = None, layer: str | None = None, cls: str | None = None
    ) -> None:
        """Choose a side's method, layer (``""`` = default) and/or class programmatically."""
        s = self.sides[side]
        for combo, value in ((s.method, method), (s.layer, layer), (s.cls, cls)):
            if value is not None:
                i = combo.findData(value)
                if i < 0:
                    raise KeyError(f"{value!r} is not offered on the {side} side")
                combo.setCurrentIndex(i)

    # --- ground truth ------------------------------------------------------------------------------
    def _class_changed(self, side: Side) -> None:
        self._render(side)
        self._draw_truth(side)

    def _draw_all_truth(self) -> None:
        for side in self.sides.values():
            self._draw_truth(side)

    def _draw_truth(self, side: Side) -> None:
        """The ground-truth (solid) and user (dashed) boxes of the side's class on its view."""
        for item in side.truth_items:
            side.view.removeItem(item)
        side.truth_items = []
        state, cls = self.host.state, side.cls.currentData()
        if not cls or state.image is None:
            return
        color = self.host.class_color(str(cls))
        boxes = [(b, False) for b in state.ground_truth.boxes if b.class_name == cls]
        boxes += [(b, True) for b in state.user_boxes.boxes if b.class_name == cls]
        styled: list[StyledBox] = [(b.as_tuple(), BoxStyle(color, 2.0, mine, f"yours · {b.annotator}" if mine
                                                           else b.annotator)) for b, mine in boxes]
        height, width = state.image.shape
        for item in self.host.box_items(styled, (float(width), float(height)), self._pixel_size(side, width)):
            side.view.addItem(item)
            side.truth_items.append(item)

    @staticmethod
    def _pixel_size(side: Side, width: int) -> float:
        """Image pixels per screen pixel in the side's view (the image fills a 400 px view before it is shown)."""
        px = side.view.viewPixelSize()[0] if side.view.isVisible() else 0.0
        return px if 0.0 < px < float("inf") else width / 400.0

    # --- running ---------------------------------------------------------------------------------------
    def run(self) -> None:
        """Explain both sides (a side whose method and layer did not change re-uses its result)."""
        state = self.host.state
        if state.image is None or state.model is None:
            self.status.setText("Open an image and load a model first.")
            return
        for side in self.sides.values():
            self._run_side(side, state.image, state.model)

    def _run_side(self, side: Side, image: StudyImage, model: LoadedModel) -> None:
        method, layer = side.choice()
        key = (id(image), id(model), method, layer)
        if side.result is not None and side.result_key == key:
            self._render(side)
            return

        def task(cancelled: CancelledFn, progress: ProgressFn) -> ExplanationResult:
            if cancelled():
                raise CancelledError("replaced by a newer comparison.")
            return explain(model, image, method=method, layers=layer or None, progress=progress, cancel=cancelled)

        def done(result: ExplanationResult) -> None:
            if self.host.state.image is image:
                side.result, side.result_key = result, key
                self._render(side)

        side.caption.setText(f"explaining with {side.method.currentText()}…")
        self.runner.submit(f"compare.{side.name}", task, done, lambda exc: self._failed(side, exc), serial=True)

    def busy(self) -> bool:
        return any(self.runner.is_busy(f"compare.{n}") for n in SIDES)

    def _failed(self, side: Side, exc: BaseException) -> None:
        side.caption.setText(f"failed: {exc}")
        self.host.show_error("Comparison failed", str(exc))

    def _look_changed(self, name: str, _value: object) -> None:
        if name in ("mode", "colormap", "opacity"):  # the overlay's look: redraw both sides with it
            for side in self.sides.values():
                self._render(side)

    def _render(self, side: Side) -> None:
        """Draw the side's map of its class as ``state.overlay`` says (off the GUI thread when large)."""
        result, cls = side.result, side.cls.currentData()
        key = f"compare.{side.name}.render"
        if result is None or cls not in result.explained:
            self.runner.cancel(key)
            side.overlay_item.clear()
            return
        self.panel.presenter.render_async(key, result, str(cls), lambda args, out: self._draw(side, args, out),
                                          lambda exc: self._failed(side, exc))

    def _draw(self, side: Side, args: RenderArgs, out: Rendered) -> None:
        current = self.panel.presenter.current_look(side.result, side.cls.currentData())
        if current is None or current[0] is not args[0] or current[1:] != args[1:]:
            return  # the side's result, class or the look changed while it was drawn
        result, cls = args[0], args[1]
        rgba, scale = out
        side.overlay_item.setImage(rgba, levels=(0, 255), axisOrder="row-major")
        p, t = result.probability(cls), result.thresholds[result.class_names.index(cls)]
        layers = ", ".join(result.layers) or "input"
        side.caption.setText(f"{result.method} · {layers} · {cls}: p = {p:.3f} (threshold {t:.3f}) · "
                             f"{scale.describe()}")

    def closeEvent(self, event: QCloseEvent) -> None:
        for name in SIDES:
            self.runner.cancel(f"compare.{name}")
            self.runner.cancel(f"compare.{name}.render")
        super().closeEvent(event)

"""Draws the selected class's map and boxes on the canvas, and fills the legend and IoU table.

Canvas layers owned here: ``explanation.heatmap`` (the RGBA map: outline, heatmap or both) and
``explanation.boxes`` (boxes cut from the map at ``state.threshold``). Localising a small image is
cheap and runs on the GUI thread; a large one runs in the worker (keys ``overlay`` and
``localise``), see
:data:`plugins.explain_overlay.scores.INLINE_PIXELS`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

from plugins.api import BoxStyle
from plugins.explain_overlay import scores
from plugins.explain_overlay.display_controls import DisplayControls
from plugins.explain_overlay.iou_table import IouTable
from plugins.explain_overlay.rendering import ColourScale, display_map, overlay_rgba
from viewer.worker import TaskRunner

log = logging.getLogger(__name__)

HEATMAP_LAYER = "explanation.heatmap"
BOXES_LAYER = "explanation.boxes"
BOX_COLOUR = (255, 255, 0)


def render(result: Any, name: str, mode: str, cmap: str, opacity: float) -> tuple[np.ndarray, ColourScale]:
    """The RGBA layer of ``name``'s map and its colour scale (pure; safe off the GUI thread)."""
    heat, scale = display_map(result, name)
    return overlay_rgba(heat, mode, cmap, opacity), scale  # type: ignore[arg-type]


class MapPresenter(QObject):
    """Keeps the canvas layers, the legend, the score line and the IoU table in step with the state.

    Args:
        host: The viewer host.
        runner: The panel's task runner.
        display: The display controls (mode, colour map, opacity, legend).
        iou_table: The localisation table.
        score_label: A label showing the selected class's probability against its threshold.
        box_options: Returns (box mode, minimum component area) for cutting boxes.
    """

    def __init__(self, host: Any, runner: TaskRunner, display: DisplayControls, iou_table: IouTable,
                 score_label: QLabel, box_options: Callable[[], tuple[str, int]] = lambda: ("all", 0)) -> None:
        super().__init__(display)
        self.host, self.runner, self.display, self.iou_table, self.score_label = (
            host, runner, display, iou_table, score_label)
        self.box_options = box_options
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)  # coalesce slider drags
        self._timer.timeout.connect(self.refresh_overlay)

    def shown(self) -> tuple[Any, str] | None:
        """(result, class) whose map is on screen, or None."""
        state = self.host.state
        result, name = state.explanation, state.selected_class
        if result is None or name is None or name not in result.explained:
            return None
        return result, name

    def refresh(self) -> None:
        """Redraw the map and re-cut and re-score the boxes."""
        self.refresh_overlay()
        self.update_localisation()

    def schedule_overlay(self) -> None:
        """Redraw the map soon (several calls within 30 ms draw once)."""
        self._timer.start()

    def clear(self) -> None:
        self.runner.cancel("localise")
        self.runner.cancel("overlay")
        self.host.canvas.set_image_overlay(HEATMAP_LAYER, None)
        self.host.canvas.set_boxes(BOXES_LAYER, None)
        self.iou_table.set_rows([])
        self.display.legend.set_scale(None)
        self.score_label.setText("")

    # --- the map ------------------------------------------------------------------------------------
    def refresh_overlay(self) -> None:
        self._timer.stop()
        shown = self.shown()
        if shown is None:
            self.runner.cancel("overlay")
            self.host.canvas.set_image_overlay(HEATMAP_LAYER, None)
            self.display.legend.set_scale(None)
            self.score_label.setText("")
            return
        result, name = shown
        d = self.display
        args = (result, name, d.display_mode(), d.cmap(), d.opacity_value())
        self._show_score(result, name)
        height, width = result.geometry.image_size
        if height * width <= scores.INLINE_PIXELS:
            self.runner.cancel("overlay")
            self._draw(args, render(*args))
        else:  # 1-2 s at 3000 x 3000 (measured): never on the GUI thread
            self.runner.submit("overlay", lambda _c, _p: render(*args), lambda out: self._draw(args, out),
                               lambda exc: self.host.show_status(f"The map could not be drawn: {exc}"))

    def _draw(self, args: tuple[Any, ...], out: tuple[np.ndarray, ColourScale]) -> None:
        state, d = self.host.state, self.display
        current = (state.explanation, state.selected_class, d.display_mode(), d.cmap(), d.opacity_value())
        if current[0] is not args[0] or current[1:] != args[1:]:
            return  # superseded while it was drawn
        rgba, scale = out
        self.host.canvas.set_image_overlay(HEATMAP_LAYER, rgba)
        d.legend.set_scale(scale)

    def _show_score(self, result: Any, name: str) -> None:
        i = result.class_names.index(name)
        p, t = result.probability(name), result.thresholds[i] if result.thresholds else 0.5
        call = "positive" if p >= t else "negative"
        self.score_label.setText(f"<b>{name}</b>: p = {p:.3f} {'≥' if p >= t else '<'} threshold {t:.3f} "
                                 f"→ <b>{call}</b>")

    # --- boxes and scores -----------------------------------------------------------------------------
    def update_localisation(self) -> None:
        shown = self.shown()
        state = self.host.state
        if shown is None:
            self.runner.cancel("localise")
            self.iou_table.set_rows([])
            self.host.canvas.set_boxes(BOXES_LAYER, None)
            state.update(localisation=None)
            return
        result, name = shown
        args = (result, name, state.threshold, state.ground_truth, state.user_boxes, *self.box_options())
        height, width = result.geometry.image_size
        if height * width <= scores.INLINE_PIXELS:
            self.runner.cancel("localise")
            try:
                loc = scores.localise_class(*args)
            except Exception as exc:  # e.g. a bad threshold text set by other code
                self._failed(exc)
                return
            self._apply(loc, args)
        else:
            self.runner.submit("localise", lambda _c, _p: scores.localise_class(*args),
                               lambda loc: self._apply(loc, args), self._failed)

    def _apply(self, loc: Any, args: tuple[Any, ...]) -> None:
        state = self.host.state
        current = (state.explanation, state.selected_class, state.threshold, state.ground_truth, state.user_boxes)
        if any(a is not b for a, b in zip(args[:5], current, strict=True)) or args[5:] != self.box_options():
            return  # superseded while it was computed
        self.iou_table.set_rows(scores.score_rows(loc, positive=loc.class_name in args[0].predicted()))
        plain = BoxStyle(color=BOX_COLOUR, width=2.0, dashed=True)
        labelled = BoxStyle(color=BOX_COLOUR, width=2.0, dashed=True, label=f"map: {loc.class_name} @ {loc.threshold}")
        boxes = [(tuple(float(v) for v in b), labelled if i == 0 else plain) for i, b in enumerate(loc.boxes)]
        self.host.canvas.set_boxes(BOXES_LAYER, boxes)
        state.update(localisation=loc)

    def _failed(self, exc: BaseException) -> None:
        log.warning("localisation failed: %s", exc)
        self.iou_table.set_rows([])
        self.host.canvas.set_boxes(BOXES_LAYER, None)
        self.host.state.update(localisation=None)
        self.host.show_status(f"Boxes could not be cut from the map: {exc}")

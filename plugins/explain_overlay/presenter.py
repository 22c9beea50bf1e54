"""Draws the selected class's map and boxes on the canvas, and fills the legend and IoU table.

Canvas layers owned here: ``explanation.heatmap`` (the RGBA map: outline, heatmap or both) and
``explanation.boxes`` (boxes cut from the map at ``state.threshold``). How the map is drawn and the
boxes are cut comes from ``state.overlay`` (:class:`plugins.api.OverlayDisplay`), never from the
widgets. Drawing or localising a small image is cheap and runs on the GUI thread; a large one runs
on the job runner (keys ``overlay`` and ``localise``), see
:data:`plugins.explain_overlay.scores.INLINE_PIXELS`. :meth:`MapPresenter.render_async` does the same
for other views (the comparison window).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6.QtCore import QObject, QTimer
from PySide6.QtWidgets import QLabel

from engine.analysis import ClassLocalisation, map_index
from engine.explainers import ExplanationResult
from plugins.api import BoxStyle, JobRunner, OverlayDisplay, StyledBox, ViewerHost
from plugins.explain_overlay import scores
from plugins.explain_overlay.display_controls import DisplayControls
from plugins.explain_overlay.iou_table import IouTable
from plugins.explain_overlay.regions import RegionList
from plugins.explain_overlay.rendering import (
    ColourScale,
    colour_scale,
    display_map,
    heat_palette,
    lut_index,
    outline_index,
    outline_palette,
    overlay_rgba,
)

log = logging.getLogger(__name__)

HEATMAP_LAYER = "explanation.heatmap"
OUTLINE_LAYER = "explanation.outline"  # the outline over the heatmap in "both" mode
BOXES_LAYER = "explanation.boxes"
BOX_COLOUR = (255, 255, 0)


Rendered = tuple[np.ndarray, ColourScale]
RenderArgs = tuple[ExplanationResult, str, str, str, float]


def render(result: ExplanationResult, name: str, mode: str, cmap: str, opacity: float) -> Rendered:
    """The RGBA layer of ``name``'s map and its colour scale (pure; safe off the GUI thread)."""
    heat, scale = display_map(result, name)
    return overlay_rgba(heat, mode, cmap, opacity), scale  # type: ignore[arg-type]


#: A class's map as the canvas takes it: heat index image (or None), outline index image (or
#: None), and the colour scale. Colour map, opacity and display mode are palettes over these.
Indexed = tuple[np.ndarray | None, np.ndarray | None, ColourScale]


def indexed(result: ExplanationResult, name: str, mode: str) -> Indexed:
    """The index images ``mode`` needs for ``name``'s map (pure; safe off the GUI thread).

    They depend on neither the colour map nor the opacity and are kept with the result
    (``result.derived``), so recolouring, switching mode and coming back to a class are palette
    changes, not image computations (issue #19: 1-2 s per redraw at 3000 x 3000 before).
    """
    def cached(kind: str, make: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        key = ("overlay." + kind, name)
        if key not in result.derived:
            result.derived[key] = make(display_map(result, name)[0])
        return result.derived[key]

    heat = cached("heat", lut_index) if mode in ("heatmap", "both") else None
    lines = cached("outline", outline_index) if mode in ("outline", "both") else None
    return heat, lines, colour_scale(result, name)


def draw_indexed(canvas: Any, layers: Indexed, mode: str, cmap: str, opacity: float) -> None:
    """Put ``layers`` on the canvas as ``mode`` shows them (``overlay_rgba``'s look: the outline
    at twice the opacity, at most opaque, over the heatmap in ``both`` mode)."""
    heat, lines, _scale = layers
    line_palette = outline_palette(cmap, min(1.0, 2.0 * opacity))
    if mode == "outline":
        canvas.set_indexed_overlay(HEATMAP_LAYER, lines, line_palette)
        canvas.set_indexed_overlay(OUTLINE_LAYER, None, line_palette)
        return
    canvas.set_indexed_overlay(HEATMAP_LAYER, heat, heat_palette(cmap, opacity))
    canvas.set_indexed_overlay(OUTLINE_LAYER, lines if mode == "both" else None, line_palette, 10.5)


def render_args(result: ExplanationResult, name: str, look: OverlayDisplay) -> RenderArgs:
    """What :func:`render` needs to draw ``name``'s map of ``result`` as ``look`` says."""
    return result, name, look.mode, look.colormap, float(look.opacity)


def inline(result: ExplanationResult) -> bool:
    """Whether ``result``'s image is small enough to draw or localise on the GUI thread."""
    height, width = result.geometry.image_size
    return height * width <= scores.INLINE_PIXELS


class MapPresenter(QObject):
    """Keeps the canvas layers, the legend, the score line and the IoU table in step with the state.

    Args:
        host: The viewer host (its ``state.overlay`` says how to draw and cut).
        runner: The panel's job runner.
        display: The display controls (their legend shows the scale).
        iou_table: The localisation table.
        score_label: A label showing the selected class's probability against its threshold.
        regions: The list of the boxes in words (optional).
    """

    def __init__(self, host: ViewerHost, runner: JobRunner, display: DisplayControls, iou_table: IouTable,
                 score_label: QLabel, regions: RegionList | None = None) -> None:
        super().__init__(display)
        self.host, self.runner, self.display, self.iou_table, self.score_label = (
            host, runner, display, iou_table, score_label)
        self.regions = regions
        self.look = host.state.overlay
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(30)  # coalesce slider drags
        self._timer.timeout.connect(self.refresh_overlay)
        self._prefetched: ExplanationResult | None = None

    def box_options(self) -> tuple[str, int]:
        """(box mode, minimum component area) for cutting boxes, from ``state.overlay``."""
        return str(self.look.box_mode), int(self.look.min_area)

    def render_async(self, key: str, result: ExplanationResult, name: str,
                     draw: Callable[[RenderArgs, Rendered], None], failed: Callable[[BaseException], None]) -> None:
        """Render ``name``'s map of ``result`` as ``state.overlay`` says, then ``draw(args, out)``: at
        once for a small image, else on the job runner under ``key`` (a newer call replaces it)."""
        args = render_args(result, name, self.look)
        if inline(result):
            self.runner.cancel(key)
            draw(args, render(*args))
        else:  # 1-2 s at 3000 x 3000 (measured): never on the GUI thread
            self.runner.submit(key, lambda _c, _p: render(*args), lambda out: draw(args, out), failed)

    def current_look(self, result: ExplanationResult | None, name: str | None) -> RenderArgs | None:
        """The render arguments ``name``'s map of ``result`` would be drawn with now."""
        return None if result is None or name is None else render_args(result, name, self.look)

    def shown(self) -> tuple[ExplanationResult, str] | None:
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
        self._remove_map()
        self.host.canvas.set_boxes(BOXES_LAYER, None)
        self.iou_table.set_rows([])
        self._describe(None, None)
        self.display.legend.set_scale(None)
        self.score_label.setText("")

    def _remove_map(self) -> None:
        for key in (HEATMAP_LAYER, OUTLINE_LAYER):
            self.host.canvas.set_indexed_overlay(key, None, _EMPTY_PALETTE)

    # --- the map ------------------------------------------------------------------------------------
    def refresh_overlay(self) -> None:
        self._timer.stop()
        shown = self.shown()
        if shown is None:
            self.runner.cancel("overlay")
            self._remove_map()
            self.display.legend.set_scale(None)
            self.score_label.setText("")
            return
        result, name = shown
        self._show_score(result, name)
        mode = str(self.look.mode)
        if inline(result) or _ready(result, name, mode):
            self.runner.cancel("overlay")
            self._draw(result, name, indexed(result, name, mode))
            return
        self.runner.submit("overlay", lambda _c, _p: indexed(result, name, mode),
                           lambda layers: self._draw(result, name, layers),
                           lambda exc: self.host.show_status(f"The map could not be drawn: {exc}"))

    def prefetch(self, result: ExplanationResult) -> None:
        """Compute every explained class's index images and localisation index in the background
        (large images only, once per result), so that switching class shows its map and boxes at
        once. Started after the first class is drawn, so it never delays that one."""
        if inline(result) or self._prefetched is result:
            return
        self._prefetched = result
        mode = str(self.look.mode)
        names = list(result.explained)

        def work(cancelled: Callable[[], bool], _progress: Any) -> None:
            for n in names:
                if cancelled():
                    return
                indexed(result, n, mode)
                map_index(result, n)

        self.runner.submit("overlay.prefetch", work, lambda _out: None,
                           lambda exc: log.warning("overlay prefetch failed: %s", exc))

    def _draw(self, result: ExplanationResult, name: str, layers: Indexed) -> None:
        state = self.host.state
        if state.explanation is not result or state.selected_class != name:
            return  # superseded while it was computed
        mode = str(self.look.mode)
        if (mode in ("heatmap", "both") and layers[0] is None) or (mode in ("outline", "both") and layers[1] is None):
            self.refresh_overlay()  # the mode changed while these were computed
            return
        draw_indexed(self.host.canvas, layers, mode, str(self.look.colormap), float(self.look.opacity))
        self.display.legend.set_scale(layers[2])
        self.prefetch(result)

    def _show_score(self, result: ExplanationResult, name: str) -> None:
        if result.is_regression:  # a value, no probability or threshold
            unit = result.unit(name)
            direction = result.direction or "raises"
            self.score_label.setText(f"<b>{name}</b> = {result.value(name):.4g}{' ' + unit if unit else ''} "
                                     f"(predicted); the map shows what <b>{direction}</b> it")
            return
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
            self._describe(None, None)
            self.host.canvas.set_boxes(BOXES_LAYER, None)
            state.update(localisation=None)
            return
        result, name = shown
        args = (result, name, state.threshold, state.ground_truth, state.user_boxes, *self.box_options())
        if inline(result):
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

    def _apply(self, loc: ClassLocalisation, args: tuple[Any, ...]) -> None:
        state = self.host.state
        current = (state.explanation, state.selected_class, state.threshold, state.ground_truth, state.user_boxes)
        if any(a is not b for a, b in zip(args[:5], current, strict=True)) or args[5:] != self.box_options():
            return  # superseded while it was computed
        call = None if args[0].is_regression else loc.class_name in args[0].predicted()  # a value has no call
        self.iou_table.set_rows(scores.score_rows(loc, positive=call))
        plain = BoxStyle(color=BOX_COLOUR, width=2.0, dashed=True)
        labelled = BoxStyle(color=BOX_COLOUR, width=2.0, dashed=True, label=f"map: {loc.class_name} @ {loc.threshold}")
        boxes: list[StyledBox] = [((float(b[0]), float(b[1]), float(b[2]), float(b[3])), labelled if i == 0 else plain)
                                  for i, b in enumerate(loc.boxes)]
        self.host.canvas.set_boxes(BOXES_LAYER, boxes)
        state.update(localisation=loc)
        self._describe(loc, args[0])

    def _describe(self, loc: ClassLocalisation | None, result: ExplanationResult | None) -> None:
        """Fill the region list (on the GUI thread for a small image, else on the runner, key ``describe``)."""
        if self.regions is None:
            return
        regions = self.regions
        if loc is None or result is None or self.host.state.image is None:
            self.runner.cancel("describe")
            regions.set_regions([])
            return
        args = (result, loc, self.host.state.image, self.host.state.ground_truth)

        def show(words: tuple[list[str], str]) -> None:
            if self.host.state.localisation is loc:  # not superseded meanwhile
                regions.set_regions(*words)

        def failed(exc: BaseException) -> None:
            log.warning("region descriptions failed: %s", exc)
            regions.set_regions([])

        if inline(result):
            self.runner.cancel("describe")
            try:
                show(scores.describe_class(*args))
            except Exception as exc:  # never let the words break the boxes
                failed(exc)
        else:
            self.runner.submit("describe", lambda _c, _p: scores.describe_class(*args), show, failed)

    def _failed(self, exc: BaseException) -> None:
        log.warning("localisation failed: %s", exc)
        self._describe(None, None)
        self.iou_table.set_rows([])
        self.host.canvas.set_boxes(BOXES_LAYER, None)
        self.host.state.update(localisation=None)
        self.host.show_status(f"Boxes could not be cut from the map: {exc}")


_EMPTY_PALETTE = np.zeros((256, 4), np.uint8)


def _ready(result: ExplanationResult, name: str, mode: str) -> bool:
    """Whether the index images ``mode`` needs for ``name`` are already computed."""
    need = {"heatmap": ("heat",), "outline": ("outline",), "both": ("heat", "outline")}.get(mode, ("heat",))
    return all(("overlay." + kind, name) in result.derived for kind in need)

"""A bar chart of every class's probability: original (grey) beside perturbed (coloured), with Δp.

A regression model's outputs are values, not probabilities (``set_values(..., units=...)``): the value
axis then fits the values (0 included) with automatic ticks, and the text beyond each pair reads
``0.664 → 0.612 ratio (−0.052)``: original, perturbed, unit and the change (perturbed − original).

Readable in a short, wide bottom dock and in a tall, narrow side column: with room for about
110 px per class the bars stand upright (class names below them); with less they lie down (class
names on the left, where a long name fits). The probability axis has three ticks (0, 0.5, 1) and
the Δp of each class is written just beyond the bars, inside the view, so it is never clipped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

ORIGINAL_BRUSH = (150, 150, 150, 200)
LOST_BRUSH = (192, 57, 43, 220)  # the class lost probability
GAINED_BRUSH = (36, 113, 163, 220)  # the class gained probability
P_LOW = -0.1  # a little below 0, so that the 0 tick is drawn
P_HIGH = 1.3  # bars reach 1; the Δp labels sit in the band beyond
LABEL_AT = 1.04  # where the Δp labels start
P_TICKS = [[(0.0, "0"), (0.5, "0.5"), (1.0, "1")], []]
PX_PER_CLASS = 110  # upright bars need about this much width per class
TITLE_PROBABILITIES = "grey: original · red: lost · blue: gained"
TITLE_VALUES = "predicted value · grey: original · red: lower · blue: higher"


class ProbabilityBars(pg.PlotWidget):
    """Two bars per class; the text beyond each pair is ``Δp = p_original − p_perturbed``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent)
        self.setBackground("w")
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setMenuEnabled(False)
        self.setMinimumHeight(120)
        item = self.getPlotItem()
        item.setTitle(TITLE_PROBABILITIES, size="8pt", color=(110, 110, 110))
        self._orig = pg.BarGraphItem(x=[], height=[], width=0.38, brush=ORIGINAL_BRUSH)
        self._pert = pg.BarGraphItem(x=[], height=[], width=0.38, brush=LOST_BRUSH)
        self.addItem(self._orig)
        self.addItem(self._pert)
        self._labels: list[pg.TextItem] = []
        self.classes: tuple[str, ...] = ()
        self.original = np.zeros(0)
        self.perturbed = np.zeros(0)
        self.shown_delta = False
        self.units: tuple[str, ...] | None = None  # None: probabilities; else a regression model's units
        self.horizontal: bool | None = None
        self.updates = 0
        self._orient(False)

    # --- data ------------------------------------------------------------------------------------
    def set_values(self, classes: Sequence[str], original: np.ndarray, perturbed: np.ndarray | None,
                   units: Sequence[str] | None = None) -> None:
        """Show ``original`` and ``perturbed`` (None: only the original) for ``classes``.

        ``units`` (one per class, "" allowed) marks a regression model: the bars are predicted values.
        """
        classes = tuple(classes)
        self.original = np.asarray(original, dtype=float)
        self.perturbed = self.original.copy() if perturbed is None else np.asarray(perturbed, dtype=float)
        self.shown_delta = perturbed is not None
        new_units = tuple(units) if units is not None else None
        if new_units != self.units:
            self.units = new_units
            self.getPlotItem().setTitle(TITLE_VALUES if self.is_values else TITLE_PROBABILITIES, size="8pt",
                                        color=(110, 110, 110))
            self.classes = ()  # rebuild the axes
        if classes != self.classes:
            self.classes = classes
            for label in self._labels:
                self.removeItem(label)
            self._labels = []
            for _ in classes:
                label = pg.TextItem("", color=(40, 40, 40))
                self.addItem(label)
                self._labels.append(label)
            self._orient(self._wants_horizontal(self.width()), force=True)  # draws
        else:
            self._draw()
        self.updates += 1

    @property
    def is_values(self) -> bool:
        """Whether the bars show a regression model's predicted values."""
        return self.units is not None

    def label_texts(self) -> list[str]:
        """The Δp labels (values: original → perturbed unit (change)) as shown (for tests)."""
        return [label.toPlainText() for label in self._labels]

    def _value_range(self) -> tuple[float, float, float]:
        """(low, high, label position) of the value axis: the values and 0, with room for the labels."""
        both = np.concatenate([self.original, self.perturbed, [0.0]])
        lo, hi = float(np.nanmin(both)), float(np.nanmax(both))
        span = (hi - lo) or 1.0
        return lo - 0.08 * span, hi + (0.9 if self.horizontal else 0.35) * span, hi + 0.04 * span

    def _label(self, i: int, d: float) -> str:
        if not self.shown_delta:
            return ""
        if self.units is None:
            return f"Δp {d:+.3f}"
        unit = self.units[i] if i < len(self.units) else ""
        o, p = self.original[i], self.perturbed[i]
        return f"{fmt_value(o)} → {fmt_value(p)}{' ' + unit if unit else ''} ({fmt_value(p - o, signed=True)})"

    def _draw(self) -> None:
        n = len(self.classes)
        pos = np.arange(n, dtype=float)
        delta = self.original - self.perturbed
        brushes = [LOST_BRUSH if d >= 0 else GAINED_BRUSH for d in delta]
        if self.horizontal:  # class i at y = -i (first class on top), bars grow to the right
            y = -pos
            self._orig.setOpts(x=None, y0=None, height=0.38, x0=0.0, width=self.original, y=y + 0.2)
            self._pert.setOpts(x=None, y0=None, height=0.38, x0=0.0, width=self.perturbed, y=y - 0.2,
                               brushes=brushes)
        else:
            self._orig.setOpts(x0=None, y=None, x=pos - 0.2, width=0.38, y0=0.0, height=self.original)
            self._pert.setOpts(x0=None, y=None, x=pos + 0.2, width=0.38, y0=0.0, height=self.perturbed,
                               brushes=brushes)
        label_at = LABEL_AT
        if self.is_values:
            lo, hi, label_at = self._value_range()
            if self.horizontal:
                self.setXRange(lo, hi, padding=0)
            else:
                self.setYRange(lo, hi, padding=0)
        for i, (label, d) in enumerate(zip(self._labels, delta, strict=True)):
            label.setText(self._label(i, float(d)))
            if self.horizontal:
                label.setAnchor((0.0, 0.5))
                label.setPos(label_at, -i)
            else:
                label.setAnchor((0.5, 1.0))
                label.setPos(i, label_at)

    # --- orientation -----------------------------------------------------------------------------
    def _wants_horizontal(self, width: int) -> bool:
        return bool(self.classes) and width < PX_PER_CLASS * len(self.classes)

    def _orient(self, horizontal: bool, force: bool = False) -> None:
        if horizontal == self.horizontal and not force:
            return
        self.horizontal = horizontal
        item = self.getPlotItem()
        value_axis, class_axis = ("bottom", "left") if horizontal else ("left", "bottom")
        names = [[(-i if horizontal else i, _short(c, 22 if horizontal else 16)) for i, c in enumerate(self.classes)]]
        item.getAxis(class_axis).setTicks(names)
        item.getAxis(value_axis).setTicks(None if self.is_values else P_TICKS)
        item.getAxis(value_axis).enableAutoSIPrefix(False)  # a ratio of 0.66 stays 0.66, not "660 (x0.001)"
        units = set(self.units or ())
        unit = f" ({units.pop()})" if len(units) == 1 and "" not in units else ""
        item.setLabel(value_axis, f"value{unit}" if self.is_values else "p")
        item.setLabel(class_axis, None)
        item.getAxis("left").setWidth(max((len(t) for _, t in names[0]), default=4) * 7 + 8 if horizontal else 34)
        item.getAxis("bottom").setHeight(34 if horizontal else 22)
        item.showGrid(x=horizontal, y=not horizontal, alpha=0.25)
        n = max(1, len(self.classes))
        if horizontal:
            self.setXRange(P_LOW, P_HIGH + 0.32, padding=0)  # room for "Δp +0.000" right of the bars
            self.setYRange(-(n - 1) - 0.6, 0.6, padding=0)
        else:
            self.setXRange(-0.6, n - 0.4, padding=0)
            self.setYRange(P_LOW, P_HIGH, padding=0)
        if self.classes:
            self._draw()

    def resizeEvent(self, event) -> None:
        if hasattr(self, "_labels"):  # pyqtgraph calls this (with None) while it is being built
            self._orient(self._wants_horizontal(event.size().width() if event is not None else self.width()))
        super().resizeEvent(event)


def fmt_value(v: float, signed: bool = False) -> str:
    """A predicted value with 3 decimals (fewer digits past 100, scientific below 0.001)."""
    a = abs(v)
    body = f"{v:+.3g}" if 0 < a < 1e-3 else f"{v:+.1f}" if a >= 100 else f"{v:+.3f}"
    return body if signed else body.lstrip("+")


def _short(name: str, n: int = 16) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"

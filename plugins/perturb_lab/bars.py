"""A bar chart of every class's probability: original (grey) beside perturbed (coloured), with Δp."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyqtgraph as pg

ORIGINAL_BRUSH = (150, 150, 150, 200)
LOST_BRUSH = (192, 57, 43, 220)  # the class lost probability
GAINED_BRUSH = (36, 113, 163, 220)  # the class gained probability


class ProbabilityBars(pg.PlotWidget):
    """Two bars per class; the text above each pair is ``Δp = p_original − p_perturbed``."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent=parent)
        self.setBackground("w")
        self.setMouseEnabled(x=False, y=False)
        self.hideButtons()
        self.setYRange(0.0, 1.08, padding=0)
        self.getPlotItem().setLabel("left", "probability")
        self._orig = pg.BarGraphItem(x=[], height=[], width=0.38, brush=ORIGINAL_BRUSH)
        self._pert = pg.BarGraphItem(x=[], height=[], width=0.38, brush=LOST_BRUSH)
        self.addItem(self._orig)
        self.addItem(self._pert)
        self._labels: list[pg.TextItem] = []
        self.classes: tuple[str, ...] = ()
        self.original = np.zeros(0)
        self.perturbed = np.zeros(0)
        self.updates = 0

    def set_values(self, classes: Sequence[str], original: np.ndarray, perturbed: np.ndarray | None) -> None:
        """Show ``original`` and ``perturbed`` (None: only the original) for ``classes``."""
        classes = tuple(classes)
        x = np.arange(len(classes), dtype=float)
        if classes != self.classes:
            self.classes = classes
            self.getPlotItem().getAxis("bottom").setTicks([[(i, _short(c)) for i, c in enumerate(classes)]])
            self.setXRange(-0.6, len(classes) - 0.4, padding=0)
            for item in self._labels:
                self.removeItem(item)
            self._labels = []
            for i in range(len(classes)):
                label = pg.TextItem("", anchor=(0.5, 1.0), color=(40, 40, 40))
                label.setPos(i, 1.07)
                self.addItem(label)
                self._labels.append(label)
        self.original = np.asarray(original, dtype=float)
        self.perturbed = self.original.copy() if perturbed is None else np.asarray(perturbed, dtype=float)
        delta = self.original - self.perturbed
        self._orig.setOpts(x=x - 0.2, height=self.original)
        brushes = [LOST_BRUSH if d >= 0 else GAINED_BRUSH for d in delta]
        self._pert.setOpts(x=x + 0.2, height=self.perturbed, brushes=brushes)
        for label, d in zip(self._labels, delta, strict=True):
            label.setText("" if perturbed is None else f"Δp {d:+.3f}")
        self.updates += 1


def _short(name: str, n: int = 14) -> str:
    return name if len(name) <= n else name[: n - 1] + "…"

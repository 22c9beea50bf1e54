"""The curves tab: deletion and insertion for MoRF, LeRF and the random band, with their AUCs.

A column with the compute button and a small table of the AUCs and AOPC (each curve's colour as
its key; in-plot legends covered the curves), then the two plots: beside each other and to the
right of the table in a wide dock, stacked below it in a narrow one.

For a regression model the curves follow the predicted value (in its unit): the value axis fits the
curves and the band, the table's AUCs are mean values over the fractions and AOPC the mean drop of
the value.
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from engine.perturb.curves import CurveResult, aopc, normalised_auc
from plugins.perturb_lab.bars import fmt_value
from plugins.perturb_lab.layout import ResponsivePage, controls_column

PENS = {"morf": (192, 57, 43), "lerf": (36, 113, 163)}
RANDOM_PEN = (127, 140, 141)
NAMES = {"morf": "MoRF", "lerf": "LeRF", "random": "random"}


class CurvesView(QtWidgets.QWidget):
    """A table of AUCs (``side`` is its column's layout) and two plots, arranged by :class:`ResponsivePage`."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.side = QtWidgets.QVBoxLayout()
        self.side.setContentsMargins(0, 0, 0, 0)
        self.summary = QtWidgets.QLabel("Compute the curves to compare the map with random orders.")
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.side.addWidget(self.summary)
        charts = QtWidgets.QWidget()
        pair = QtWidgets.QBoxLayout(QtWidgets.QBoxLayout.Direction.TopToBottom, charts)
        pair.setContentsMargins(0, 0, 0, 0)
        self.plots: dict[str, pg.PlotWidget] = {}
        for kind in ("deletion", "insertion"):
            plot = pg.PlotWidget(background="w")
            plot.setTitle(kind, size="9pt", color=(60, 60, 60))
            plot.setMenuEnabled(False)
            plot.setMinimumHeight(140)
            plot.setLabel("bottom", "pixels " + ("replaced" if kind == "deletion" else "restored") + " (%)")
            plot.getPlotItem().showGrid(x=True, y=True, alpha=0.2)
            plot.setXRange(0, 100, padding=0.02)
            self.plots[kind] = plot
            pair.addWidget(plot, 1)
        self.page = ResponsivePage(controls_column(self.side), charts)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.page)
        self.result: CurveResult | None = None
        self.regression: bool | None = None
        self.set_regression(False)

    def set_regression(self, regression: bool | None, unit: str = "") -> None:
        """Axes for probabilities (0–1, three ticks) or a regression model's values (fitted to the curves).

        None (no model) keeps the axes and clears the plots and the table.
        """
        if regression is None:
            self.result = None
            for plot in self.plots.values():
                plot.clear()
            self.summary.setText("Compute the curves to compare the map with random orders.")
            return
        self.regression = regression
        for plot in self.plots.values():
            left = plot.getPlotItem().getAxis("left")
            left.enableAutoSIPrefix(False)
            if regression:
                left.setTicks(None)
                left.setWidth(44)
                plot.setLabel("left", "value" + (f" ({unit})" if unit else ""))
            else:
                left.setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")], []])
                left.setWidth(30)
                plot.setLabel("left", None)
                plot.setYRange(-0.1, 1.06, padding=0)

    def show_curves(self, curves: CurveResult) -> None:
        self.set_regression(curves.regression, curves.unit)
        self.result = curves
        f = np.asarray(curves.fractions) * 100
        aucs: dict[str, dict[str, str]] = {}
        for kind, plot in self.plots.items():
            plot.clear()
            band = (curves.random_deletion if kind == "deletion" else curves.random_insertion)[:, :, curves.t]
            if band.shape[0]:
                mean = band.mean(0)
                sd = band.std(0, ddof=1 if band.shape[0] > 1 else 0)
                lo = pg.PlotDataItem(f, mean - sd, pen=pg.mkPen(None))
                hi = pg.PlotDataItem(f, mean + sd, pen=pg.mkPen(None))
                plot.addItem(pg.FillBetweenItem(lo, hi, brush=(*RANDOM_PEN, 70)))
                values = np.array([normalised_auc(curves.fractions, c) for c in band])
                plot.plot(f, mean, pen=pg.mkPen(RANDOM_PEN, width=2, style=pg.QtCore.Qt.PenStyle.DashLine))
                sd_auc = values.std(ddof=1) if values.size > 1 else 0.0
                aucs.setdefault("random", {})[kind] = f"{values.mean():.3f} ± {sd_auc:.3f}"
            for order in curves.deletion:
                s = curves.scores(kind, order)
                pen = PENS.get(order, RANDOM_PEN)
                plot.plot(f, s, pen=pg.mkPen(pen, width=2), symbol="o", symbolSize=4, symbolBrush=pen)
                aucs.setdefault(order, {})[kind] = f"{normalised_auc(curves.fractions, s):.3f}"
                if kind == "deletion":
                    aucs[order]["aopc"] = f"{aopc(curves.original[curves.t], s):.3f}"
            plot.setXRange(float(f[0]), float(f[-1]), padding=0.02)
            if curves.regression:  # the value axis fits every curve, the band and the original value
                shown = [curves.original[curves.t:curves.t + 1], band.reshape(-1)]
                shown += [curves.scores(kind, o) for o in curves.deletion]
                if band.shape[0]:
                    shown += [mean - sd, mean + sd]
                values = np.concatenate(shown)
                lo, hi = float(np.nanmin(values)), float(np.nanmax(values))
                pad = 0.06 * ((hi - lo) or max(abs(hi), 1.0))
                plot.setYRange(lo - pad, hi + pad, padding=0)
        self.summary.setText(_table(curves, aucs))

    def auc_rows(self) -> list[str]:
        """The orders listed in the table (for tests)."""
        return [] if self.result is None else [*self.result.deletion, *(["random"] if self.result.seeds else [])]


def _table(curves: CurveResult, aucs: dict[str, dict[str, str]]) -> str:
    """The AUC table as rich text: one row per order, its colour as the key."""
    head = ("<tr><th align='left'>order</th><th>&nbsp;deletion AUC&nbsp;</th><th>&nbsp;insertion AUC&nbsp;</th>"
            "<th>&nbsp;AOPC&nbsp;</th></tr>")
    rows = []
    for order, values in aucs.items():
        colour = "#" + "".join(f"{v:02x}" for v in PENS.get(order, RANDOM_PEN))
        key = "- -" if order == "random" else "—●—"
        name = NAMES.get(order, order) + (f" ({len(curves.seeds)})" if order == "random" else "")
        rows.append(f"<tr><td><span style='color:{colour}'><b>{key}</b></span> {name}</td>"
                    f"<td align='center'>{values.get('deletion', '–')}</td>"
                    f"<td align='center'>{values.get('insertion', '–')}</td>"
                    f"<td align='center'>{values.get('aopc', '')}</td></tr>")
    base = curves.baseline
    k = base.params.get("ksize")
    start = f"{base.mode} {k}×{k}" if k else base.mode
    if curves.regression:
        unit = f" {curves.unit}" if curves.unit else ""
        score = f"value = {fmt_value(float(curves.original[curves.t]))}{unit} (predicted)"
        auc = f"AUC = mean predicted value over the fractions{unit and ' (' + curves.unit + ')'}; AOPC = mean drop"
    else:
        score = f"p = {curves.original[curves.t]:.3f}"
        auc = "normalised AUC = trapezoid / fraction span"
    return (f"<b>{curves.target}</b>, {score}"
            f"<table cellspacing='0' cellpadding='3'>{head}{''.join(rows)}</table>"
            f"<span style='color:gray'>deletion: replaced by {curves.replacement.mode.replace('_', ' ')}; "
            f"insertion from {start}; {auc}; random: mean ± sd.</span>")

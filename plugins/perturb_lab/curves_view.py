"""The curves tab's plots: deletion and insertion for MoRF, LeRF and the random band, with AUCs."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from engine.perturb.curves import CurveResult, normalised_auc

PENS = {"morf": (192, 57, 43), "lerf": (36, 113, 163)}


class CurvesView(QtWidgets.QWidget):
    """Two plots side by side and a line of AUCs."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QtWidgets.QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QtWidgets.QHBoxLayout()
        self.plots = {}
        for kind in ("deletion", "insertion"):
            plot = pg.PlotWidget(background="w", title=kind)
            plot.setLabel("bottom", "pixels " + ("replaced" if kind == "deletion" else "restored") + " (%)")
            plot.setLabel("left", "probability")
            plot.setYRange(0, 1.02, padding=0)
            plot.addLegend(offset=(-5, 5))
            self.plots[kind] = plot
            row.addWidget(plot)
        layout.addLayout(row)
        self.summary = QtWidgets.QLabel("Compute the curves to compare the map with random orders.")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.result: CurveResult | None = None

    def show_curves(self, curves: CurveResult) -> None:
        self.result = curves
        f = np.asarray(curves.fractions) * 100
        texts = []
        for kind, plot in self.plots.items():
            plot.clear()
            band = (curves.random_deletion if kind == "deletion" else curves.random_insertion)[:, :, curves.t]
            if band.shape[0]:
                mean = band.mean(0)
                sd = band.std(0, ddof=1 if band.shape[0] > 1 else 0)
                lo = pg.PlotDataItem(f, mean - sd, pen=pg.mkPen(None))
                hi = pg.PlotDataItem(f, mean + sd, pen=pg.mkPen(None))
                plot.addItem(pg.FillBetweenItem(lo, hi, brush=(127, 140, 141, 70)))
                auc = np.mean([normalised_auc(curves.fractions, c) for c in band])
                plot.plot(f, mean, pen=pg.mkPen((127, 140, 141), width=2, style=pg.QtCore.Qt.PenStyle.DashLine),
                          name=f"random ({band.shape[0]}) AUC {auc:.3f}")
                texts.append(f"{kind} random {auc:.3f}")
            for order in curves.deletion:
                s = curves.scores(kind, order)
                auc = normalised_auc(curves.fractions, s)
                plot.plot(f, s, pen=pg.mkPen(PENS.get(order, (0, 0, 0)), width=2), symbol="o", symbolSize=4,
                          symbolBrush=PENS.get(order, (0, 0, 0)), name=f"{order.upper()} AUC {auc:.3f}")
                texts.append(f"{kind} {order.upper()} {auc:.3f}")
        m = curves.summary("morf")
        self.summary.setText(f"{curves.target}: " + "; ".join(texts) + f"; AOPC (MoRF) {m['aopc']:.3f}. "
                             "Normalised AUC = trapezoid / fraction span.")

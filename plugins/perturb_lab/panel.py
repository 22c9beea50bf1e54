"""The Perturbation panel: live pixel replacement, curves and robustness for the selected class.

The class and its map come from the explanation overlay (``state.explanation`` and
``state.selected_class``; without a selected class, the top predicted one). Slider moves and
the region tool submit to the host's job runner under one key, ``"perturb.slider"`` (:data:`LIVE_KEY`),
as serial tasks: the newest request (a move, a change of order or mode, a region) cancels the older
one and waits for it to return, so the bars and the canvas always show the user's last action; a
request that was superseded while it waited is not computed at all, and the result of one
superseded while it ran is dropped.
The ranking is computed once per map (cached in the session).
The region tool replaces the pixels inside the *last* box the user drew (``state.user_boxes``).
The latest result is stored in ``state.perturbation`` (``perturb.json`` schema).

Regression models (``task: regression``): the output and its map ("what raises" or "what lowers" the
value, as the explanation panel's switch chose) come from the same state; every score is then the
predicted value in its unit: the bars read ``original → perturbed unit (change)`` on a value axis,
the status line and the curves follow the value (with the random-order band), and the stored
document says ``task: regression`` with the units.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PySide6 import QtCore, QtWidgets

from engine.perturb import PerturbationResult, Perturbed, Replacement
from engine.perturb.curves import CurveResult
from plugins.api import CancelledFn, ProgressFn, ViewerHost
from plugins.perturb_lab.bars import ProbabilityBars, fmt_value
from plugins.perturb_lab.curves_view import CurvesView
from plugins.perturb_lab.layout import ResponsivePage, controls_column
from plugins.perturb_lab.robustness_tab import RobustnessTab
from plugins.perturb_lab.session import PerturbSession, Source, document

OVERRIDE_KEY = "perturbation"
LIVE_KEY = "perturb.slider"  # slider steps and the region tool: the newest request wins
MODES: dict[str, tuple[str, dict[str, float]]] = {
    "Image mean": ("mean", {}), "Data-set mean (model's normalisation mean)": ("dataset_mean", {}),
    "Blur 11x11": ("blur", {"ksize": 11}), "Blur 21x21": ("blur", {"ksize": 21}),
    "Blur σ = 4 px": ("blur", {"sigma": 4.0}), "Zero": ("zero", {}), "Gaussian noise": ("gaussian_noise", {}),
    "Uniform noise": ("uniform_noise", {}), "Inpaint": ("inpaint", {})}
ORDERS = {"Most relevant first": "morf", "Least relevant first": "lerf", "Random": "random"}
VIEWS = ("Original", "Perturbed", "Difference")


class PerturbationPanel(QtWidgets.QWidget):
    """Dock widget of the perturbation lab (object name ``"perturbation"``)."""

    def __init__(self, host: ViewerHost, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("perturbation")
        self.host = host
        self.session = PerturbSession()
        self.runner = host.task_runner(self)
        self.result: Perturbed | None = None
        self._base: np.ndarray | None = None  # the unperturbed pixels of ``result``'s frame
        self.submitted = 0
        self.applied = 0
        self._slider_pending = False
        #: Order of the requests that publish ``state.perturbation`` (slider step, region, curves):
        #: a result never replaces the document of a request made after its own.
        self._requests = 0
        self._published = 0
        self.latencies_ms: list[float] = []
        self.curve_fractions: list[float] | None = None  # None: 0..1 in 21 steps
        self.curve_seeds: tuple[int, ...] = (0, 1, 2)
        self._build()
        self._unsubscribe = [host.state.subscribe(f, self._on_source_changed)
                             for f in ("explanation", "selected_class", "image", "model")]
        self.destroyed.connect(lambda *_: [u() for u in self._unsubscribe])
        self._on_source_changed(None)

    # --- layout ----------------------------------------------------------------------------
    def _build(self) -> None:
        self.tabs = QtWidgets.QTabWidget(self)
        outer = QtWidgets.QVBoxLayout(self)
        outer.setContentsMargins(2, 2, 2, 2)
        outer.addWidget(self.tabs)
        self.source_label = QtWidgets.QLabel("Run an explanation first (Explain > Explain image).")
        self.source_label.setWordWrap(True)
        self.order = QtWidgets.QComboBox()
        self.order.addItems(list(ORDERS))
        self.mode = QtWidgets.QComboBox()
        self.mode.addItems(list(MODES))
        self.slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setToolTip("share of the map's pixels replaced, most relevant first by default")
        self.fraction_label = QtWidgets.QLabel("0 %")
        self.fraction_label.setMinimumWidth(40)
        self.view = QtWidgets.QComboBox()
        self.view.addItems(list(VIEWS))
        self.region_button = QtWidgets.QPushButton("Replace last drawn box")
        self.region_button.setToolTip("replace the pixels inside the last box you drew, by the chosen mode")
        self.bars = ProbabilityBars()
        self.status = QtWidgets.QLabel("")
        self.status.setWordWrap(True)
        slider_row = QtWidgets.QHBoxLayout()
        slider_row.setContentsMargins(0, 0, 0, 0)
        slider_row.addWidget(self.slider, 1)
        slider_row.addWidget(self.fraction_label)
        canvas_row = QtWidgets.QHBoxLayout()
        canvas_row.setContentsMargins(0, 0, 0, 0)
        canvas_row.addWidget(self.view, 1)
        canvas_row.addWidget(self.region_button)
        form = QtWidgets.QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setVerticalSpacing(3)
        form.addRow(self.source_label)
        form.addRow("Order", self.order)
        form.addRow("Replace by", self.mode)
        form.addRow("Replaced", slider_row)
        form.addRow("Canvas", canvas_row)
        form.addRow(self.status)
        self.tabs.addTab(ResponsivePage(controls_column(form), self.bars), "Live")
        self.curves_button = QtWidgets.QPushButton("Compute curves")
        self.curves_button.setToolTip("deletion and insertion for MoRF, LeRF and 3 random orders, at model resolution")
        self.curves_view = CurvesView()
        self.curves_view.side.insertWidget(0, self.curves_button)
        self.tabs.addTab(self.curves_view, "Curves")
        self.robustness = RobustnessTab(self)
        self.tabs.addTab(self.robustness, "Robustness")
        self.slider.valueChanged.connect(self._on_slider)
        self.order.currentIndexChanged.connect(lambda *_: self.request_step())
        self.mode.currentIndexChanged.connect(lambda *_: self.request_step())
        self.view.currentIndexChanged.connect(lambda *_: self._show_canvas())
        self.region_button.clicked.connect(self.replace_region)
        self.curves_button.clicked.connect(self.compute_curves)

    # --- what to perturb -------------------------------------------------------------------------
    def source(self) -> Source | None:
        """The model, image, explanation and class from the viewer state (None if incomplete)."""
        st = self.host.state
        ex = st.explanation
        if st.model is None or st.image is None or ex is None or not ex.explained:
            return None
        target = st.selected_class if st.selected_class in ex.explained else None
        if target is None:
            probs = {c: ex.probability(c) for c in ex.explained}
            target = max(probs, key=lambda c: probs[c])
        path = st.image_path
        return Source(st.model, st.image, ex, target, str(path) if path is not None else "")

    def replacement(self) -> Replacement:
        mode, params = MODES[self.mode.currentText()]
        if mode == "dataset_mean":  # the bundle's normalisation mean stands for its training data's mean
            model = self.host.state.model
            params = {"value": float(np.mean(model.manifest.mean)) if model is not None else 0.5}
        return Replacement.make(mode, **params)

    def order_name(self) -> str:
        return ORDERS[self.order.currentText()]

    def fraction(self) -> float:
        return self.slider.value() / 100.0

    def _on_source_changed(self, _value: Any) -> None:
        src = self.source()
        self.result = None
        self._base = None
        self.host.canvas.set_display_override(OVERRIDE_KEY, None)
        enabled = src is not None
        for w in (self.slider, self.region_button, self.curves_button, self.order, self.mode):
            w.setEnabled(enabled)
        self.robustness.setEnabled(enabled)
        self.robustness.reset()
        if src is None:
            self.source_label.setText("Run an explanation first (Explain > Explain image).")
            self.bars.set_values((), np.zeros(0), None)
            self.curves_view.set_regression(None)
            return
        self.curves_view.set_regression(src.explanation.is_regression)
        ex = src.explanation
        where = f"{ex.method}{' @ ' + ', '.join(ex.layers) if ex.layers else ''}"
        if ex.is_regression:
            unit = ex.unit(src.target)
            self.source_label.setText(f"Output <b>{src.target}</b> · map of what <b>{ex.direction or 'raises'}</b> "
                                      f"it: {where} · value = {fmt_value(ex.value(src.target))}"
                                      f"{' ' + unit if unit else ''}")
        else:
            self.source_label.setText(f"Class <b>{src.target}</b> · map: {where} · p = "
                                      f"{ex.probability(src.target):.3f}")
        self.request_step()

    # --- live slider -------------------------------------------------------------------------
    def _on_slider(self, value: int) -> None:
        self.fraction_label.setText(f"{value} %")
        self.request_step()

    def request_step(self) -> int | None:
        """Submit the current slider setting (key ``perturb.slider``); returns the task id."""
        src = self.source()
        if src is None:
            return None
        fraction, order, rep = self.fraction(), self.order_name(), self.replacement()
        session = self.session

        def work(cancelled: CancelledFn, _progress: ProgressFn) -> Perturbed | None:
            if cancelled():  # superseded while it waited (serial): do not compute at all
                return None
            return session.step(src, fraction, order, rep)

        sent = time.perf_counter()
        self.submitted += 1
        self._slider_pending = True
        request = self._next_request()
        tid = self.runner.submit(LIVE_KEY, work, lambda r: self._on_step(src, r, order, rep, sent, request),
                                 self._on_error, serial=True)
        return tid

    def _next_request(self) -> int:
        self._requests += 1
        return self._requests

    def _publish(self, request: int, make: Callable[[], PerturbationResult]) -> None:
        """Put ``make()`` in ``state.perturbation`` unless a later request's document is there already
        (a slider step that finishes after the curves asked for later must not replace them)."""
        if request < self._published:
            return
        self._published = request
        self.host.state.update(perturbation=make())

    def _on_step(self, src: Source, result: Perturbed | None, order: str, rep: Replacement, sent: float,
                 request: int = 0) -> None:
        if result is None:
            return
        self._slider_pending = False
        self.result = result
        self.show_scores(result)
        self.applied += 1
        self.latencies_ms.append((time.perf_counter() - sent) * 1000.0)
        self.status.setText(f"{result.k:,} of {result.n:,} px replaced · {self.score_change(src, result)}")
        lab = self.session.lab(src)  # cached by the step that just ran
        self._base = lab.frame.base
        self._show_canvas()
        self._publish(request, lambda: document(src, lab, order, rep, 0, single=result))

    def show_scores(self, result: Perturbed) -> None:
        """The bars: probabilities, or a regression model's values with their units."""
        self.bars.set_values(result.class_names, result.original, result.probabilities,
                             result.units if result.regression else None)

    @staticmethod
    def score_change(src: Source, result: Perturbed) -> str:
        """The target's score before → after: ``p 0.912 → 0.403``, or ``Cardiothoracic ratio 0.664 → 0.612
        ratio (-0.052)`` for a regression model."""
        i = result.class_names.index(src.target)
        before, after = float(result.original[i]), float(result.probabilities[i])
        if not result.regression:
            return f"p {before:.3f} → {after:.3f}"
        unit = result.units[i] if i < len(result.units) else ""
        return (f"{src.target} {fmt_value(before)} → {fmt_value(after)}{' ' + unit if unit else ''} "
                f"({fmt_value(after - before, signed=True)})")

    @property
    def stale_dropped(self) -> int:
        """Requests superseded before their result was shown."""
        return self.submitted - self.applied - (1 if self._slider_pending and self.runner.is_busy(LIVE_KEY) else 0)

    def _show_canvas(self) -> None:
        view = self.view.currentText()
        if self.result is None or view == "Original":
            self.host.canvas.set_display_override(OVERRIDE_KEY, None)
            return
        img = self.result.image
        if view == "Difference":
            diff = np.abs(img - (self._base if self._base is not None else img))
            peak = float(diff.max())
            img = (diff / peak if peak > 0 else diff).astype(np.float32)  # stretched to its maximum
        self.host.canvas.set_display_override(OVERRIDE_KEY, img)

    # --- region tool ---------------------------------------------------------------------------
    def replace_region(self) -> int | None:
        """Replace the pixels inside the last box the user drew (key :data:`LIVE_KEY`, like the slider)."""
        src = self.source()
        boxes = list(self.host.state.user_boxes)
        if src is None:
            return None
        if not boxes:
            self.host.show_status("Draw a box on the image first; the region tool replaces its pixels.")
            return None
        b = boxes[-1]
        box = [float(b.x0), float(b.y0), float(b.x1), float(b.y1)]
        rep, session = self.replacement(), self.session

        def work(cancelled: CancelledFn, _progress: ProgressFn) -> Perturbed | None:
            if cancelled():
                return None
            return session.region(src, box, rep)

        def done(result: Perturbed | None) -> None:
            if result is None:
                return
            self.result = result
            self.show_scores(result)
            self.status.setText(f"region {', '.join(f'{v:.0f}' for v in box)}: {result.k} pixels replaced · "
                                f"{self.score_change(src, result)}")
            lab = session.lab(src)
            self._base = lab.frame.base
            if self.view.currentText() == "Original":
                self.view.setCurrentText("Perturbed")
            self._show_canvas()
            order = self.order_name()
            self._publish(request, lambda: document(src, lab, order, rep, 0, region=result, region_box=box))

        self._slider_pending = False  # a pending slider step is superseded by the region
        request = self._next_request()
        return self.runner.submit(LIVE_KEY, work, done, self._on_error, serial=True)

    # --- curves --------------------------------------------------------------------------------
    def compute_curves(self) -> int | None:
        src = self.source()
        if src is None:
            return None
        rep, session = self.replacement(), self.session
        self.curves_button.setEnabled(False)

        def work(cancelled: CancelledFn, progress: ProgressFn) -> CurveResult:
            return session.curves(src, rep, self.curve_seeds, fractions=self.curve_fractions, cancel=cancelled,
                                  progress=progress)

        def done(curves: CurveResult) -> None:
            self.curves_button.setEnabled(True)
            self.curves_view.show_curves(curves)
            lab = session.lab(src, "model")
            self._publish(request, lambda: document(src, lab, "morf", rep, 0, curves=curves))

        def failed(exc: BaseException) -> None:
            self.curves_button.setEnabled(True)
            self._on_error(exc)

        request = self._next_request()
        return self.runner.submit("perturb.curves", work, done, failed,
                                  lambda f, m: self.curves_view.summary.setText(f"computing… {f * 100:.0f} % ({m})"))

    def _on_error(self, exc: BaseException) -> None:
        self.status.setText(f"error: {exc}")
        self.host.show_error("Perturbation", str(exc))


def create_panel(host: ViewerHost) -> PerturbationPanel:
    """The Panel factory named by the manifest."""
    return PerturbationPanel(host)

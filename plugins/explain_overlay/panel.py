"""The explanation dock panel: it wires the choosers, tables and canvas layers to the viewer state.

Work never runs on the GUI thread: the model loads and the engine explains on the host's job
runner (``host.task_runner``; keys ``model``, ``layers``, ``explain``, ``localise``); a newer
request replaces a stale one (``layers`` and ``explain`` run serially: the new one starts once the
replaced one has returned, so one panel never runs two explanations at once). Everything the
panel shows follows the host's state (:class:`plugins.api.HostState`): ``explanation`` fills the
probability table, ``selected_class`` picks the map drawn on the canvas, and ``threshold``,
``ground_truth`` and ``user_boxes`` re-cut and re-score the boxes. How the map is drawn (mode,
colour map, opacity, box mode, minimum area, normalisation) is ``state.overlay``
(:class:`plugins.api.OverlayDisplay`): the widgets write and observe it, the presenter draws from
it, the settings are saved from it and the report reads it.

Canvas layers owned here: ``explanation.heatmap`` (RGBA map) and ``explanation.boxes``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from engine.errors import CancelledError
from engine.explainers import ExplanationResult, LayerInfo, explain, list_layers
from engine.models.bundle import LoadedModel, default_bundle_path, load_model
from plugins.api import CancelledFn, ProgressFn, ViewerHost
from plugins.explain_overlay.direction_switch import DirectionSwitch
from plugins.explain_overlay.display_controls import DisplayControls
from plugins.explain_overlay.iou_table import IouTable
from plugins.explain_overlay.method_chooser import MethodChooser, available_methods
from plugins.explain_overlay.model_chooser import DEFAULT, ModelChooser
from plugins.explain_overlay.presenter import BOXES_LAYER, HEATMAP_LAYER, MapPresenter
from plugins.explain_overlay.probability_table import ProbabilityTable
from plugins.explain_overlay.regions import RegionList
from plugins.explain_overlay.threshold_control import ThresholdControl

if TYPE_CHECKING:
    from engine.io import StudyImage
    from plugins.explain_overlay.comparison import ComparisonWindow

log = logging.getLogger(__name__)

__all__ = ["BOXES_LAYER", "HEATMAP_LAYER", "ExplanationPanel", "best_class"]


def best_class(result: ExplanationResult) -> str | None:
    """The class to show first: the most probable positive class, else the most probable one."""
    explained = [c for c in result.class_names if c in result.explained]
    if not explained:
        return None
    positive = [c for c in explained if c in result.predicted()]
    return max(positive or explained, key=result.probability)


def model_source(model: LoadedModel) -> str:
    """``"default"`` for the bundled model, else the bundle folder."""
    path = getattr(model, "path", None)
    if path is None:
        return DEFAULT
    try:
        return DEFAULT if path.resolve() == default_bundle_path().resolve() else str(path)
    except OSError:
        return str(path)


class ExplanationPanel(QWidget):
    """The "Explanation" dock: model, method, run/cancel, probabilities, map display, boxes, IoU.

    Args:
        host: The :class:`plugins.api.ViewerHost`.
        parent: Parent widget.

    Attributes exposed for tests and other code: ``runner``, ``model_chooser``, ``method_chooser``,
    ``probability_table``, ``display_controls``, ``threshold_control``, ``iou_table``,
    ``progress_bar``, ``auto_run``.
    """

    def __init__(self, host: ViewerHost, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanation")
        self.host = host
        self.overlay = host.state.overlay
        self.runner = host.task_runner(self)
        self._pending_run = False
        self._source = str(self._setting("model", DEFAULT))
        self._layers_for: LoadedModel | None = None
        self._comparison: ComparisonWindow | None = None
        self._build()
        self._restore()
        self._connect()
        state = host.state
        self._unsubscribe = [
            state.subscribe(name, callback)
            for name, callback in (
                ("image", self._on_image),
                ("model", self._on_model),
                ("explanation", self._on_explanation),
                ("selected_class", self._on_selected_class),
                ("threshold", self._on_threshold),
                ("ground_truth", self._on_annotations),
                ("user_boxes", self._on_annotations),
            )
        ]
        self._unsubscribe.append(self.overlay.listen(self._on_overlay))
        unsubscribe, runner = self._unsubscribe, self.runner

        def cleanup(*_args: Any) -> None:  # must not reference self: it is being destroyed
            for unsub in unsubscribe:
                unsub()
            runner.shutdown(2000)

        self.destroyed.connect(cleanup)
        if state.model is not None:
            self._on_model(state.model)
        else:
            self.load_model(self._source)
        if state.explanation is not None:
            self._on_explanation(state.explanation)

    # --- layout ------------------------------------------------------------------------------------
    def _build(self) -> None:
        self.model_chooser = ModelChooser()
        self.method_chooser = MethodChooser(available_methods(self.host))
        self.run_button = QPushButton("Explain")
        self.run_button.setToolTip("Explain the open image with this model, method and layers (Ctrl+E)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1000)
        self.progress_bar.setTextVisible(True)
        self.progress_bar.setFormat("idle")
        self.auto_run = QCheckBox("Explain on open")
        self.auto_run.setToolTip("Explain each image as soon as it opens")
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.probability_table = ProbabilityTable()
        self.display_controls = DisplayControls()
        self.score_label = QLabel("")
        self.score_label.setObjectName("explanation.score")
        self.score_label.setWordWrap(True)
        self.threshold_control = ThresholdControl(self.host.state.threshold or "top:0.05")
        self.iou_table = IouTable()
        self.region_list = RegionList()
        self.compare_button = QPushButton("Compare side by side…")
        self.direction_switch = DirectionSwitch()  # regression models only

        # what a reader needs first sits on top: run, scores, map; the method's details below
        run_box = QWidget()
        rb = QVBoxLayout(run_box)
        rb.setContentsMargins(0, 0, 0, 0)
        run_row = QHBoxLayout()
        run_row.addWidget(self.run_button, 1)
        run_row.addWidget(self.cancel_button)
        rb.addLayout(run_row)
        rb.addWidget(self.progress_bar)
        rb.addWidget(self.status)
        prob_box = self.prob_box = QGroupBox("Probabilities")
        prob_box.setToolTip("A class is positive when its probability reaches its threshold (from the model bundle)")
        QVBoxLayout(prob_box).addWidget(self.probability_table)
        map_box = QGroupBox("Map")
        map_layout = QVBoxLayout(map_box)
        map_layout.addWidget(self.score_label)
        map_layout.addWidget(self.direction_switch)
        map_layout.addWidget(self.display_controls)
        loc_box = QGroupBox("Boxes from the map")
        lb = QVBoxLayout(loc_box)
        lb.addWidget(self.threshold_control)
        lb.addWidget(self.iou_table)
        lb.addWidget(self.region_list)
        method_box = QGroupBox("Method")
        mb = QVBoxLayout(method_box)
        mb.addWidget(self.method_chooser)
        mb.addWidget(self.auto_run)

        inner = QWidget()
        col = QVBoxLayout(inner)
        col.setContentsMargins(4, 4, 4, 4)
        for w in (self.model_chooser, run_box, prob_box, map_box, loc_box, method_box, self.compare_button):
            col.addWidget(w)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # fit the dock's width
        scroll.setWidget(inner)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        self.presenter = MapPresenter(self.host, self.runner, self.display_controls, self.iou_table,
                                      self.score_label, regions=self.region_list)

    def _restore(self) -> None:
        params = self._setting("params", {})
        method = str(self._setting("method", "gradcam"))
        self.method_chooser.set_method(method, params.get(method) if isinstance(params, dict) else None)
        self.method_chooser.set_normalisation(str(self._setting("normalisation", "per_map")))
        self.display_controls.set_values(
            str(self._setting("display_mode", "outline")),
            str(self._setting("colormap", "jet")),
            float(self._setting("opacity", 0.45)),
        )
        try:
            self.threshold_control.set_box_options(str(self._setting("box_mode", "all")),
                                                   int(self._setting("min_area", 0)))
        except (TypeError, ValueError):
            log.warning("ignoring invalid saved box options")
        # the saved look, as the widgets understood it (unknown values fell back), becomes the state's
        mode, min_area = self.threshold_control.box_options()
        self.overlay.update(mode=self.display_controls.display_mode(), colormap=self.display_controls.cmap(),
                            opacity=self.display_controls.opacity_value(), box_mode=mode, min_area=min_area,
                            normalisation=self.method_chooser.normalisation_mode())
        self.display_controls.bind(self.overlay)
        self.auto_run.setChecked(bool(self._setting("auto_run", False)))
        saved = self._setting("threshold", None)
        if isinstance(saved, str) and saved != self.host.state.threshold:
            self.threshold_control.set_spec(saved)
            if self.threshold_control.spec() != self.host.state.threshold:
                self.host.state.update(threshold=self.threshold_control.spec())
        self.model_chooser.select_source(self._source)

    def _connect(self) -> None:
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.compare_button.clicked.connect(self.open_comparison)
        self.model_chooser.requested.connect(self.load_model)
        self.method_chooser.changed.connect(self._method_changed)
        self.direction_switch.directionChanged.connect(self._direction_changed)
        self.probability_table.classSelected.connect(lambda name: self.host.state.update(selected_class=name))
        self.threshold_control.changed.connect(self._threshold_changed)
        self.threshold_control.optionsChanged.connect(
            lambda: self.overlay.update(**dict(zip(("box_mode", "min_area"), self.threshold_control.box_options(),
                                                   strict=True))))
        self.auto_run.toggled.connect(lambda on: self._save("auto_run", bool(on)))
        self.runner.busyChanged.connect(self._busy_changed)

    # --- settings ---------------------------------------------------------------------------------
    def _setting(self, key: str, default: Any) -> Any:
        try:
            return self.host.settings.get(key, default)
        except Exception:  # a broken settings backend must not stop the panel
            log.exception("reading setting %r failed", key)
            return default

    def _save(self, key: str, value: Any) -> None:
        try:
            self.host.settings.set(key, value)
        except Exception:
            log.exception("saving setting %r failed", key)

    # --- model ------------------------------------------------------------------------------------
    def load_model(self, source: str) -> None:
        """Load ``"default"`` or a bundle folder in the worker; errors go to ``host.show_error``."""

        def task(cancelled: CancelledFn, progress: ProgressFn) -> tuple[LoadedModel, list[LayerInfo]]:
            progress(0.1, "loading the model")
            model = load_model(source, device="auto")
            progress(0.7, "listing its layers")
            if cancelled():  # the panel closed or a newer load began
                raise CancelledError("a newer request replaced this model load.")
            return model, list_layers(model)

        self.progress_bar.setFormat("loading model…")
        self.runner.submit("model", task, lambda out: self._model_loaded(source, *out),
                           lambda exc: self._model_failed(source, exc))

    def _model_loaded(self, source: str, model: LoadedModel, layers: list[LayerInfo]) -> None:
        self._source = source
        self._save("model", source)
        self.model_chooser.select_source(source)
        self._layers_for = model
        self.method_chooser.set_layers(layers, self._setting("layers", []))
        self.progress_bar.setFormat("idle")
        self.host.state.update(model=model)
        self.host.show_status(f"Model: {model.name} {model.version}")
        explained = self.host.state.explanation
        if self._pending_run or (explained is not None and dict(explained.model) != model.identity()):
            self._pending_run = False
            self.run()  # explain the open image again with the model just chosen

    def _model_failed(self, source: str, exc: BaseException) -> None:
        self._pending_run = False
        self.progress_bar.setFormat("idle")
        previous = model_source(self.host.state.model) if self.host.state.model is not None else DEFAULT
        self.model_chooser.select_source(previous)
        self.host.show_error("The model could not be loaded", f"{source}: {exc}" if str(source) not in str(exc)
                             else str(exc))
        if self.host.state.model is None and source != DEFAULT:
            self._source = DEFAULT  # e.g. the saved bundle folder is gone: open with the bundled model
            self.load_model(DEFAULT)

    def _on_model(self, model: LoadedModel | None) -> None:
        self.model_chooser.set_model(model, model_source(model) if model is not None else None)
        if model is None or model is self._layers_for:
            return
        self._layers_for = model
        # A bundle that names the method it is best explained with (e.g. LayerCAM for the CTR model:
        # docs/regression.md) gets it when it is loaded; other bundles get the user's own choice
        # back (the method last chosen by hand, kept in the settings).
        wanted = model.manifest.method or str(self._setting("method", "gradcam"))
        before = self.method_chooser.method_name()
        if wanted != before:
            self.method_chooser.set_method(wanted)
            if model.manifest.method and self.method_chooser.method_name() == wanted:
                self.host.show_status(f"Method: {wanted}, as {model.manifest.name} recommends (was {before}).")

        def task(cancelled: CancelledFn, _p: ProgressFn) -> list[LayerInfo]:
            if cancelled():  # no forward pass for a panel that is closing or a replaced model
                raise CancelledError("a newer request replaced this layer listing.")
            return list_layers(model)

        self.runner.submit("layers", task, lambda layers: self.method_chooser.set_layers(
            layers, self._setting("layers", [])), lambda exc: log.warning("listing layers failed: %s", exc),
            serial=True)

    # --- running ----------------------------------------------------------------------------------
    def run(self) -> bool:
        """Explain the current image with the chosen model, method, layers and parameters.

        Returns False when there is no image. The result arrives as ``state.explanation``.
        """
        state = self.host.state
        if state.image is None:
            self.host.show_status("Open an image to explain it.")
            return False
        if state.model is None or self.runner.is_busy("model"):
            self._pending_run = True
            if not self.runner.is_busy("model"):
                self.load_model(self._source)
            return True
        image, model = state.image, state.model
        chooser = self.method_chooser
        method, params, normalisation = chooser.method_name(), chooser.params(), self.overlay.normalisation
        layers = chooser.selected_layers() if chooser.uses_layers() else None

        def task(cancelled: CancelledFn, progress: ProgressFn) -> ExplanationResult:
            if cancelled():
                raise CancelledError("a newer explanation replaced this one.")
            return explain(model, image, method=method, layers=layers or None, normalisation=normalisation,
                           progress=progress, cancel=cancelled, **params)

        self.progress_bar.setValue(0)
        self.progress_bar.setFormat(f"{chooser.method.currentText()}: %p%")
        self.status.setText("")
        self.runner.submit("explain", task, lambda r: self._explained(r, image), self._explain_failed,
                           self._progress, serial=True)  # a replaced run returns before the new one starts
        return True

    def cancel(self) -> None:
        """Stop the running explanation (nothing of it is shown)."""
        self._pending_run = False
        self.runner.cancel("explain")
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("cancelled")

    def is_busy(self) -> bool:
        """Whether an explanation (or the model it waits for) is under way."""
        return self.runner.is_busy("explain") or self._pending_run

    def _progress(self, fraction: float, message: str) -> None:
        self.progress_bar.setValue(int(fraction * 1000))
        if message:
            self.progress_bar.setFormat(f"{message}: %p%")

    def _explained(self, result: ExplanationResult, image: StudyImage) -> None:
        state = self.host.state
        if state.image is not image:  # the user moved on; this result belongs to another image
            return
        self.progress_bar.setValue(1000)
        self.progress_bar.setFormat("done")
        self.status.setText(f"{result.method} on {', '.join(result.layers) or 'the input'} in "
                            f"{result.elapsed_s:.2f} s ({result.device}); {len(result.predicted())} positive")
        if result.is_regression:
            result = result.directed(self.direction_switch.direction())
            self.status.setText(f"{result.method} on {', '.join(result.layers) or 'the input'} in "
                                f"{result.elapsed_s:.2f} s ({result.device}); predicted values and what raises "
                                "and lowers them")
        selected = state.selected_class if state.selected_class in result.explained else best_class(result)
        state.update(explanation=result, selected_class=selected)

    def _explain_failed(self, exc: BaseException) -> None:
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("failed")
        self.status.setText(str(exc))
        self.host.show_error("The explanation failed", str(exc))

    def _busy_changed(self, key: str, busy: bool) -> None:
        if key == "explain":
            self.cancel_button.setEnabled(busy)

    def _method_changed(self) -> None:
        chooser = self.method_chooser
        self._save("method", chooser.method_name())
        params = self._setting("params", {})
        params = dict(params) if isinstance(params, dict) else {}
        params[chooser.method_name()] = chooser.params()
        self._save("params", params)
        self.overlay.update(normalisation=chooser.normalisation_mode())
        if chooser.uses_layers():
            self._save("layers", chooser.selected_layers())

    # --- state observers ------------------------------------------------------------------------------
    def _on_image(self, image: StudyImage | None) -> None:
        self.runner.cancel("explain")
        self.presenter.clear()
        if image is not None and self.auto_run.isChecked():
            self.run()

    def _direction_changed(self, direction: str) -> None:
        """The raises/lowers switch moved: show that direction's view of the regression result."""
        result = self.host.state.explanation
        if result is not None and direction in result.directions:
            self.host.state.update(explanation=result.directed(direction))

    def _on_explanation(self, result: ExplanationResult | None) -> None:
        regression = result is not None and result.is_regression
        self.direction_switch.setVisible(regression and bool(result and result.directions))
        if result is not None and result.direction:
            self.direction_switch.set_direction(result.direction)
        self.prob_box.setTitle("Predicted values" if regression else "Probabilities")
        self.probability_table.set_result(result)
        if result is None:
            self.presenter.clear()
            return
        state = self.host.state
        if state.selected_class not in result.explained:
            state.update(selected_class=best_class(result))  # redraws through _on_selected_class
            return
        self.probability_table.select_class(state.selected_class)
        self.presenter.refresh()

    def _on_selected_class(self, name: str | None) -> None:
        self.probability_table.select_class(name)
        self.presenter.refresh()

    def _on_threshold(self, spec: str) -> None:
        self.threshold_control.set_spec(spec)
        self.presenter.update_localisation()

    def _on_annotations(self, _value: Any) -> None:
        self.presenter.update_localisation()

    # --- display ------------------------------------------------------------------------------------
    def _on_overlay(self, name: str, value: Any) -> None:
        """``state.overlay`` changed: save it, show it and redraw what depends on it."""
        key = "display_mode" if name == "mode" else name
        self._save(key, value)
        if name in ("mode", "colormap", "opacity"):
            self.presenter.schedule_overlay()
        elif name in ("box_mode", "min_area"):
            if self.threshold_control.box_options() != (self.overlay.box_mode, self.overlay.min_area):
                self.threshold_control.set_box_options(self.overlay.box_mode, self.overlay.min_area)
            self.presenter.update_localisation()
        elif name == "normalisation" and self.method_chooser.normalisation_mode() != value:
            self.method_chooser.set_normalisation(str(value))

    def _threshold_changed(self, spec: str) -> None:
        self._save("threshold", spec)
        self.host.state.update(threshold=spec)

    # --- comparison --------------------------------------------------------------------------------------
    def open_comparison(self) -> ComparisonWindow:
        """Open (or raise) the side-by-side comparison window; returns it."""
        from plugins.explain_overlay.comparison import ComparisonWindow

        if self._comparison is None:  # a separate window, owned by the panel so it dies with it
            self._comparison = ComparisonWindow(self.host, self, parent=self)
        self._comparison.show()
        self._comparison.raise_()
        return self._comparison

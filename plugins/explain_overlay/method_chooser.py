"""Method, its parameters (research defaults from the engine's registry), layers, normalisation."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QSpinBox,
    QWidget,
)

from engine.explainers import LayerInfo, MethodInfo, list_methods
from plugins.api import ViewerHost
from plugins.explain_overlay.widgets import compact_combo

log = logging.getLogger(__name__)

NORMALISATIONS = (("per_map", "Per map (min-max)"), ("shared", "Shared by all classes"), ("raw", "Raw values"))
_INT_LIMIT = 2_000_000_000
_ROLE = Qt.ItemDataRole.UserRole


def available_methods(host: ViewerHost) -> list[MethodInfo]:
    """The engine's methods, after the host registered the explainers plugins contribute.

    Plugins' explainers are imported when a method list is first built (``host.register_explainers``,
    which runs each plugin's ``register`` once); a host without plugins simply lacks the method.
    """
    register = getattr(host, "register_explainers", None)
    if callable(register):
        try:
            register()
        except Exception:  # the host records plugin failures itself; the built-in methods remain
            log.exception("registering the plugins' explainers failed")
    return list_methods()


def param_widget(spec: Mapping[str, Any], value: Any) -> QWidget:
    """An editor for one parameter as ``engine.list_methods()`` describes it."""
    kind, choices = spec["type"], spec.get("choices")
    lo, hi = spec.get("minimum"), spec.get("maximum")
    w: QWidget
    if choices:
        combo = compact_combo()
        for c in choices:
            combo.addItem(str(c), c)
        combo.setCurrentIndex(max(0, combo.findData(value)))
        w = combo
    elif kind == "bool":
        w = QCheckBox()
        w.setChecked(bool(value))
    elif kind == "int":
        w = QSpinBox()
        w.setRange(int(lo) if lo is not None else -_INT_LIMIT, int(hi) if hi is not None else _INT_LIMIT)
        w.setValue(int(value))
    elif kind == "float":
        w = QDoubleSpinBox()
        w.setDecimals(3)
        w.setSingleStep(0.05)
        w.setRange(float(lo) if lo is not None else -1e9, float(hi) if hi is not None else 1e9)
        w.setValue(float(value))
    else:
        w = QLineEdit("" if value is None else str(value))
    w.setToolTip(f"{spec.get('help', '')} (default {spec['default']!r})")
    return w


def widget_value(w: QWidget) -> Any:
    if isinstance(w, QComboBox):
        return w.currentData()
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QSpinBox | QDoubleSpinBox):
        return w.value()
    assert isinstance(w, QLineEdit)
    return w.text()


def layer_text(info: LayerInfo) -> str:
    """One line of the layer list: the name and how its output becomes a grid, as ``radlens layers`` prints.

    Transformers: ``blocks.11.norm1 — tokens 1+196 → 14×14 grid (class token dropped)``; Swin:
    ``layers.3 — channels-last 7×7×768 → 7×7 grid``; CNNs: ``layer4 — Sequential 512×7×7``.
    """
    shape = "×".join(str(s) for s in info.output_shape)
    what = info.layout if "→" in info.layout else f"{info.type} {shape}"  # tokens or channels-last: the reshape
    return f"{info.name} — {what}" + ("  (default)" if info.is_default else "")


def layer_tooltip(info: LayerInfo) -> str:
    """The layer's type, output shape (without the batch axis) and grid layout."""
    shape = "×".join(str(s) for s in info.output_shape)
    lines = [info.name + ("  (the model's default CAM layer)" if info.is_default else ""),
             f"{info.type}, output {shape}"]
    if info.layout:
        lines.append(f"layout: {info.layout}")
    return "\n".join(lines)


class MethodChooser(QWidget):
    """Chooses what to compute. ``methods`` are ``engine.explainers.MethodInfo`` objects.

    Signals:
        changed(): the method, a parameter, the layers or the normalisation changed.
    """

    changed = Signal()

    def __init__(self, methods: Sequence[MethodInfo], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._methods = {m.name: m for m in methods}
        self._params: dict[str, QWidget] = {}
        self._saved: dict[str, dict[str, Any]] = {}
        self.method = compact_combo()
        for m in methods:
            self.method.addItem(m.label, m.name)
            self.method.setItemData(self.method.count() - 1, m.summary, Qt.ItemDataRole.ToolTipRole)
        self.layers = QListWidget()
        self.layers.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.layers.setMaximumHeight(110)
        self.layers.setToolTip("Target layer(s) of CAM methods; several are fused (see the 'fusion' parameter). "
                               "Each line shows how the layer's output becomes a grid (transformers: tokens "
                               "reshaped to the patch grid, non-patch tokens dropped), as 'radlens layers' prints.")
        self.normalisation = compact_combo()
        for mode, label in NORMALISATIONS:
            self.normalisation.addItem(label, mode)
        self.form = QFormLayout(self)
        self.form.setContentsMargins(0, 0, 0, 0)
        self.form.addRow("Method", self.method)
        self.form.addRow("Layers", self.layers)
        self.form.addRow("Scale", self.normalisation)
        self._first_param_row = self.form.rowCount()
        self.method.currentIndexChanged.connect(self._method_changed)
        self.layers.itemSelectionChanged.connect(self.changed)
        self.normalisation.currentIndexChanged.connect(self.changed)
        self._build_params()

    # --- reading ---------------------------------------------------------------------------
    def method_name(self) -> str:
        return str(self.method.currentData())

    def uses_layers(self) -> bool:
        info = self._methods.get(self.method_name())
        return bool(info and info.family == "cam")

    def params(self) -> dict[str, Any]:
        """The current method's parameters as edited."""
        return {name: widget_value(w) for name, w in self._params.items()}

    def changed_params(self) -> dict[str, Any]:
        """Only the parameters that differ from the registry's defaults."""
        defaults = {p["name"]: p["default"] for p in self._methods[self.method_name()].params}
        return {k: v for k, v in self.params().items() if v != defaults.get(k)}

    def selected_layers(self) -> list[str]:
        """Chosen layers in forward order (empty: the model's default)."""
        chosen = {i.data(_ROLE) for i in self.layers.selectedItems()}
        return [self.layers.item(r).data(_ROLE) for r in range(self.layers.count())
                if self.layers.item(r).data(_ROLE) in chosen]

    def normalisation_mode(self) -> str:
        return str(self.normalisation.currentData())

    # --- writing ------------------------------------------------------------------------------
    def set_method(self, name: str, params: Mapping[str, Any] | None = None) -> None:
        i = self.method.findData(name)
        if i < 0:
            return
        self.method.blockSignals(True)
        try:
            self.method.setCurrentIndex(i)
        finally:
            self.method.blockSignals(False)
        if params:
            known = {p["name"] for p in self._methods[name].params}
            self._saved[name] = {k: v for k, v in params.items() if k in known}
        self._build_params(save=False)

    def set_normalisation(self, mode: str) -> None:
        self.normalisation.setCurrentIndex(max(0, self.normalisation.findData(mode)))

    def set_layers(self, layers: Sequence[LayerInfo], selected: Sequence[str] = ()) -> None:
        """Offer ``layers`` (``engine.LayerInfo``); select ``selected`` or else the default one."""
        self.layers.blockSignals(True)
        try:
            self.layers.clear()
            names = [info.name for info in layers]
            wanted = [s for s in selected if s in names] or [i.name for i in layers if i.is_default]
            for info in layers:
                item = QListWidgetItem(layer_text(info))
                item.setData(_ROLE, info.name)
                item.setToolTip(layer_tooltip(info))
                self.layers.addItem(item)
                if info.name in wanted:
                    item.setSelected(True)
                    self.layers.scrollToItem(item)
        finally:
            self.layers.blockSignals(False)

    # --- internals --------------------------------------------------------------------------------
    def _method_changed(self) -> None:
        self._build_params()
        self.changed.emit()

    def _build_params(self, save: bool = True) -> None:
        previous = getattr(self, "_built_for", None)
        if save and previous is not None and self._params:
            self._saved[previous] = self.params()
        while self.form.rowCount() > self._first_param_row:
            self.form.removeRow(self._first_param_row)
        self._params.clear()
        name = self.method_name()
        self._built_for = name
        info = self._methods.get(name)
        if info is None:
            return
        saved = self._saved.get(name, {})
        for spec in info.params:
            try:
                w = param_widget(spec, saved.get(spec["name"], spec["default"]))
            except (TypeError, ValueError):  # a stale saved value of the wrong type
                w = param_widget(spec, spec["default"])
            self._params[spec["name"]] = w
            for signal in ("currentIndexChanged", "toggled", "valueChanged", "editingFinished"):
                if hasattr(w, signal):
                    getattr(w, signal).connect(self.changed)
                    break
            self.form.addRow(spec["name"], w)
        self.layers.setEnabled(info.family == "cam")

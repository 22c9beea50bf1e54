"""The robustness tab: a global corruption at a severity (0-5), every class's probability change.

"Heatmap movement" runs :func:`engine.perturb.robustness.robustness` for the chosen corruption at
severities 1-5 with the explanation's own method, layers and parameters (key
``perturb.robustness.maps``, cancellable) and lists, for the selected class, Δp and how far its
map moved (RMSE and SSIM to the clean map, per layer) — the same figures as
``radlens perturb IMAGE --robustness``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from PySide6 import QtCore, QtWidgets

from engine.perturb.corruptions import CORRUPTIONS, SEVERITIES, TABLES
from plugins.api import CancelledFn, ProgressFn
from plugins.perturb_lab.bars import ProbabilityBars
from plugins.perturb_lab.layout import ResponsivePage, controls_column
from plugins.perturb_lab.session import corrupted

if TYPE_CHECKING:
    from plugins.perturb_lab.panel import PerturbationPanel

OVERRIDE_KEY = "perturbation"


class RobustnessTab(QtWidgets.QWidget):
    """Corruption chooser, severity slider, bars; the canvas shows the corrupted image."""

    def __init__(self, panel: PerturbationPanel) -> None:
        super().__init__()
        self.panel = panel
        self.corruption = QtWidgets.QComboBox()
        self.corruption.addItems(list(CORRUPTIONS))
        self.severity = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.severity.setRange(0, 5)
        self.severity.setPageStep(1)
        self.severity.setTickPosition(QtWidgets.QSlider.TickPosition.TicksBelow)
        self.severity.setTickInterval(1)
        self.severity_label = QtWidgets.QLabel("severity 0 (clean)")
        self.severity_label.setMinimumWidth(150)
        self.bars = ProbabilityBars()
        self.note = QtWidgets.QLabel("Corruptions run at model resolution (ImageNet-C tables); the canvas shows "
                                     "the corrupted model input.")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("color: gray")
        self.maps_button = QtWidgets.QPushButton("Heatmap movement, severities 1–5")
        self.maps_button.setToolTip("explain the corrupted images with the same method and layers; RMSE and SSIM "
                                    "of the selected class's map to the clean one, per layer")
        self.maps_button.clicked.connect(self.measure_maps)
        self.maps_table = QtWidgets.QLabel("")
        self.maps_table.setWordWrap(True)
        self.maps_table.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.movement: dict[str, Any] | None = None
        severity_row = QtWidgets.QHBoxLayout()
        severity_row.setContentsMargins(0, 0, 0, 0)
        severity_row.addWidget(self.severity, 1)
        severity_row.addWidget(self.severity_label)
        form = QtWidgets.QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.addRow("Corruption", self.corruption)
        form.addRow("Severity", severity_row)
        form.addRow(self.note)
        form.addRow(self.maps_button)
        form.addRow(self.maps_table)
        page = ResponsivePage(controls_column(form), self.bars)
        outer = QtWidgets.QVBoxLayout(self)
        outer.addWidget(page)
        outer.setContentsMargins(0, 0, 0, 0)
        self.severity.valueChanged.connect(lambda *_: self.request())
        self.corruption.currentIndexChanged.connect(lambda *_: self.request())
        self.last: tuple[np.ndarray, np.ndarray] | None = None

    def request(self) -> int | None:
        """Corrupt and predict (TaskRunner key ``perturb.robustness``)."""
        src = self.panel.source()
        if src is None:
            return None
        name, sev = self.corruption.currentText(), self.severity.value()
        param = TABLES[name][sev - 1] if sev else None
        self.severity_label.setText(f"severity {sev}" + (f" ({param})" if param is not None else " (clean)"))

        def work(cancelled: CancelledFn, _progress: ProgressFn) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
            if cancelled():  # a newer severity or corruption was chosen while this one waited (serial)
                return None
            return corrupted(src, name, sev)

        def done(out: tuple[np.ndarray, np.ndarray, np.ndarray] | None) -> None:
            if out is None:
                return
            clean, probs, img = out
            self.last = (clean, probs)
            man = src.model.manifest
            units = tuple(man.unit(i) for i in range(len(src.model.class_names))) if man.is_regression else None
            self.bars.set_values(src.model.class_names, clean, probs if sev else None, units)
            h, w = np.asarray(src.image.display).shape[:2]
            shown = F.interpolate(torch.from_numpy(np.ascontiguousarray(img))[None, None].float()
                                  if img.ndim == 2 else torch.from_numpy(img).permute(2, 0, 1)[None],
                                  size=(h, w), mode="bilinear", align_corners=False)[0]
            shown = shown[0] if img.ndim == 2 else shown.permute(1, 2, 0)
            self.panel.host.canvas.set_display_override(OVERRIDE_KEY, shown.clamp(0, 1).numpy() if sev else None)

        return self.panel.runner.submit("perturb.robustness", work, done, self.panel._on_error, serial=True)

    def reset(self) -> None:
        """Forget results of another image, map or model."""
        self.panel.runner.cancel("perturb.robustness.maps")
        self.maps_button.setEnabled(True)
        self.movement = None
        self.last = None
        self.maps_table.setText("")

    def measure_maps(self) -> int | None:
        """Heatmap movement of the selected class at severities 1-5 (key ``perturb.robustness.maps``)."""
        from engine.perturb.robustness import robustness

        src = self.panel.source()
        if src is None:
            return None
        ex, name = src.explanation, self.corruption.currentText()
        self.maps_button.setEnabled(False)
        self.maps_table.setText(f"explaining {len(SEVERITIES)} corrupted images…")

        def work(cancelled: CancelledFn, progress: ProgressFn) -> dict[str, Any]:
            return robustness(src.model, src.image, method=ex.method, layers=list(ex.layers) or None,
                              corruptions=[name], method_params=dict(ex.params), cancel=cancelled,
                              progress=progress)

        def done(doc: dict[str, Any]) -> None:
            self.maps_button.setEnabled(True)
            self.movement = doc
            manifest = src.model.manifest
            score = "p"
            if manifest.is_regression:  # a regression model's score is its value, in its unit
                unit = manifest.unit(list(manifest.class_names).index(src.target))
                score = f"value{f' ({unit})' if unit else ''}"
            self.maps_table.setText(movement_table(doc, src.target, score))

        def failed(exc: BaseException) -> None:
            self.maps_button.setEnabled(True)
            self.maps_table.setText("")
            self.panel._on_error(exc)

        return self.panel.runner.submit("perturb.robustness.maps", work, done, failed,
                                        lambda f, m: self.maps_table.setText(f"{f * 100:.0f} % ({m})"))


def movement_table(doc: dict[str, Any], target: str, score: str = "p") -> str:
    """Rich text: per severity, the target's score (``p``, or a regression model's value), its Δ, and its
    map's RMSE / SSIM to the clean map per layer."""
    layers = doc["layers"]
    delta = "Δp" if score == "p" else "Δ"
    head = f"<tr><th>sev.</th><th>&nbsp;{score}&nbsp;</th><th>&nbsp;{delta}&nbsp;</th>" + "".join(
        f"<th>&nbsp;{layer}: RMSE / SSIM&nbsp;</th>" for layer in layers) + "</tr>"
    rows = [f"<tr><td align='center'>0</td><td align='center'>{doc['clean'][target]:.3f}</td><td></td>"
            + "<td align='center'>0 / 1</td>" * len(layers) + "</tr>"]
    for e in doc["results"]:
        cells = "".join(f"<td align='center'>{_cell(e['maps'][layer][target]['rmse'])} / "
                        f"{_cell(e['maps'][layer][target]['ssim'])}</td>" for layer in layers)
        rows.append(f"<tr><td align='center'>{e['severity']}</td><td align='center'>{e['probabilities'][target]:.3f}"
                    f"</td><td align='center'>{e['delta_p'][target]:+.3f}</td>{cells}</tr>")
    corruption = doc["results"][0]["corruption"] if doc["results"] else ""
    return (f"<b>{target}</b>, {corruption.replace('_', ' ')}, {doc['method']}:"
            f"<table cellspacing='0' cellpadding='2'>{head}{''.join(rows)}</table>"
            "<span style='color:gray'>maps on the clean map's min–max scale; SSIM 1 = unmoved.</span>")


def _cell(v: float | None) -> str:
    """A map movement: a dash where the clean map was flat (nothing to move on its scale)."""
    return "–" if v is None else f"{v:.3f}"

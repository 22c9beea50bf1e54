"""The robustness tab: a global corruption at a severity (0-5), every class's probability change."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PySide6 import QtCore, QtWidgets

from engine.perturb.corruptions import CORRUPTIONS, TABLES
from plugins.perturb_lab.bars import ProbabilityBars
from plugins.perturb_lab.session import corrupted
from viewer.worker import MODEL_LOCK

OVERRIDE_KEY = "perturbation"


class RobustnessTab(QtWidgets.QWidget):
    """Corruption chooser, severity slider, bars; the canvas shows the corrupted image."""

    def __init__(self, panel: Any) -> None:
        super().__init__()
        self.panel = panel
        grid = QtWidgets.QGridLayout(self)
        self.corruption = QtWidgets.QComboBox()
        self.corruption.addItems(list(CORRUPTIONS))
        self.severity = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.severity.setRange(0, 5)
        self.severity_label = QtWidgets.QLabel("severity 0 (clean)")
        self.bars = ProbabilityBars()
        self.note = QtWidgets.QLabel("Corruptions run at model resolution (ImageNet-C tables); the canvas shows "
                                     "the corrupted model input resized to the image. Heatmap movement (RMSE/SSIM "
                                     "per layer): `radlens perturb IMAGE --robustness`.")
        self.note.setWordWrap(True)
        grid.addWidget(QtWidgets.QLabel("Corruption"), 0, 0)
        grid.addWidget(self.corruption, 0, 1)
        grid.addWidget(self.severity, 1, 0)
        grid.addWidget(self.severity_label, 1, 1)
        grid.addWidget(self.bars, 2, 0, 1, 2)
        grid.addWidget(self.note, 3, 0, 1, 2)
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

        def work(cancelled, _progress):
            with MODEL_LOCK:
                return corrupted(src, name, sev)

        def done(out) -> None:
            clean, probs, img = out
            self.last = (clean, probs)
            self.bars.set_values(src.model.class_names, clean, probs if sev else None)
            h, w = np.asarray(src.image.display).shape[:2]
            shown = F.interpolate(torch.from_numpy(np.ascontiguousarray(img))[None, None].float()
                                  if img.ndim == 2 else torch.from_numpy(img).permute(2, 0, 1)[None],
                                  size=(h, w), mode="bilinear", align_corners=False)[0]
            shown = shown[0] if img.ndim == 2 else shown.permute(1, 2, 0)
            self.panel.host.canvas.set_display_override(OVERRIDE_KEY, shown.clamp(0, 1).numpy() if sev else None)

        return self.panel.runner.submit("perturb.robustness", work, done, self.panel._on_error)

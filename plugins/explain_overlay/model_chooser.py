"""The panel header: research-use notice, the model in use, and choosing another model."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from engine.models.bundle import LoadedModel
from engine.render import RESEARCH_USE
from plugins.explain_overlay.widgets import compact_combo

DEFAULT = "default"
RESEARCH_NOTICE = RESEARCH_USE.replace(" - ", " — ")


def model_text(model: LoadedModel | None) -> str:
    """``name version · weights sha256[:12]`` of a ``LoadedModel`` (or a placeholder)."""
    if model is None:
        return "No model loaded"
    sha = str(getattr(model, "weights_sha256", ""))[:12]
    return f"{model.name} {model.version}" + (f"  ·  weights {sha}" if sha else "")


class ModelChooser(QWidget):
    """Shows the notice and the model, and lets the user pick the bundled model or a folder.

    Signals:
        requested(str): the user asked for a model: ``"default"`` or a bundle folder path.
    """

    requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.notice = QLabel(RESEARCH_NOTICE)
        self.notice.setObjectName("explanation.notice")
        self.notice.setStyleSheet("color: #ffb000; font-weight: bold;")  # as the status bar: legible on dark
        self.notice.setWordWrap(True)
        self.model_label = QLabel(model_text(None))
        self.model_label.setObjectName("explanation.model")
        self.model_label.setWordWrap(True)
        self.model_label.setStyleSheet("font-weight: bold;")
        self.source = compact_combo()
        self.source.addItem("Bundled default model", DEFAULT)
        self.source.setToolTip("The model bundle (a folder with model.json and weights).")
        self.browse = QPushButton("Folder…")
        self.browse.setToolTip("Use a model bundle folder")
        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.source, 1)
        row.addWidget(self.browse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.notice)
        layout.addWidget(self.model_label)
        layout.addLayout(row)
        self.browse.clicked.connect(self._browse)
        self.source.activated.connect(lambda _i: self.requested.emit(str(self.source.currentData())))

    def set_model(self, model: LoadedModel | None, source: str | None = None) -> None:
        """Show ``model`` as the one in use; ``source`` (``"default"`` or a path) is selected."""
        self.model_label.setText(model_text(model))
        self.model_label.setToolTip(str(getattr(model, "path", "") or ""))
        if source is not None:
            self.select_source(source)

    def select_source(self, source: str) -> None:
        """Select (adding it if new) the entry for ``source`` without emitting."""
        i = self.source.findData(source)
        if i < 0:
            self.source.addItem(Path(source).name or source, source)
            i = self.source.count() - 1
            self.source.setItemData(i, source, Qt.ItemDataRole.ToolTipRole)
        self.source.blockSignals(True)
        self.source.setCurrentIndex(i)
        self.source.blockSignals(False)

    def current_source(self) -> str:
        return str(self.source.currentData())

    def _browse(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a model bundle folder")
        if folder:
            self.requested.emit(folder)

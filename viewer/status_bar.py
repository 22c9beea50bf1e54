"""The status bar: cursor readout, ruler, and the permanent research-use and model labels."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from engine.errors import RadLensError

if TYPE_CHECKING:
    from engine.io import StudyImage
    from engine.models.bundle import LoadedModel

RESEARCH_TEXT = "Research use — not for diagnostic use"


def default_manifest_path() -> Path | None:
    """``model.json`` of the bundled default model, or None when none is installed."""
    from engine.models.manifest import default_bundle_path  # torch-free; imported on first use

    try:
        return default_bundle_path() / "model.json"
    except RadLensError:
        return None


def default_model_identity() -> tuple[str, str]:
    """(name, version) of the bundled default model, read through :class:`engine.models.manifest.ModelManifest`."""
    from engine.models.manifest import ModelManifest  # torch-free; imported on first use

    try:
        manifest = ModelManifest.from_bundle("default")
    except RadLensError:
        path = default_manifest_path()
        return (path.parent.name, "?") if path is not None else ("no model", "")
    return manifest.name, manifest.version


def unit_of(image: StudyImage | None) -> str:
    """The unit of an image's modality values: :attr:`engine.io.StudyImage.units`, read from the
    header once when the image was loaded ("" without an image)."""
    return "" if image is None else image.units


class StatusBar(QtWidgets.QStatusBar):
    """Messages on the left; cursor, ruler, model and research-use labels on the right."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor: QtWidgets.QLabel = QtWidgets.QLabel("")  # type: ignore[assignment]
        self.cursor.setObjectName("cursor_readout")
        self.cursor.setMinimumWidth(260)
        self.ruler = QtWidgets.QLabel("")
        self.model = QtWidgets.QLabel("")
        self.model.setObjectName("model_label")
        self.research = QtWidgets.QLabel(RESEARCH_TEXT)
        self.research.setObjectName("research_label")
        self.research.setStyleSheet("color: #ffb000; font-weight: bold; padding: 0 6px;")
        for widget in (self.cursor, self.ruler, self.model, self.research):
            self.addPermanentWidget(widget)
        self.set_model(None)

    def set_model(self, model: LoadedModel | None, loading: bool = False) -> None:
        """Show the model in use (``state.model``), else the bundled default's identity."""
        if model is not None:
            self.model.setText(f"Model: {model.manifest.name} {model.manifest.version}")
            return
        name, version = default_model_identity()
        self.model.setText(f"Model: {name} {version}" + (" (loading…)" if loading else " (not loaded)"))

    def set_cursor(self, x: float, y: float, value: float | tuple[float, ...] | None, unit: str) -> None:
        if value is None:
            self.cursor.setText("")
            return
        if isinstance(value, tuple):
            text = "RGB " + ", ".join(f"{v:g}" for v in value)
        else:
            text = f"{value:g} {unit}".strip()
        self.cursor.setText(f"x {int(x)}  y {int(y)}   value {text}")

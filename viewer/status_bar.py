"""The status bar: cursor readout, ruler, and the permanent research-use and model labels."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6 import QtWidgets

from engine.errors import RadLensError

if TYPE_CHECKING:
    from engine.io import StudyImage
    from engine.models.bundle import LoadedModel

RESEARCH_TEXT = "Research use — not for diagnostic use"
BUNDLES = Path(__file__).resolve().parents[1] / "resources" / "models"


def default_manifest_path() -> Path | None:
    """``model.json`` of the bundled default model (the first bundle under ``resources/models``)."""
    try:
        return next((c / "model.json" for c in sorted(BUNDLES.iterdir()) if (c / "model.json").is_file()), None)
    except OSError:
        return None


def default_model_identity() -> tuple[str, str]:
    """(name, version) of the bundled default model, read through :class:`engine.models.manifest.ModelManifest`."""
    path = default_manifest_path()
    if path is None:
        return "no model", ""
    from engine.models.manifest import ModelManifest  # imported on first use: the status bar starts fast

    try:
        manifest = ModelManifest.read(path)
    except RadLensError:
        return path.parent.name, "?"
    return manifest.name, manifest.version


#: RescaleType values that name no unit (PS3.3 C.11.1.1.2: "US" = unspecified).
NO_UNIT = ("", "US")


@lru_cache(maxsize=64)
def _header_units(path: Path, _mtime_ns: int) -> tuple[str, str]:
    """``(RescaleType, Units)`` of a DICOM file's header ("" when absent or not DICOM), read once per
    file version (the modification time is part of the cache key)."""
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["RescaleType", "Units"])
    except Exception:  # not DICOM or unreadable: no unit to read
        return "", ""
    return str(ds.get("RescaleType", "") or "").strip(), str(ds.get("Units", "") or "").strip()


def unit_of(image: StudyImage | None) -> str:
    """The unit of an image's modality values (the raw pixel values after the Modality LUT).

    CT after a rescale: HU. Otherwise the file's RescaleType (e.g. ``OD``, ``MGML``) unless it is
    ``US`` (unspecified), or for PET its Units (e.g. ``BQML``); none when the file states none or no
    Modality LUT was applied (the values are then the stored values). The header is read once per
    file (cached), when the image is loaded, never on a mouse move or another frame of the same file.
    """
    if image is None or str(image.modality_lut).startswith("none"):
        return ""
    modality = image.metadata.modality
    if modality == "CT":
        return "HU"
    if image.kind != "dicom":
        return ""
    path = Path(image.path)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return ""
    rescale_type, units = _header_units(path, mtime)
    if rescale_type.upper() not in NO_UNIT:
        return rescale_type
    return units if modality == "PT" else ""


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

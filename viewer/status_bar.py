"""The status bar: cursor readout, ruler, and the permanent research-use and model labels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from PySide6 import QtWidgets

RESEARCH_TEXT = "Research use — not for diagnostic use"
BUNDLES = Path(__file__).resolve().parents[1] / "resources" / "models"


def default_model_identity() -> tuple[str, str]:
    """(name, version) of the bundled default model from its model.json, without importing torch."""
    try:
        for candidate in sorted(BUNDLES.iterdir()):
            if (candidate / "model.json").is_file():
                doc = json.loads((candidate / "model.json").read_text(encoding="utf-8"))
                return str(doc.get("name", candidate.name)), str(doc.get("version", "?"))
    except (OSError, ValueError):
        pass
    return "no model", ""


#: RescaleType values that name no unit (PS3.3 C.11.1.1.2: "US" = unspecified).
NO_UNIT = ("", "US")


def _header_units(path: Any) -> tuple[str, str]:
    """``(RescaleType, Units)`` of a DICOM file's header ("" when absent or not DICOM)."""
    try:
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["RescaleType", "Units"])
    except Exception:  # not DICOM or unreadable: no unit to read
        return "", ""
    return str(ds.get("RescaleType", "") or "").strip(), str(ds.get("Units", "") or "").strip()


def unit_of(image: Any) -> str:
    """The unit of an image's modality values (the raw pixel values after the Modality LUT).

    CT after a rescale: HU. Otherwise the file's RescaleType (e.g. ``OD``, ``MGML``) unless it is
    ``US`` (unspecified), or for PET its Units (e.g. ``BQML``); none when the file states none or no
    Modality LUT was applied (the values are then the stored values).
    """
    if image is None or str(getattr(image, "modality_lut", "none")).startswith("none"):
        return ""
    modality = getattr(getattr(image, "metadata", None), "modality", "")
    if modality == "CT":
        return "HU"
    if getattr(image, "kind", "") != "dicom":
        return ""
    rescale_type, units = _header_units(image.path)
    if rescale_type.upper() not in NO_UNIT:
        return rescale_type
    return units if modality == "PT" else ""


class StatusBar(QtWidgets.QStatusBar):
    """Messages on the left; cursor, ruler, model and research-use labels on the right."""

    def __init__(self, parent: QtWidgets.QWidget | None = None) -> None:
        super().__init__(parent)
        self.cursor = QtWidgets.QLabel("")
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

    def set_model(self, model: Any, loading: bool = False) -> None:
        """Show the model in use (``state.model``), else the bundled default's identity."""
        if model is not None:
            self.model.setText(f"Model: {model.manifest.name} {model.manifest.version}")
            return
        name, version = default_model_identity()
        self.model.setText(f"Model: {name} {version}" + (" (loading…)" if loading else " (not loaded)"))

    def set_cursor(self, x: float, y: float, value: Any, unit: str) -> None:
        if value is None:
            self.cursor.setText("")
            return
        if isinstance(value, tuple):
            text = "RGB " + ", ".join(f"{v:g}" for v in value)
        else:
            text = f"{value:g} {unit}".strip()
        self.cursor.setText(f"x {int(x)}  y {int(y)}   value {text}")

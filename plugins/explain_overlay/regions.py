"""The boxes of the selected class in words, under the IoU table (one line a box, selectable text)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

TOOLTIP = ("Each box cut from the map in words. Side is the patient's, from the image orientation (DICOM "
           "PatientOrientation, ImageOrientationPatient or ImageLaterality): on a PA chest film the patient's right "
           "is on the image's left, and flipping or rotating the view does not change it. Without orientation the "
           "image side is named instead. Zones are thirds along the head-foot axis; sizes count the highlighted "
           "pixels in each box (mm² with a pixel spacing, px² without).")


class RegionList(QLabel):
    """A word-wrapped list of the region sentences (``engine.localise.describe``)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("explanation.regions")
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.RichText)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.setToolTip(TOOLTIP)
        self._texts: list[str] = []
        self.set_regions([])

    def set_regions(self, texts: list[str]) -> None:
        """Show ``texts`` (one sentence a box); an empty list hides the list."""
        self._texts = list(texts)
        self.setText("".join(f"<p style='margin:0 0 4px 0'>{html.escape(t)}</p>" for t in self._texts))
        self.setVisible(bool(self._texts))

    def texts(self) -> list[str]:
        return list(self._texts)

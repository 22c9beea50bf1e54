"""The boxes of the selected class in words, under the IoU table (one line a box, selectable text)."""

from __future__ import annotations

import html

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

TOOLTIP = ("Each box cut from the map in words. Side is the patient's, from the image orientation (DICOM "
           "PatientOrientation, ImageOrientationPatient or ImageLaterality): on a PA chest film the patient's right "
           "is on the image's left, and flipping or rotating the view does not change it. Without orientation "
           "(PNG, JPEG, DICOM without those tags) the image is assumed to be a radiograph displayed as loaded "
           "(patient's right on the image's left, head at the top) and the words say 'assumed'. Zones are thirds "
           "along the head-foot axis; sizes count the highlighted pixels in each box (mm² with a pixel spacing, "
           "px² without).")
ASSUMED_STYLE = "color:#a04000"  # an assumed side stands out
READ_STYLE = "color:#606060"


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
        self._note = ""
        self.set_regions([])

    def set_regions(self, texts: list[str], note: str = "") -> None:
        """Show ``texts`` (one sentence a box) under ``note`` (where the side comes from); no text hides the list.

        A note that says the side is assumed (no orientation in the file) is drawn in amber.
        """
        self._texts = list(texts)
        self._note = note if self._texts else ""
        style = ASSUMED_STYLE if "assumed" in self._note.lower() else READ_STYLE
        head = f"<p style='margin:0 0 4px 0;{style}'><i>{html.escape(self._note)}</i></p>" if self._note else ""
        self.setText(head + "".join(f"<p style='margin:0 0 4px 0'>{html.escape(t)}</p>" for t in self._texts))
        self.setVisible(bool(self._texts))

    def texts(self) -> list[str]:
        return list(self._texts)

    def note(self) -> str:
        """Where the patient's side comes from, as shown above the sentences ("" when none)."""
        return self._note

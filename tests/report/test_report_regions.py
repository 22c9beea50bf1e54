"""The report's class pages carry each model box in words, with the patient's side from the image orientation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from report_helpers import flat, pdf_pages_text, synthetic_input

from engine.report import tables


def test_class_page_describes_the_boxes_on_the_patients_side(tmp_path: Path) -> None:
    from engine.report import write_report

    inp = synthetic_input()  # the demo PA film (PatientOrientation L\F) with a blob over the right lung
    texts = tables.region_texts(inp, "Pneumothorax")
    assert len(texts) == len(inp.localisation["Pneumothorax"].boxes) == 1
    assert texts[0].startswith("Region 1 (Pneumothorax): patient's right, ")
    assert "mm² highlighted" in texts[0] and "with the best ground-truth box." in texts[0]
    pages = [flat(t) for t in pdf_pages_text(write_report(inp, tmp_path / "r.pdf"))]
    page = next(p for p in pages if "Model boxes in words" in p)
    assert flat(texts[0]) in page and "Pneumothorax" in page


def test_mirrored_orientation_and_no_orientation() -> None:
    inp = synthetic_input()
    meta = inp.image.metadata
    mirrored = dataclasses.replace(inp, image=dataclasses.replace(
        inp.image, metadata=dataclasses.replace(meta, patient_orientation=("R", "F"))))
    assert "patient's left" in tables.region_texts(mirrored, "Pneumothorax")[0]
    unknown = dataclasses.replace(inp, image=dataclasses.replace(
        inp.image, spacing=None, metadata=dataclasses.replace(meta, patient_orientation=())))
    text = tables.region_texts(unknown, "Pneumothorax")[0]
    # no orientation: read as a film displayed as loaded (same side as L\\F), and said to be assumed
    assert "patient's right" in text and "(assumed: no orientation in the file" in text
    assert "px² highlighted (pixel spacing unknown)" in text

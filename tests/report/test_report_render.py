"""Rendered pages (poppler's pdftoppm): the image is really drawn, and page 1 matches its reference.

The reference is page 1 of a report built from a fixed input that does not depend on the bundled
model (the demo DICOM, its ground truth, a user box and a synthetic explanation), rendered at
50 dpi. Regenerate it after an intended layout change with
``RADLENS_UPDATE_REPORT_REFERENCE=1 pytest tests/report/test_report_render.py`` and look at it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from PIL import Image
from report_helpers import DATA, page_difference, render_page, synthetic_input

REFERENCE = DATA / "report-page1-50dpi.png"
DPI = 50
#: Tolerances on 8 x 8-pixel tile means (grey levels 0-255). Rendering page 1 without any
#: anti-aliasing (a far larger change than font hinting differences) gives max 48 / mean 2.1;
#: blanking the image gives max 254 / mean 28, dropping the user's box max 106.
MAX_TILE_DIFF = 64.0
MEAN_TILE_DIFF = 3.0


def _image_placements(pdf: Path, page: int) -> list[tuple[float, float, float, float]]:
    """(x, y, width, height) in points, origin bottom-left, of every bitmap drawn on ``page``."""
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

    p = PdfReader(str(pdf)).pages[page - 1]
    xobjects = cast(DictionaryObject, p["/Resources"]).get("/XObject", {})  # resolved by pypdf
    out = []

    def visit(op: bytes, args: list, cm: list, tm: list) -> None:
        if op == b"Do" and args[0] in xobjects and xobjects[args[0]].get_object().get("/Subtype") == "/Image":
            out.append((cm[4], cm[5], cm[0], cm[3]))

    p.extract_text(visitor_operand_before=visit)
    return out


def test_page1_image_region_is_not_blank(real_report, tmp_path):
    pdf = real_report[0]
    placements = _image_placements(pdf, 1)
    assert len(placements) == 1, placements
    page = render_page(pdf, 1, 72, tmp_path).astype(np.float64).mean(axis=2)
    x, y, w, h = placements[0]
    top = page.shape[0] - (y + h)  # at 72 dpi one point is one pixel
    region = page[round(top) + 2: round(top + h) - 2, round(x) + 2: round(x + w) - 2]
    assert region.shape[0] > 200 and region.shape[1] > 200
    assert region.std() > 25.0, region.std()  # a radiograph, not a flat area
    assert (region < 60).mean() > 0.05 and (region > 180).mean() > 0.05  # dark lungs and bright bone/background


def _render_synthetic(tmp_path: Path) -> np.ndarray:
    from engine.report import write_report

    pdf = write_report(synthetic_input(), tmp_path / "synthetic.pdf")
    return render_page(pdf, 1, DPI, tmp_path)


def test_page1_matches_reference(tmp_path):
    page = _render_synthetic(tmp_path)
    if os.environ.get("RADLENS_UPDATE_REPORT_REFERENCE"):
        REFERENCE.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(page).save(REFERENCE)
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"))
    worst, mean = page_difference(page, reference)
    if worst > MAX_TILE_DIFF or mean > MEAN_TILE_DIFF:
        Image.fromarray(page).save(tmp_path / "actual.png")
        pytest.fail(f"page 1 differs from {REFERENCE.name}: max tile difference {worst:.1f} (limit {MAX_TILE_DIFF}), "
                    f"mean {mean:.2f} (limit {MEAN_TILE_DIFF}); actual page saved as {tmp_path / 'actual.png'}")


@pytest.mark.parametrize("damage", ["blank image", "no user box", "short study table"])
def test_reference_check_catches_a_missing_image_or_layout(tmp_path, monkeypatch, damage):
    """The tolerance is loose enough for rendering differences but not for a blank image or a missing part."""
    import engine.report.figures as figures
    import engine.report.tables as tables
    from engine.report import write_report

    kw: dict[str, Any] = {}
    if damage == "blank image":
        real = figures.overview_image

        def blank(inp, width_in, dpi=figures.DPI):
            rgb, legend = real(inp, width_in, dpi)
            return np.full_like(rgb, 255), legend

        monkeypatch.setattr(figures, "overview_image", blank)
    elif damage == "no user box":
        kw["user_boxes"] = None
    else:
        real_rows = tables.study_rows
        monkeypatch.setattr(tables, "study_rows", lambda inp: real_rows(inp)[:3])
    pdf = write_report(synthetic_input(**kw), tmp_path / "damaged.pdf")
    page = render_page(pdf, 1, DPI, tmp_path)
    reference = np.asarray(Image.open(REFERENCE).convert("RGB"))
    worst, mean = page_difference(page, reference)
    assert worst > MAX_TILE_DIFF or mean > MEAN_TILE_DIFF, (damage, worst, mean)

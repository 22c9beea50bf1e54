"""The report's look: fonts, paragraph styles, tables, bitmaps, colour bar and the page frame.

Text is set in DejaVu Sans (shipped with matplotlib, so present wherever RadLens runs), which has
the glyphs reports need (Δ, σ, ±, –, ✓) and is embedded (subset) in the PDF.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen import canvas as rl_canvas
from reportlab.platypus import Flowable, Paragraph, Table, TableStyle

from engine.render import colormap_lut

PAGE = A4
MARGIN_X = 18 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 20 * mm
FRAME_WIDTH = PAGE[0] - 2 * MARGIN_X

FONT, FONT_BOLD = "RadLensSans", "RadLensSans-Bold"
AMBER = colors.HexColor("#b35c00")
HEADER_BG = colors.HexColor("#e8ecf1")
GRID = colors.HexColor("#b8c0cc")


class _FastFlate:
    """``zlib`` as reportlab's PDF writer uses it, compressing at level 1 (still lossless Flate)."""

    decompress = staticmethod(zlib.decompress)

    @staticmethod
    def compress(data: bytes, level: int = 1) -> bytes:
        return zlib.compress(data, level)


def register_fonts() -> None:
    """Register DejaVu Sans (regular, bold) with reportlab once per process.

    Also turns off reportlab's ASCII85 wrapping of streams: without its C accelerator that
    pure-Python step took 5 of 8 seconds of a three-class report, and binary streams are valid PDF.
    And has reportlab's writer Flate-compress at level 1 (see :class:`_FastFlate`); both settings
    are process-wide and change only the size of the PDFs reportlab writes, never their content.
    """
    from reportlab import rl_config
    from reportlab.pdfbase import pdfdoc

    rl_config.useA85 = 0
    pdfdoc.zlib = _FastFlate  # level 1: half the time of the default level 6, output 5 % larger
    if FONT in pdfmetrics.getRegisteredFontNames():
        return
    import matplotlib

    ttf = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    pdfmetrics.registerFont(TTFont(FONT, str(ttf / "DejaVuSans.ttf")))
    pdfmetrics.registerFont(TTFont(FONT_BOLD, str(ttf / "DejaVuSans-Bold.ttf")))
    pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=FONT_BOLD, italic=FONT, boldItalic=FONT_BOLD)


def styles() -> dict[str, ParagraphStyle]:
    """The paragraph styles of the report."""
    base = ParagraphStyle("body", fontName=FONT, fontSize=9, leading=12)
    return {
        "title": ParagraphStyle("title", parent=base, fontName=FONT_BOLD, fontSize=19, leading=24, spaceAfter=2),
        "h1": ParagraphStyle("h1", parent=base, fontName=FONT_BOLD, fontSize=14, leading=18, spaceBefore=4,
                             spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontName=FONT_BOLD, fontSize=11, leading=14, spaceBefore=8,
                             spaceAfter=3),
        "body": base,
        "small": ParagraphStyle("small", parent=base, fontSize=7.5, leading=9.5, textColor=colors.HexColor("#333333")),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=10),
        "cellb": ParagraphStyle("cellb", parent=base, fontName=FONT_BOLD, fontSize=8, leading=10),
        "closing": ParagraphStyle("closing", parent=base, fontName=FONT_BOLD, textColor=AMBER),
        "banner": ParagraphStyle("banner", parent=base, fontName=FONT_BOLD, fontSize=9.5, leading=12,
                                 textColor=colors.white),
    }


def esc(text: Any) -> str:
    """Text safe for a reportlab Paragraph."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def table(rows: Sequence[Sequence[str]], widths: Sequence[float], *, header: bool = True,
          emphasise: Sequence[int] = (), padding: float | None = None) -> Table:
    """A grid table of wrapped text; ``emphasise`` lists body rows (0-based, after the header) set bold;
    ``padding`` sets the cells' left and right padding (points) for tables of many narrow columns."""
    st = styles()
    data = []
    for i, row in enumerate(rows):
        bold = (header and i == 0) or (i - (1 if header else 0)) in emphasise
        data.append([Paragraph(esc(c), st["cellb" if bold else "cell"]) for c in row])
    t = Table(data, colWidths=list(widths), repeatRows=1 if header else 0, hAlign="LEFT")
    style = [("GRID", (0, 0), (-1, -1), 0.4, GRID), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2)]
    if padding is not None:
        style += [("LEFTPADDING", (0, 0), (-1, -1), padding), ("RIGHTPADDING", (0, 0), (-1, -1), padding)]
    if header:
        style.append(("BACKGROUND", (0, 0), (-1, 0), HEADER_BG))
    t.setStyle(TableStyle(style))
    return t


def pairs_table(rows: Sequence[Sequence[str]], width: float = FRAME_WIDTH) -> Table:
    """``(label, value)`` rows laid out two pairs per line."""
    flat = [list(r) for r in rows]
    if len(flat) % 2:
        flat.append(["", ""])
    half = len(flat) // 2
    lines = [flat[i] + flat[i + half] for i in range(half)]
    t = table(lines, [0.15 * width, 0.35 * width, 0.15 * width, 0.35 * width], header=False)
    t.setStyle(TableStyle([("BACKGROUND", (0, 0), (0, -1), HEADER_BG), ("BACKGROUND", (2, 0), (2, -1), HEADER_BG)]))
    return t


class Bitmap(Flowable):
    """An RGB array printed ``width_pt`` wide, stored losslessly (Flate, as in PNG) in the PDF.

    The pixels go to reportlab directly; a PNG file in between would be encoded and decoded again
    for nothing.
    """

    def __init__(self, rgb: np.ndarray, width_pt: float) -> None:
        super().__init__()
        self.hAlign = "CENTER"
        self.image = PILImage.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8))
        self.drawWidth = float(width_pt)
        self.drawHeight = width_pt * rgb.shape[0] / rgb.shape[1]

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.drawWidth, self.drawHeight

    def draw(self) -> None:
        self.canv.drawImage(ImageReader(self.image), 0, 0, self.drawWidth, self.drawHeight)


def bitmap(rgb: np.ndarray, width_pt: float) -> Bitmap:
    """An RGB array as a lossless image flowable printed ``width_pt`` wide."""
    return Bitmap(rgb, width_pt)


def legend_table(entries: Sequence[tuple[tuple[int, int, int], str]], width: float, swatch: float = 10 * mm) -> Table:
    """Colour swatches with their meaning."""
    st = styles()
    data = [["", Paragraph(esc(text), st["cell"])] for _, text in entries]
    t = Table(data, colWidths=[swatch, width - swatch], hAlign="LEFT")
    style: list[tuple[Any, ...]] = [("VALIGN", (0, 0), (-1, -1), "MIDDLE"), ("TOPPADDING", (0, 0), (-1, -1), 1.5),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5)]
    for i, (c, _) in enumerate(entries):
        style += [("BACKGROUND", (0, i), (0, i), colors.Color(*(v / 255 for v in c))),
                  ("BOX", (0, i), (0, i), 0.4, colors.black)]
    t.setStyle(TableStyle(style))
    return t


class ColourBar(Flowable):
    """A vertical colour bar (one smooth vector shading through 33 stops of the colour map), labelled at both
    ends and the middle, with caption lines under it."""

    def __init__(self, height: float, cmap: str, low: str, mid: str, high: str, caption: Sequence[str]) -> None:
        super().__init__()
        self.width, self.height = 120.0, float(height)
        self.cmap, self.labels, self.caption = cmap, (low, mid, high), tuple(caption)

    def wrap(self, avail_width: float, avail_height: float) -> tuple[float, float]:
        return self.width, self.height

    def draw(self) -> None:
        c = self.canv
        lut = colormap_lut(self.cmap)
        stops = np.linspace(0, 255, 33).round().astype(int)
        bottom = 4 + 11 * len(self.caption) + 8
        top = self.height - 4
        c.saveState()
        path = c.beginPath()
        path.rect(2, bottom, 16, top - bottom)
        c.clipPath(path, stroke=0, fill=0)
        c.linearGradient(0, bottom, 0, top, [colors.Color(*(lut[i] / 255.0)) for i in stops],
                         positions=[i / 255.0 for i in stops], extend=False)
        c.restoreState()
        c.setLineWidth(0.5)
        c.rect(2, bottom, 16, top - bottom, stroke=1, fill=0)
        low, mid, high = self.labels
        c.setFont(FONT, 7.5)
        for y, text in ((top - 8, high), (bottom + (top - bottom) / 2 - 3, mid), (bottom, low)):
            c.drawString(22, y, text)
        c.setFont(FONT, 7)
        for i, line in enumerate(self.caption):
            c.drawString(2, 4 + 11 * (len(self.caption) - 1 - i), line)


def colour_bar(height: float, cmap: str, low: str, mid: str, high: str, caption: Sequence[str]) -> ColourBar:
    """A vertical colour bar ``height`` points tall (see :class:`ColourBar`)."""
    return ColourBar(height, cmap, low, mid, high, caption)


def numbered_canvas(header_left: str, header_right: str, footer_mid: str, statement: str) -> type:
    """A canvas class that draws a header (``footer_mid`` in its middle) and a footer with the statement and
    "Page X of Y" on every page."""

    class NumberedCanvas(rl_canvas.Canvas):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._pages: list[dict[str, Any]] = []

        def showPage(self) -> None:  # reportlab's name
            self._pages.append(dict(self.__dict__))
            self._startPage()

        def save(self) -> None:
            total = len(self._pages)
            for state in self._pages:
                self.__dict__.update(state)
                self._decorate(total)
                super().showPage()
            super().save()

        def _decorate(self, total: int) -> None:
            w, h = PAGE
            self.saveState()
            self.setStrokeColor(GRID)
            self.setLineWidth(0.5)
            self.line(MARGIN_X, h - 14 * mm, w - MARGIN_X, h - 14 * mm)
            self.line(MARGIN_X, 13 * mm, w - MARGIN_X, 13 * mm)
            self.setFont(FONT, 7.5)
            self.setFillColor(colors.HexColor("#444444"))
            self.drawString(MARGIN_X, h - 12 * mm, header_left)
            self.drawRightString(w - MARGIN_X, h - 12 * mm, header_right)
            self.drawCentredString(w / 2, h - 12 * mm, footer_mid)
            self.drawRightString(w - MARGIN_X, 9 * mm, f"Page {self._pageNumber} of {total}")
            self.setFont(FONT_BOLD, 7.5)
            self.setFillColor(AMBER)
            self.drawString(MARGIN_X, 9 * mm, statement)
            self.restoreState()

    return NumberedCanvas

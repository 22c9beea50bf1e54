"""NIH ChestX-ray14 ``BBox_List_2017.csv`` reader and sniffer.

The real header is ``Image Index,Finding Label,Bbox [x,y,w,h],,,`` — the bracketed name spans
what are really four columns — so rows are parsed **by position**: 0 image file name,
1 finding, 2..5 ``x, y, w, h`` in pixels of the 1024x1024 PNGs. Rows may carry trailing empty
columns. Each row becomes the box ``(x, y, x + w, y + h)``, annotator ``"NIH"``.

Note: the bounding-box list spells ``Infiltrate`` where ``Data_Entry_2017.csv`` (and the
ChestX-ray14 models' class lists) say ``Infiltration``; labels are kept as written here, and
:data:`LABEL_ALIASES` maps them for readers that match boxes to a model's classes.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from engine.annotations._csvutil import open_text, parse_error, parse_float, read_header
from engine.annotations.model import AnnotationSet, BoxAnnotation, SetBuilder, Source, stable_id

FORMAT_NAME = "nih"
#: Box-list spelling -> the class name of the data set's labels and models.
LABEL_ALIASES = {"Infiltrate": "Infiltration"}
ANNOTATOR = "NIH"
_FIELDS = ("Image Index", "Finding Label", "x", "y", "w", "h")


def sniff_nih(path: str | os.PathLike[str]) -> bool:
    """Return True if the header starts ``Image Index,Finding Label,Bbox``."""
    header = read_header(path)
    return (
        header is not None
        and len(header) >= 3
        and header[0] == "Image Index"
        and header[1] == "Finding Label"
        and header[2].startswith("Bbox")
    )


def read_nih(path: str | os.PathLike[str]) -> dict[str, AnnotationSet]:
    """Read ``BBox_List_2017.csv``.

    Args:
        path: The CSV file.

    Returns:
        Image file name (e.g. ``"00013118_008.png"``) -> :class:`AnnotationSet`.

    Raises:
        AnnotationError: The file cannot be opened.
        AnnotationParseError: A short row, a bad number, or a negative width/height (the message
            names the line and field).
    """
    builder = SetBuilder()
    name = Path(path).name
    with open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader, None)  # header
        for row in reader:
            line = reader.line_num
            fields = [f.strip() for f in row]
            if not any(fields):
                continue
            if len(fields) < len(_FIELDS):
                raise parse_error(
                    path,
                    line,
                    _FIELDS[len(fields)],
                    f"missing: the row has {len(fields)} columns, 6 needed.",
                )
            image_id, finding = fields[0], fields[1]
            if not image_id:
                raise parse_error(path, line, _FIELDS[0], "is empty.")
            if not finding:
                raise parse_error(path, line, _FIELDS[1], "is empty.")
            x, y, w, h = (
                parse_float(path, line, c, fields[i]) for i, c in enumerate(_FIELDS[2:], 2)
            )
            if w < 0:
                raise parse_error(path, line, "w", f"width {w} is negative.")
            if h < 0:
                raise parse_error(path, line, "h", f"height {h} is negative.")
            builder.add_box(
                BoxAnnotation(
                    finding,
                    x,
                    y,
                    x + w,
                    y + h,
                    annotator=ANNOTATOR,
                    source=Source.GROUND_TRUTH,
                    image_id=image_id,
                    id=stable_id(FORMAT_NAME, name, line),
                )
            )
    return builder.build()

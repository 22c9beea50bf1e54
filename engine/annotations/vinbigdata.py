"""VinBigData chest X-ray ``train.csv``: reader, sniffer and writer.

Columns (by name; extra columns such as ``width,height`` are ignored)::

    image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max

Each image was read by 3 of 17 radiologists ``R1``..``R17``; ``rad_id`` becomes the box's
annotator. A row with all four coordinates empty (``"No finding"``, class 14) is an image-level
:class:`~engine.annotations.model.ImageLabel`, not a box. Coordinates are pixel edges in the
original DICOM and may be written as floats (``691.0``).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path

from engine.annotations._csvutil import (
    format_number,
    open_text,
    parse_error,
    parse_float,
    parse_int,
    read_header,
)
from engine.annotations.model import (
    NO_FINDING,
    AnnotationSet,
    BoxAnnotation,
    ImageLabel,
    SetBuilder,
    Source,
    stable_id,
)
from engine.atomic import atomic_open
from engine.errors import AnnotationError

FORMAT_NAME = "vinbigdata"
COLUMNS: tuple[str, ...] = (
    "image_id",
    "class_name",
    "class_id",
    "rad_id",
    "x_min",
    "y_min",
    "x_max",
    "y_max",
)
_COORDS = ("x_min", "y_min", "x_max", "y_max")

VINBIGDATA_CLASS_IDS: dict[str, int] = {
    "Aortic enlargement": 0,
    "Atelectasis": 1,
    "Calcification": 2,
    "Cardiomegaly": 3,
    "Consolidation": 4,
    "ILD": 5,
    "Infiltration": 6,
    "Lung Opacity": 7,
    "Nodule/Mass": 8,
    "Other lesion": 9,
    "Pleural effusion": 10,
    "Pleural thickening": 11,
    "Pneumothorax": 12,
    "Pulmonary fibrosis": 13,
    NO_FINDING: 14,
}
"""The competition's class ids (``No finding`` = 14)."""


def sniff_vinbigdata(path: str | os.PathLike[str]) -> bool:
    """Return True if the file's header holds every VinBigData column."""
    header = read_header(path)
    return header is not None and set(COLUMNS) <= set(header)


def read_vinbigdata(path: str | os.PathLike[str]) -> dict[str, AnnotationSet]:
    """Read a VinBigData ``train.csv``.

    Args:
        path: The CSV file.

    Returns:
        image_id -> :class:`AnnotationSet` (boxes with ``source=ground_truth``, annotator =
        ``rad_id``; empty-coordinate rows as image-level labels).

    Raises:
        AnnotationError: The file cannot be opened.
        AnnotationParseError: A missing column, or a bad value (message names the line and field).
    """
    builder = SetBuilder()
    name = Path(path).name
    with open_text(path) as handle:
        reader = csv.DictReader(handle)
        header = [h.strip() for h in reader.fieldnames or []]
        missing = [c for c in COLUMNS if c not in header]
        if missing:
            raise parse_error(path, 1, missing[0], f"missing column(s) {', '.join(missing)}.")
        reader.fieldnames = header
        for row in reader:
            line = reader.line_num
            values = {c: (row.get(c) or "").strip() for c in COLUMNS}
            image_id, class_name, rad_id = (
                values["image_id"],
                values["class_name"],
                values["rad_id"],
            )
            if not image_id:
                raise parse_error(path, line, "image_id", "is empty.")
            if not class_name:
                raise parse_error(path, line, "class_name", "is empty.")
            if values["class_id"]:
                parse_int(path, line, "class_id", values["class_id"])
            coords = [values[c] for c in _COORDS]
            if not any(coords):
                builder.add_label(image_id, ImageLabel(class_name, rad_id, Source.GROUND_TRUTH))
                continue
            for column, text in zip(_COORDS, coords, strict=True):
                if not text:
                    raise parse_error(
                        path, line, column, "is empty while other coordinates are given."
                    )
            x0, y0, x1, y1 = (parse_float(path, line, c, values[c]) for c in _COORDS)
            if x1 < x0:
                raise parse_error(path, line, "x_max", f"{x1} is smaller than x_min {x0}.")
            if y1 < y0:
                raise parse_error(path, line, "y_max", f"{y1} is smaller than y_min {y0}.")
            builder.add_box(
                BoxAnnotation(
                    class_name,
                    x0,
                    y0,
                    x1,
                    y1,
                    annotator=rad_id,
                    source=Source.GROUND_TRUTH,
                    image_id=image_id,
                    id=stable_id(FORMAT_NAME, name, line),
                )
            )
    return builder.build()


def default_class_ids(annotations_by_image: Mapping[str, AnnotationSet]) -> dict[str, int]:
    """Class name -> id by sorted class name (boxes and labels), used when none is given."""
    names = sorted({c for s in annotations_by_image.values() for c in s.classes})
    return {n: i for i, n in enumerate(names)}


def write_vinbigdata_csv(
    path: str | os.PathLike[str],
    annotations_by_image: Mapping[str, AnnotationSet],
    class_ids: Mapping[str, int] | None = None,
) -> Path:
    """Write annotations as a VinBigData-style CSV, atomically.

    Boxes become rows with coordinates; image-level labels become rows with empty coordinates
    (so ``"No finding"`` gets class id 14 with :data:`VINBIGDATA_CLASS_IDS`). ``rad_id`` is the
    annotator. Score, source and note are not part of the format and are not written.

    Args:
        path: Target file.
        annotations_by_image: image id -> set; the key is written as ``image_id``.
        class_ids: Class name -> class id; default :func:`default_class_ids`.

    Returns:
        The path written.

    Raises:
        AnnotationError: A class has no id in ``class_ids``, or the file cannot be written
            (in both cases an existing file is left untouched).
    """
    ids = dict(class_ids) if class_ids is not None else default_class_ids(annotations_by_image)
    rows: list[list[str]] = []
    for image_id, image_set in annotations_by_image.items():
        for label in image_set.labels:
            rows.append(
                [
                    image_id,
                    label.class_name,
                    _class_id(ids, label.class_name, path),
                    label.annotator,
                ]
                + [""] * 4
            )
        for box in image_set.boxes:
            rows.append(
                [image_id, box.class_name, _class_id(ids, box.class_name, path), box.annotator]
                + [format_number(v) for v in box.as_tuple()]
            )
    try:
        with atomic_open(path, "w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(COLUMNS)
            writer.writerows(rows)
    except OSError as exc:
        raise AnnotationError(
            f"Cannot write the CSV ({exc.strerror or exc}); any previous file is intact.",
            path=path,
            fix="Check free disk space and write permission on the target folder.",
        ) from exc
    return Path(path)


def _class_id(ids: Mapping[str, int], class_name: str, path: str | os.PathLike[str]) -> str:
    if class_name not in ids:
        raise AnnotationError(
            f"Class {class_name!r} has no class id in the mapping given.",
            path=path,
            fix="Add it to class_ids, or pass class_ids=None to number classes by sorted name.",
        )
    return str(ids[class_name])

"""Format registry and :func:`read_annotations`, which sniffs the format of a file."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.annotations import dicom_sr, nih, sidecar, siim, vinbigdata
from engine.annotations.model import AnnotationSet
from engine.errors import AnnotationError, UnknownAnnotationFormatError


@dataclass(frozen=True)
class AnnotationFormat:
    """One readable annotation format.

    Attributes:
        name: Short id (``"vinbigdata"``, ``"nih"``, ``"siim"``, ``"radlens"``).
        description: What the file is, for menus and error messages.
        sniff: Returns True if a file looks like this format (reads only the start).
        read: Reads the file into image id -> :class:`AnnotationSet`.
    """

    name: str
    description: str
    sniff: Callable[[str | os.PathLike[str]], bool]
    read: Callable[[str | os.PathLike[str]], dict[str, AnnotationSet]]


FORMATS: tuple[AnnotationFormat, ...] = (
    AnnotationFormat(
        sidecar.FORMAT_NAME,
        "RadLens sidecar (<image>.radlens.json)",
        sidecar.sniff_sidecar,
        sidecar.read_sidecar_annotations,
    ),
    AnnotationFormat(
        vinbigdata.FORMAT_NAME,
        "VinBigData train.csv (image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max)",
        vinbigdata.sniff_vinbigdata,
        vinbigdata.read_vinbigdata,
    ),
    AnnotationFormat(
        nih.FORMAT_NAME,
        "NIH ChestX-ray14 BBox_List_2017.csv (Image Index,Finding Label,Bbox [x,y,w,h])",
        nih.sniff_nih,
        nih.read_nih,
    ),
    AnnotationFormat(
        siim.FORMAT_NAME,
        "SIIM-ACR train-rle.csv (ImageId, EncodedPixels)",
        siim.sniff_siim,
        siim.read_siim,
    ),
    AnnotationFormat(
        dicom_sr.FORMAT_NAME,
        "DICOM Structured Report (TID 1500 planar ROIs; keyed by referenced SOP Instance UID)",
        dicom_sr.sniff_sr,
        dicom_sr.read_sr_annotations,
    ),
)


def format_by_name(name: str) -> AnnotationFormat:
    """Return the registered format called ``name``.

    Raises:
        UnknownAnnotationFormatError: No such format.
    """
    for fmt in FORMATS:
        if fmt.name == name:
            return fmt
    raise UnknownAnnotationFormatError(
        f"No annotation format called {name!r}.",
        fix=f"Use one of: {', '.join(f.name for f in FORMATS)}.",
    )


def detect_format(path: str | os.PathLike[str]) -> AnnotationFormat:
    """Return the format of ``path`` by sniffing its name and first line.

    Raises:
        AnnotationError: The file does not exist.
        UnknownAnnotationFormatError: No format recognises it (the message lists them).
    """
    p = Path(path)
    if not p.is_file():
        raise AnnotationError("The annotation file does not exist.", path=p, fix="Check the path.")
    for fmt in FORMATS:
        if fmt.sniff(p):
            return fmt
    supported = "; ".join(f.description for f in FORMATS)
    raise UnknownAnnotationFormatError(
        "The file matches no annotation format RadLens reads.",
        path=p,
        fix=f"Supported formats: {supported}. Check the header line.",
    )


def read_annotations(
    path: str | os.PathLike[str], format_name: str | None = None
) -> dict[str, AnnotationSet]:
    """Read any supported annotation file, detecting its format.

    SIIM masks are read at the default 1024x1024 size; use
    :func:`engine.annotations.siim.read_siim` for other sizes.

    Args:
        path: The file.
        format_name: Skip detection and use this format name.

    Returns:
        Image id -> :class:`AnnotationSet`, images in first-seen order.

    Raises:
        UnknownAnnotationFormatError: Format not recognised.
        AnnotationParseError: A bad row or field (names the file, line and field).
        AnnotationError: Any other failure to read.
    """
    fmt = format_by_name(format_name) if format_name is not None else detect_format(path)
    return fmt.read(path)

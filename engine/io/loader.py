"""Open any supported image file: sniff its format, dispatch, and keep errors typed."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from engine.errors import CorruptPixelDataError, NotAnImageError, RadLensError, UnreadableFileError
from engine.io.model import FrameIndexError, StudyImage

RASTER_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
ITK_SUFFIXES = (".nii", ".nii.gz", ".mha", ".mhd", ".nrrd", ".nhdr")

Format = Literal["dicom", "raster", "itk"]


def _raster_magic(head: bytes) -> bool:
    return head.startswith(
        (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF87a", b"GIF89a")
    ) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def _itk_magic(head: bytes) -> bool:
    return (
        head.startswith((b"NRRD", b"ObjectType"))
        or head[344:348] in (b"n+1\x00", b"ni1\x00")
        or head[4:8] in (b"n+2\x00", b"ni2\x00")
    )


def detect_format(path: Path, head: bytes) -> Format | None:
    """Which loader reads the file: by content first, then by suffix; None when none does."""
    from engine.io.dicom import looks_like_dicom

    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if _raster_magic(head):
        return "raster"
    name = path.name.lower()
    if _itk_magic(head) or name.endswith(ITK_SUFFIXES):
        return "itk"
    if name.endswith(RASTER_SUFFIXES):
        return "raster"
    if looks_like_dicom(head):
        return "dicom"
    return None


def read_head(path: str | os.PathLike[str], n: int = 512) -> tuple[Path, bytes]:
    """Check ``path`` is a readable non-empty file and return its first ``n`` bytes."""
    p = Path(path)
    if p.is_dir():
        raise UnreadableFileError(
            "is a folder, not an image file.",
            path=p,
            fix="Scan it with engine.io.study.scan_folder (radlens info FOLDER).",
        )
    try:
        with p.open("rb") as handle:
            head = handle.read(n)
    except FileNotFoundError:
        raise UnreadableFileError("does not exist.", path=p, fix="Check the path.") from None
    except OSError as exc:
        raise UnreadableFileError(
            f"cannot be read ({exc.strerror or exc}).", path=p, fix="Check the file's permissions."
        ) from exc
    if not head:
        raise UnreadableFileError("is empty.", path=p, fix="Copy or export the file again.")
    return p, head


def load_image(path: str | os.PathLike[str], frame: int = 0) -> StudyImage:
    """Load one 2-D image (one frame / page / slice) of a file as RadLens displays it.

    DICOM (any transfer syntax an installed pydicom plugin decodes), PNG/JPEG/TIFF/BMP/GIF/WebP
    (Pillow) and NIfTI/MHA/NRRD (SimpleITK). See :class:`engine.io.StudyImage` for what comes
    back and the module docs of ``engine.io.dicom``, ``.raster`` and ``.itk`` for conventions.

    Args:
        path: The file.
        frame: Frame of a multi-frame DICOM, page of a TIFF, slice of a 3-D volume.

    Raises:
        UnreadableFileError: missing, a folder, unreadable or empty.
        NotAnImageError: not a format RadLens reads, or a DICOM object without pixels.
        UnsupportedTransferSyntaxError: compressed DICOM no installed decoder handles.
        CorruptPixelDataError: pixel data damaged or inconsistent with the header.
        UnsupportedImageError: a valid image RadLens does not show (4-D, odd samples).
        FrameIndexError: ``frame`` out of range.
    """
    p, head = read_head(path)
    if isinstance(frame, bool) or not isinstance(frame, int) or frame < 0:
        raise FrameIndexError(f"frame {frame!r} is not a frame index.", path=p, fix="Ask for a frame number from 0.")
    fmt = detect_format(p, head)
    try:
        if fmt == "dicom":
            from engine.io.dicom import load_dicom

            return load_dicom(p, head, frame)
        if fmt == "raster":
            from engine.io.raster import load_raster

            return load_raster(p, frame)
        if fmt == "itk":
            from engine.io.itk import load_itk

            return load_itk(p, frame)
    except RadLensError:
        raise
    except MemoryError as exc:
        raise CorruptPixelDataError("describes an image too large for memory.", path=p) from exc
    except Exception as exc:  # safety net: a library's own error must not escape untyped
        raise CorruptPixelDataError(
            f"could not be decoded ({type(exc).__name__}: {exc}).",
            path=p,
            fix="The file is damaged or unusual; please report it.",
        ) from exc
    raise NotAnImageError(
        "is neither DICOM nor an image format RadLens reads (PNG, JPEG, TIFF, NIfTI, MHA, NRRD).", path=p
    )

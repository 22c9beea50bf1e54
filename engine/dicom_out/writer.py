"""``write_results``: every DICOM object of one image's explanation, written into a folder."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from pydicom.dataset import Dataset

from engine.atomic import atomic_write_bytes
from engine.dicom_out import common as c


def _app_version() -> str:
    from engine.annotations.sidecar import app_version

    return app_version()


def dataset_bytes(ds: Dataset) -> bytes:
    """A Part-10 file of ``ds``."""
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def write_results(
    out_dir: str | os.PathLike[str], image: Any, result: Any, *, classes: Sequence[str] | None = None,
    localisation: Mapping[str, Any] | None = None, user_boxes: Any = None, annotations: Any = None,
    pdf: bytes | str | os.PathLike[str] | None = None, deidentify: bool = False, colormap: str = "jet",
    sr: bool = True, parametric_map: bool = True, secondary_capture: bool = True, now: datetime | None = None,
) -> list[Path]:
    """Write one image's results as DICOM objects filed with its study; return the files written.

    The one entry point for "Save as DICOM…", ``--dicom-out`` and "Export to PACS…" (whose sender
    takes the returned paths). Objects (see ``docs/dicom-export.md``): a Comprehensive SR (TID 1500:
    model and user boxes, probabilities, calls, IoU, algorithm identification), a Parametric Map
    (one float frame per class), one RGB Secondary Capture per class (the overlay as on screen) and,
    when ``pdf`` is given, the report as Encapsulated PDF. Each kind gets its own new series in the
    source's study; every SOP Instance UID is new. Files are named
    ``<source SOP Instance UID>.<kind>[.<n>].dcm`` and written atomically.

    Args:
        out_dir: Folder to write into (created if missing).
        image: The :class:`engine.io.StudyImage` explained; it must come from a DICOM file.
        result: Its :class:`engine.explainers.result.ExplanationResult`.
        classes: Classes to export (default: every explained class).
        localisation: Class -> :class:`engine.analysis.ClassLocalisation` (model boxes, IoU).
        user_boxes: The user's boxes (an ``AnnotationSet``; only ``source == "user"`` boxes are used).
        annotations: Boxes drawn on the Secondary Captures (ground truth and user), as on screen.
        pdf: The PDF report (bytes or a file) to encapsulate.
        deidentify: De-identify as the PDF report does (:mod:`engine.dicom_out.common`).
        colormap: Colour map of the Secondary Captures.
        sr, parametric_map, secondary_capture: Which objects to write.
        now: Creation time (default: now, UTC).

    Raises:
        DicomExportError: Not a DICOM source, a class without a map, or the folder cannot be written.
    """
    source = c.load_source(image, deidentify=deidentify, now=now)
    chosen = tuple(classes) if classes is not None else tuple(result.explained)
    missing = [cls for cls in chosen if cls not in result.explained]
    if missing:
        raise c.DicomExportError(f"class(es) {', '.join(missing)} have no map in this explanation.",
                                 fix=f"export classes among: {', '.join(result.explained)}.")
    if user_boxes is not None:
        from engine.annotations import Source

        user_boxes = user_boxes.filter(source=Source.USER)
    version = _app_version()
    objects: list[tuple[str, Dataset]] = []
    if sr:
        from engine.dicom_out.sr import build_sr

        objects.append(("sr", build_sr(source, result, chosen, localisation=localisation, user_boxes=user_boxes,
                                       app_version=version)))
    if parametric_map and chosen:
        from engine.dicom_out.pmap import build_parametric_map

        objects.append(("pm", build_parametric_map(source, result, chosen, app_version=version)))
    if secondary_capture and chosen:
        from engine.dicom_out.capture import build_captures

        caps = build_captures(source, image, result, chosen, localisation=localisation, annotations=annotations,
                              colormap=colormap, app_version=version)
        objects += [(f"sc.{k + 1}" if len(caps) > 1 else "sc", ds) for k, ds in enumerate(caps)]
    if pdf is not None:
        from engine.dicom_out.pdf import build_encapsulated_pdf

        data = pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes()
        objects.append(("pdf", build_encapsulated_pdf(source, data, app_version=version)))
    return _write(Path(out_dir), str(source.dataset.SOPInstanceUID), objects)


def write_encapsulated_pdf(
    out_dir: str | os.PathLike[str], image: Any, pdf: bytes | str | os.PathLike[str], *, deidentify: bool = False,
    now: datetime | None = None,
) -> Path:
    """Only the report as Encapsulated PDF (what ``radlens report --dicom-out`` adds)."""
    from engine.dicom_out.pdf import build_encapsulated_pdf

    source = c.load_source(image, deidentify=deidentify, now=now)
    data = pdf if isinstance(pdf, bytes) else Path(pdf).read_bytes()
    ds = build_encapsulated_pdf(source, data, app_version=_app_version())
    return _write(Path(out_dir), str(source.dataset.SOPInstanceUID), [("pdf", ds)])[0]


def _write(folder: Path, stem: str, objects: list[tuple[str, Dataset]]) -> list[Path]:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for kind, ds in objects:
            path = folder / f"{stem}.{kind}.dcm"
            atomic_write_bytes(path, dataset_bytes(ds))
            paths.append(path)
    except OSError as exc:
        raise c.DicomExportError(f"cannot write DICOM results ({exc.strerror or exc}).", path=folder,
                                 fix="choose a folder you can write to, with free space.") from exc
    return paths

"""What a DICOM header says about display: metadata, spacing, Modality LUT, VOI, presentation.

Enhanced (multi-frame functional group) objects are read too: an attribute missing at the top
level is looked up in the frame's Per-Frame Functional Groups item, then in the Shared one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from engine.io import pipeline
from engine.io.model import ImageMetadata, SpacingSource, VoiLut, Window

#: functional-group macro holding each attribute in enhanced objects
_GROUP_OF = {
    "RescaleSlope": "PixelValueTransformationSequence",
    "RescaleIntercept": "PixelValueTransformationSequence",
    "RescaleType": "PixelValueTransformationSequence",
    "WindowCenter": "FrameVOILUTSequence",
    "WindowWidth": "FrameVOILUTSequence",
    "WindowCenterWidthExplanation": "FrameVOILUTSequence",
    "VOILUTFunction": "FrameVOILUTSequence",
    "PixelSpacing": "PixelMeasuresSequence",
    "ImageOrientationPatient": "PlaneOrientationSequence",
}


def frame_attr(ds: Dataset, keyword: str, frame: int) -> Any:
    """``ds.keyword``, else from the frame's functional groups, else None."""
    value = ds.get(keyword)
    if value is not None and value != "":
        return value
    macro = _GROUP_OF.get(keyword)
    if macro is None:
        return None
    for groups, index in (("PerFrameFunctionalGroupsSequence", frame), ("SharedFunctionalGroupsSequence", 0)):
        seq = ds.get(groups)
        if not seq or index >= len(seq):
            continue
        inner = seq[index].get(macro)
        if inner:
            value = inner[0].get(keyword)
            if value is not None and value != "":
                return value
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value).strip()


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def read_metadata(ds: Dataset, frame: int = 0) -> ImageMetadata:
    """The fields a viewer shows; absent or unparseable ones are empty.

    ``frame`` picks the functional group of enhanced objects for per-frame fields (RescaleType).
    """
    g = ds.get
    return ImageMetadata(
        patient_name=_text(g("PatientName")),
        patient_id=_text(g("PatientID")),
        birth_date=_text(g("PatientBirthDate")),
        sex=_text(g("PatientSex")),
        study_instance_uid=_text(g("StudyInstanceUID")),
        series_instance_uid=_text(g("SeriesInstanceUID")),
        sop_instance_uid=_text(g("SOPInstanceUID")),
        study_description=_text(g("StudyDescription")),
        study_date=_text(g("StudyDate")),
        study_time=_text(g("StudyTime")),
        series_description=_text(g("SeriesDescription")),
        series_number=_int(g("SeriesNumber")),
        modality=_text(g("Modality")),
        body_part=_text(g("BodyPartExamined")),
        view_position=_text(g("ViewPosition")),
        laterality=_text(g("ImageLaterality") or g("Laterality")),
        manufacturer=_text(g("Manufacturer")),
        instance_number=_int(g("InstanceNumber")),
        rescale_type=_text(frame_attr(ds, "RescaleType", frame)),
        dicom_units=_text(g("Units")),
        patient_orientation=tuple(_text(g("PatientOrientation")).upper().split("\\"))
        if g("PatientOrientation") else (),
        image_orientation=_floats(frame_attr(ds, "ImageOrientationPatient", frame), 6),
    )


def _floats(value: Any, n: int) -> tuple[float, ...]:
    """``n`` finite numbers from a multi-valued element, or () when absent or malformed."""
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return ()
    return out if len(out) == n and all(np.isfinite(out)) else ()


def _pair(value: Any) -> tuple[float, float] | None:
    try:
        row, col = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError):
        return None
    if not (np.isfinite(row) and np.isfinite(col)) or row <= 0 or col <= 0:
        return None
    return row, col


def read_spacing(ds: Dataset, frame: int = 0) -> tuple[tuple[float, float] | None, SpacingSource]:
    """Pixel spacing ``(row, column)`` mm and its source.

    PixelSpacing (in the patient) wins; else ImagerPixelSpacing (at the detector), divided by
    EstimatedRadiographicMagnificationFactor when that is present and positive.
    """
    spacing = _pair(frame_attr(ds, "PixelSpacing", frame))
    if spacing:
        return spacing, SpacingSource.PIXEL_SPACING
    spacing = _pair(ds.get("ImagerPixelSpacing"))
    if not spacing:
        return None, SpacingSource.NONE
    try:
        factor = float(ds.get("EstimatedRadiographicMagnificationFactor") or 0)
    except (TypeError, ValueError):
        factor = 0.0
    if factor > 0 and np.isfinite(factor):
        return (spacing[0] / factor, spacing[1] / factor), SpacingSource.IMAGER_CORRECTED
    return spacing, SpacingSource.IMAGER_PIXEL_SPACING


def _as_list(value: Any) -> list[Any]:
    if value is None or value == "":
        return []
    if isinstance(value, (str, bytes)):
        return [value]
    try:
        return list(value)
    except TypeError:
        return [value]


def read_voi_luts(ds: Dataset, notes: list[str]) -> list[Window]:
    """The VOI LUT Sequence items as windows (unusable items are skipped with a note)."""
    from pydicom.pixels import apply_voi

    windows: list[Window] = []
    for i, item in enumerate(ds.get("VOILUTSequence") or []):
        try:
            n, first, bits = (int(v) for v in item.LUTDescriptor)
            n = n or 2**16
            # let pydicom parse the table (US/OW, endianness) by mapping every input once
            inputs = np.arange(first, first + n, dtype=np.int64)
            table = np.asarray(apply_voi(inputs, ds, index=i))
        except Exception as exc:  # a broken item must not stop the image from loading
            notes.append(f"VOI LUT Sequence item {i + 1} skipped: {exc}")
            continue
        table.setflags(write=False)
        name = _text(item.get("LUTExplanation")) or f"VOI LUT {i + 1}"
        windows.append(Window(first + n / 2.0, float(n), "LUT", name, "VOILUTSequence", VoiLut(first, table, bits)))
    return windows


def read_window_pairs(ds: Dataset, frame: int, notes: list[str]) -> list[Window]:
    """Window Center/Width pairs (with their explanations) as windows."""
    centers = _as_list(frame_attr(ds, "WindowCenter", frame))
    widths = _as_list(frame_attr(ds, "WindowWidth", frame))
    names = _as_list(frame_attr(ds, "WindowCenterWidthExplanation", frame))
    function = _text(frame_attr(ds, "VOILUTFunction", frame)).upper() or "LINEAR"
    if function not in pipeline.VOI_FUNCTIONS:
        notes.append(f"unknown VOILUTFunction {function!r}; using LINEAR")
        function = "LINEAR"
    if len(centers) != len(widths):
        notes.append(f"{len(centers)} window centers but {len(widths)} widths; pairing the first")
    windows: list[Window] = []
    for i, (c, w) in enumerate(zip(centers, widths, strict=False)):
        try:
            center, width = float(c), float(w)
        except (TypeError, ValueError):
            notes.append(f"window {i + 1} skipped: center {c!r} / width {w!r} are not numbers")
            continue
        if not np.isfinite(center) or not pipeline.valid_window(width, function):
            notes.append(f"window {i + 1} skipped: width {w} is invalid for {function}")
            continue
        name = _text(names[i]) if i < len(names) else ""
        windows.append(Window(center, width, function, name or f"window {i + 1}", "WindowCenterWidth"))
    return windows


def presentation(ds: Dataset, photometric: str) -> tuple[bool, str]:
    """Whether to invert after VOI, and why.

    MONOCHROME1 (minimum is white) is inverted; so is PresentationLUTShape INVERSE. The two mean
    the same inversion (DX/MG require INVERSE with MONOCHROME1), so they never cancel out.
    """
    shape = _text(ds.get("PresentationLUTShape")).upper()
    reasons: Sequence[str] = [
        r
        for r, on in (
            ("MONOCHROME1", photometric == "MONOCHROME1"),
            ("PresentationLUTShape INVERSE", shape == "INVERSE"),
        )
        if on
    ]
    if reasons:
        return True, " and ".join(reasons)
    return False, (photometric or "no photometric interpretation") + (
        f", PresentationLUTShape {shape}" if shape else ""
    )

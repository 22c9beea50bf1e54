"""Encode a phantom case as a DICOM Part-10 file or a 16-bit PNG (bytes, ready to write)."""

from __future__ import annotations

import io
import json

import numpy as np
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    UID,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
)

from training.phantom.case import MAX_STORED, PhantomCase
from training.phantom.config import DETECTOR_FOV_MM, GENERATOR_VERSION, MAGNIFICATION

__all__ = ["DETECTOR_FOV_MM", "MAGNIFICATION", "add_dx_conformance", "dicom_bytes", "pixel_spacing_mm", "png_bytes"]

#: SNOMED CT code of the region imaged (CID 4009): Chest.
CHEST_CODE = ("43799004", "SCT", "Chest")
#: SNOMED CT code of the view (CID 4010): postero-anterior.
PA_VIEW_CODE = ("399348003", "SCT", "postero-anterior")

def pixel_spacing_mm(size: int) -> tuple[float, float]:
    """``(PixelSpacing, ImagerPixelSpacing)`` in mm for an image of ``size`` pixels.

    ImagerPixelSpacing is at the detector; PixelSpacing is in the patient (divided by the
    estimated radiographic magnification), so the body (about 90 % of the width) is ~35 cm wide.
    """
    imager = DETECTOR_FOV_MM / size
    return round(imager / MAGNIFICATION, 6), round(imager, 6)


def _windows(case: PhantomCase) -> tuple[tuple[float, float], tuple[float, float]]:
    """(centre, width) of the STANDARD and LUNG windows on MONOCHROME2 stored values."""
    v = case.stored
    lo, hi = np.percentile(v, [1.0, 99.5])
    lung = v[case.lung_mask] if case.lung_mask.any() else v.ravel()
    llo, lhi = np.percentile(lung, [1.0, 99.0])
    std = (float(np.rint((lo + hi) / 2)), float(max(2.0, np.rint(hi - lo))))
    lung_w = (float(np.rint((llo + lhi) / 2)), float(max(2.0, np.rint((lhi - llo) * 1.6))))
    return std, lung_w


def dicom_bytes(case: PhantomCase, instance_number: int = 1) -> bytes:
    """A DX "For Presentation" Part-10 file (Explicit VR Little Endian, 12 bits stored).

    MONOCHROME1 cases store ``4095 - value`` (and mirrored window centres), so the image a
    conforming viewer displays is the same as for MONOCHROME2.
    """
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = UID(case.sop_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID

    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = UID(case.sop_uid)
    ds.StudyInstanceUID = case.study_uid
    ds.SeriesInstanceUID = case.series_uid
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ImageType = ["DERIVED", "PRIMARY"]
    ds.PatientName = case.patient_id
    ds.PatientID = case.patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = case.patient_sex
    ds.StudyDate = case.study_date
    ds.SeriesDate = case.study_date
    ds.ContentDate = case.study_date
    ds.StudyTime = "090000"
    ds.ContentTime = "090000"
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = instance_number
    ds.Manufacturer = "RadLens"
    ds.ManufacturerModelName = "Phantom chest generator"
    ds.SoftwareVersions = GENERATOR_VERSION
    ds.StudyDescription = "PHANTOM CHEST PA (synthetic, research use only)"
    ds.SeriesDescription = "CHEST PA"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.PatientOrientation = ["L", "F"]
    ds.BurnedInAnnotation = "YES"  # the laterality letter (and any shortcut token)

    size = case.size
    spacing, imager = pixel_spacing_mm(size)
    ds.PixelSpacing = [spacing, spacing]
    ds.ImagerPixelSpacing = [imager, imager]
    ds.EstimatedRadiographicMagnificationFactor = MAGNIFICATION
    ds.PixelSpacingCalibrationType = "GEOMETRY"

    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = case.photometric
    ds.Rows = size
    ds.Columns = size
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.RescaleIntercept = 0
    ds.RescaleSlope = 1
    ds.RescaleType = "US"
    inverse = case.photometric == "MONOCHROME1"
    ds.PresentationLUTShape = "INVERSE" if inverse else "IDENTITY"
    windows = _windows(case)
    centres = [MAX_STORED - c if inverse else c for c, _ in windows]
    ds.WindowCenter = centres
    ds.WindowWidth = [w for _, w in windows]
    ds.WindowCenterWidthExplanation = ["STANDARD", "LUNG"]
    ds.VOILUTFunction = "LINEAR"
    pixels = (MAX_STORED - case.stored) if inverse else case.stored
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    add_dx_conformance(ds)

    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def add_dx_conformance(ds: Dataset) -> Dataset:
    """Add what the DX "For Presentation" IOD requires beyond the image itself (in place).

    These are the attributes ``dciodvfy`` reported missing from the first phantom files (and from
    ``resources/demo``, which ``scripts/conform_demo_dicom.py`` patches with this function). Pixel
    data, UIDs and every attribute already present are left untouched. The values:

    * ImageLaterality ``U`` (the chest is an unpaired region) and AnatomicRegionSequence Chest
      (SCT 43799004); ViewCodeSequence postero-anterior (SCT 399348003) to match ViewPosition PA.
    * PixelIntensityRelationship ``LIN``; sign -1 for MONOCHROME2 (higher stored values = denser =
      less X-ray intensity), +1 for MONOCHROME1 (stored inverted).
    * LossyImageCompression ``00`` (never lossy compressed).
    * DetectorType, PositionerType and AcquisitionContextSequence: Type 2, present and empty (a
      synthetic image has no detector or positioner).
    * PixelSpacingCalibrationDescription: required with PixelSpacingCalibrationType ``GEOMETRY``.
    """
    if "ImageLaterality" not in ds:
        ds.ImageLaterality = "U"
    if "AnatomicRegionSequence" not in ds:
        ds.AnatomicRegionSequence = [_code(*CHEST_CODE)]
    if "ViewCodeSequence" not in ds and str(ds.get("ViewPosition", "")) == "PA":
        view = _code(*PA_VIEW_CODE)
        view.ViewModifierCodeSequence = []
        ds.ViewCodeSequence = [view]
    if "PixelIntensityRelationship" not in ds:
        ds.PixelIntensityRelationship = "LIN"
    if "PixelIntensityRelationshipSign" not in ds:
        ds.PixelIntensityRelationshipSign = 1 if str(ds.PhotometricInterpretation) == "MONOCHROME1" else -1
    if "LossyImageCompression" not in ds:
        ds.LossyImageCompression = "00"
    if "DetectorType" not in ds:
        ds.DetectorType = None
    if "PositionerType" not in ds:
        ds.PositionerType = None
    if "AcquisitionContextSequence" not in ds:
        ds.AcquisitionContextSequence = []
    if str(ds.get("PixelSpacingCalibrationType", "")) and "PixelSpacingCalibrationDescription" not in ds:
        ds.PixelSpacingCalibrationDescription = "PixelSpacing = ImagerPixelSpacing / estimated magnification"
    return ds


def png_bytes(case: PhantomCase) -> bytes:
    """A 16-bit grayscale PNG holding the 12-bit stored values (0..4095), bright = dense.

    PNG has no photometric interpretation, so the values are always MONOCHROME2 (never inverted)
    and are *not* stretched to 16 bits: divide by 4095 to display. Text chunks record this.
    """
    info = PngInfo()
    info.add_text("BitsStored", "12")
    info.add_text("MaxValue", str(MAX_STORED))
    info.add_text(
        "RadLensPhantom",
        json.dumps({"patient_id": case.patient_id, "seed": case.seed,
                    "generator_version": GENERATOR_VERSION, "laterality": case.laterality}),
    )
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(case.stored, dtype=np.uint16)).save(
        buffer, format="PNG", pnginfo=info
    )
    return buffer.getvalue()

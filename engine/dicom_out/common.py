"""What every exported object shares: the source dataset (optionally de-identified), codes, UIDs.

De-identification follows the PDF report's options (:mod:`engine.report.deid`): with
``deidentify`` the objects carry no patient name, ID, birth date or sex, no dates, accession
number, study ID, descriptions, institution or physicians; the Study, Series, SOP Instance and
Frame of Reference UIDs of the source are replaced by ``2.25`` UIDs derived from them (the same
source UID always gives the same replacement, so a study's exports stay together and the SR still
points at "its" image in a copy de-identified the same way), ``PatientIdentityRemoved`` is ``YES``
and every free-text string RadLens writes (class, annotator and observer names) is scrubbed of the
identifiers the report scrubs. Pixel data is not changed (text burned into the image stays).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pydicom
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset

from engine.errors import RadLensError

#: Private coding scheme for concepts no standard vocabulary has (class names, probability, IoU).
SCHEME = "99RADLENS"
#: Every object says this (series description, document title, SC/PDF titles).
RESEARCH = "research use only"
#: Series numbers of the exported object kinds (distinct from the phantom's series 1).
SERIES_NUMBERS = {"sr": 901, "pm": 902, "sc": 903, "pdf": 904}
#: UID root for UIDs derived from other UIDs (PS3.5 B.2: UUID-derived UIDs).
DERIVED_ROOT = "2.25."
DEID_METHOD = "RadLens: identifiers and dates removed, UIDs replaced"  # LO: at most 64 characters

PROBABILITY = CodedConcept("PROB", SCHEME, "Probability of finding")
THRESHOLD = CodedConcept("THRESH", SCHEME, "Decision threshold")
IOU_MEAN = CodedConcept("IOU-MEAN", SCHEME, "Mean IoU with ground-truth annotators")
IOU_FUSED = CodedConcept("IOU-FUSED", SCHEME, "IoU with fused ground truth")
IOU_USER = CodedConcept("IOU-USER", SCHEME, "Mean IoU with user boxes")
MODEL_CALL = CodedConcept("CALL", SCHEME, "Model call at decision threshold")
PRESENT = CodedConcept("52101004", "SCT", "Present")
ABSENT = CodedConcept("2667000", "SCT", "Absent")
NO_UNITS = CodedConcept("1", "UCUM", "no units")
CHEST = CodedConcept("43799004", "SCT", "Chest")
#: The heatmap's quantity (Parametric Map real-world value mapping).
HEATMAP_QUANTITY = CodedConcept("HEATMAP", SCHEME, "Explanation heatmap value")


class DicomExportError(RadLensError):
    """Results could not be written as DICOM."""


def class_concept(name: str) -> CodedConcept:
    """A model class as a coded concept of the private scheme (code value = the name, upper case)."""
    value = "".join(ch if ch.isalnum() else "-" for ch in name.upper()).strip("-")[:16] or "CLASS"
    return CodedConcept(value, SCHEME, name[:64])


def derived_uid(uid: str) -> str:
    """A ``2.25`` UID derived from ``uid`` (stable: the same input gives the same output)."""
    return DERIVED_ROOT + str(uuid.uuid5(uuid.NAMESPACE_OID, f"radlens-deid:{uid}").int)


_BLANK = (
    "PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyDate", "StudyTime", "SeriesDate",
    "SeriesTime", "ContentDate", "ContentTime", "AcquisitionDate", "AcquisitionTime", "AccessionNumber",
    "StudyID", "ReferringPhysicianName", "StudyDescription", "SeriesDescription",
)
_REMOVE = (
    "OtherPatientIDs", "OtherPatientNames", "OtherPatientIDsSequence", "PatientBirthName", "PatientMotherBirthName",
    "IssuerOfPatientID", "PatientAddress", "PatientTelephoneNumbers", "MedicalRecordLocator", "PatientAge",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "PerformingPhysicianName",
    "NameOfPhysiciansReadingStudy", "OperatorsName", "RequestingPhysician", "StationName", "DeviceSerialNumber",
    "RequestedProcedureDescription", "PerformedProcedureStepDescription", "AdditionalPatientHistory",
    "PatientComments", "ImageComments", "AcquisitionDateTime", "InstanceCreationDate", "InstanceCreationTime",
)
_UIDS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")


def deidentify_dataset(ds: Dataset) -> Dataset:
    """A copy of ``ds`` as :mod:`engine.dicom_out` writes it when de-identifying (see the module doc)."""
    out = copy.deepcopy(ds)
    for kw in _BLANK:
        if kw in out:
            setattr(out, kw, "")
    for kw in _REMOVE:
        if kw in out:
            delattr(out, kw)
    for kw in _UIDS:
        if kw in out and str(getattr(out, kw)):
            setattr(out, kw, derived_uid(str(getattr(out, kw))))
    meta = getattr(out, "file_meta", None)
    if meta is not None and "MediaStorageSOPInstanceUID" in meta:
        meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = DEID_METHOD
    return out


@dataclass(frozen=True)
class Source:
    """The image the results describe, as the exported objects reference it.

    Attributes:
        dataset: Its header (pixel data included: highdicom checks it), de-identified when asked.
        scrub: Applied to every free-text string written (identity without de-identification).
        deidentify: Whether the objects are de-identified.
        created: When the objects were made (UTC); cut to 1 January of its year when de-identified.
    """

    dataset: Dataset
    scrub: Callable[[str], str]
    deidentify: bool
    created: datetime

    @property
    def date(self) -> str:
        return self.created.strftime("%Y%m%d")

    @property
    def time(self) -> str:
        return self.created.strftime("%H%M%S")


def load_source(image: Any, *, deidentify: bool = False, now: datetime | None = None) -> Source:
    """The source DICOM of ``image`` (a :class:`engine.io.StudyImage` read from a DICOM file).

    Raises:
        DicomExportError: The image is not a DICOM file, or the file cannot be read any more.
    """
    path = getattr(image, "path", None)
    if getattr(image, "kind", "") != "dicom" or path is None:
        raise DicomExportError(
            "is not a DICOM image, so there is no study to file DICOM results with.",
            path=path, fix="open the DICOM original of the image (DICOM export needs its Study Instance UID).")
    try:
        ds: Dataset = pydicom.dcmread(Path(path))
    except Exception as exc:  # gone, unreadable: the export cannot reference it
        raise DicomExportError(f"cannot re-read the source DICOM ({type(exc).__name__}: {exc}).", path=path,
                               fix="check the file still exists and is readable.") from exc
    for kw in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"):
        if not str(ds.get(kw, "") or ""):
            raise DicomExportError(f"the source DICOM has no {kw}, so results cannot reference it.", path=path,
                                   fix="export from a DICOM file that has its UIDs.")
    created = now or datetime.now(UTC)
    scrub: Callable[[str], str] = _identity
    if deidentify:
        from engine.report.deid import Scrubber, identifiers

        scrub = Scrubber(identifiers(image))
        ds = deidentify_dataset(ds)
        created = datetime(created.year, 1, 1, tzinfo=UTC)
    return Source(ds, scrub, deidentify, created)


def _identity(text: str) -> str:
    return text


D = TypeVar("D", bound=Dataset)


def finish(ds: D, source: Source) -> D:
    """What every exported object gets last: its content date and time, de-identification flags."""
    setattr(ds, "ContentDate", source.date)  # noqa: B010 (typed stubs say DA; a string is what pydicom takes)
    setattr(ds, "ContentTime", source.time)  # noqa: B010
    if source.deidentify:
        ds.PatientIdentityRemoved = "YES"
        ds.DeidentificationMethod = DEID_METHOD
        for kw in ("ContentDate", "SeriesDate", "InstanceCreationDate"):
            if kw in ds:
                setattr(ds, kw, source.date)
        for kw in ("ContentTime", "SeriesTime", "InstanceCreationTime"):
            if kw in ds:
                setattr(ds, kw, source.time)
    return ds


def model_text(model: Any) -> tuple[str, str, str]:
    """``(name, version, weights SHA-256)`` of a result's model mapping."""
    return (str(model.get("name") or "model"), str(model.get("version") or "unknown"),
            str(model.get("weights_sha256") or ""))

"""The PDF report as an Encapsulated PDF (SOP class 1.2.840.10008.5.1.4.1.1.104.1), built with pydicom.

Patient and study modules are copied from the source (de-identified when asked), the series is
new (modality ``DOC``), and the Encapsulated Document module holds the PDF bytes unchanged.
"""

from __future__ import annotations

import highdicom as hd
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import PYDICOM_IMPLEMENTATION_UID, ExplicitVRLittleEndian

from engine.dicom_out import common as c

ENCAPSULATED_PDF = "1.2.840.10008.5.1.4.1.1.104.1"
#: Patient and General Study module attributes copied from the source.
_COPIED = ("PatientName", "PatientID", "PatientBirthDate", "PatientSex", "PatientIdentityRemoved",
           "DeidentificationMethod", "StudyInstanceUID", "StudyDate", "StudyTime", "ReferringPhysicianName",
           "StudyID", "AccessionNumber", "StudyDescription")


def build_encapsulated_pdf(
    source: c.Source, pdf: bytes, *, title: str = "RadLens explanation report", app_version: str = "unknown",
    series_uid: str | None = None,
) -> Dataset:
    """An Encapsulated PDF of ``pdf`` filed with the source's study."""
    if not pdf.startswith(b"%PDF"):
        raise c.DicomExportError("the report is not a PDF (it does not start with %PDF).",
                                 fix="pass the bytes written by engine.report.write_report.")
    src = source.dataset
    ds = Dataset()
    for kw in _COPIED:
        ds.setdefault(kw, src.get(kw, ""))  # Type 2 attributes stay present, maybe empty
    if not str(ds.get("PatientIdentityRemoved", "")):
        del ds.PatientIdentityRemoved
        if "DeidentificationMethod" in ds and not str(ds.DeidentificationMethod):
            del ds.DeidentificationMethod
    ds.SOPClassUID = ENCAPSULATED_PDF
    ds.SOPInstanceUID = hd.UID()
    ds.Modality = "DOC"
    ds.SeriesInstanceUID = series_uid or hd.UID()
    ds.SeriesNumber = c.SERIES_NUMBERS["pdf"]
    ds.SeriesDescription = f"RadLens report ({c.RESEARCH})"
    ds.Manufacturer = "RadLens"
    ds.SoftwareVersions = app_version
    ds.ConversionType = "WSD"  # workstation
    ds.InstanceNumber = 1
    ds.ContentDate, ds.ContentTime = source.date, source.time
    ds.AcquisitionDateTime = source.date + source.time
    ds.InstanceCreationDate, ds.InstanceCreationTime = source.date, source.time
    ds.BurnedInAnnotation = "YES"  # the report prints the image (and, unless de-identified, its identifiers)
    ds.DocumentTitle = source.scrub(f"{title} ({c.RESEARCH})")[:64]
    ds.ConceptNameCodeSequence = []
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.SpecificCharacterSet = "ISO_IR 192"
    data = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocument = data
    ds.EncapsulatedDocumentLength = len(pdf)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    ds.file_meta = meta
    ds.SourceInstanceSequence = [_reference(src)]
    return c.finish(ds, source)


def _reference(src: Dataset) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = src.SOPClassUID
    ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
    return ref

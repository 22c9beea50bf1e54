"""De-identification of a report: every string the PDF could print is cleared of identifiers.

With ``deidentify`` the study table already leaves names, IDs, UIDs, dates and descriptions out.
That alone is not enough: identifiers also hide in free text the report prints — a window's
name, a class or annotator name typed by the user, the explanation's notes, a ``perturb.json``
edited by hand, a title — and in the PDF metadata. So before anything is drawn,
:func:`deidentified` returns a copy of the :class:`ReportInput` in which

- the image's patient/study metadata is blanked and its file name dropped;
- every free-text string (window names, box class and annotator names and notes, explanation
  notes, every string of the perturbation, title, author) has each known identifier replaced by
  :data:`REDACTED`;
- the perturbation's image path and time and the reproducing command line are dropped, and the
  report's and the explanation's times are cut to the year (a report is often made on the day of
  the examination); the PDF's metadata holds no time at all.

The identifiers (:func:`identifiers`) are the patient name (whole, and each part of at least three
characters), patient and other IDs, accession number, UIDs, the dates (study, series, acquisition,
content, birth) in the usual spellings, institution name, address and department, physicians',
operators' and station names, device serial number, the study and series descriptions, and the
file name and stem, read from the :class:`engine.io.StudyImage` metadata and, for a DICOM file,
from its header (fields the viewer does not keep). A stem that is a lower-case word such as
``image`` is not searched for on its own (it would blank ordinary words), nor are values equal to a
printed technical field (modality, body part, view, laterality).

Pixel data is not changed: text burned into the image stays (the report says so).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

from engine.perturb.result import PerturbationResult
from engine.report.model import ReportInput

REDACTED = "[removed]"

#: Shorter identifier parts are not searched for (they would match unrelated numbers and words).
MIN_LENGTH = 3

#: DICOM keywords whose values identify the patient, the study or the place (read from the header).
DICOM_IDENTIFYING = (
    "PatientName", "PatientID", "OtherPatientIDs", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
    "IssuerOfPatientID", "PatientAddress", "PatientTelephoneNumbers", "MedicalRecordLocator", "AccessionNumber",
    "StudyID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID",
    "InstitutionName", "InstitutionAddress", "InstitutionalDepartmentName", "ReferringPhysicianName",
    "PerformingPhysicianName", "NameOfPhysiciansReadingStudy", "OperatorsName", "RequestingPhysician",
    "StationName", "DeviceSerialNumber", "StudyDescription", "SeriesDescription", "RequestedProcedureDescription",
    "PerformedProcedureStepDescription", "AdditionalPatientHistory", "PatientComments", "ImageComments",
)
DICOM_DATES = ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate", "PatientBirthDate")
#: Keywords whose values are person names (their parts are searched for too).
DICOM_NAMES = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
               "ReferringPhysicianName", "PerformingPhysicianName", "NameOfPhysiciansReadingStudy",
               "OperatorsName", "RequestingPhysician")


def date_spellings(value: str) -> list[str]:
    """A DICOM date (``YYYYMMDD``) as it may be written: ISO, compact, European, US, with / . or -."""
    d = (value or "").strip()
    if len(d) != 8 or not d.isdigit():
        return [d] if d else []
    y, m, day = d[:4], d[4:6], d[6:]
    out = [d, f"{y}-{m}-{day}", f"{y}/{m}/{day}", f"{y}.{m}.{day}"]
    for sep in "/.-":
        out += [f"{day}{sep}{m}{sep}{y}", f"{m}{sep}{day}{sep}{y}"]
    return out


def _name_parts(name: str) -> list[str]:
    """A person name (DICOM ``^``-separated, or plain) whole, in common orders, and part by part."""
    name = name.strip()
    if not name:
        return []
    parts = [p for p in re.split(r"[\^\s,=]+", name) if p]
    out = [name, " ".join(parts), " ".join(reversed(parts)), ", ".join(parts)]
    out += parts
    return out


def _dicom_header(path: Any) -> Any:
    try:
        import pydicom

        return pydicom.dcmread(str(path), stop_before_pixels=True, force=True)
    except Exception:  # the file is gone or is not DICOM: the metadata the image kept is all there is
        return None


def _values(ds: Any, keyword: str) -> list[str]:
    v = getattr(ds, keyword, None)
    if v is None or v == "":
        return []
    items = list(v) if isinstance(v, list | tuple) or type(v).__name__ == "MultiValue" else [v]
    return [str(x) for x in items if str(x).strip()]


def identifiers(image: Any) -> tuple[str, ...]:
    """Every string that identifies the patient, study or place of ``image`` (longest first)."""
    md = image.metadata
    found: list[str] = []
    found += _name_parts(md.patient_name)
    found += [md.patient_id, md.study_instance_uid, md.series_instance_uid, md.sop_instance_uid,
              md.study_description, md.series_description]
    found += date_spellings(md.study_date) + date_spellings(md.birth_date)
    path = getattr(image, "path", None)
    if path is not None:
        found.append(path.name)
        if not (path.stem.isalpha() and path.stem.islower()):  # "image", "xray": a word, not a name
            found.append(path.stem)
    if getattr(image, "kind", "") == "dicom" and path is not None:
        ds = _dicom_header(path)
        if ds is not None:
            for kw in DICOM_IDENTIFYING:
                for v in _values(ds, kw):
                    found += _name_parts(v) if kw in DICOM_NAMES else [v]
            for kw in DICOM_DATES:
                for v in _values(ds, kw):
                    found += date_spellings(v)
    # values the report prints as technical data (a series called "CHEST") are not identifiers
    technical = {v.strip().lower() for v in (md.modality, md.body_part, md.view_position, md.laterality) if v}
    unique = {s.strip() for s in found if len(s.strip()) >= MIN_LENGTH and s.strip().lower() not in technical}
    return tuple(sorted(unique, key=lambda s: (-len(s), s)))


def burned_in_annotation(image: Any) -> str:
    """The DICOM Burned In Annotation flag (``YES``/``NO``), or ``""`` when unknown."""
    if getattr(image, "kind", "") != "dicom" or getattr(image, "path", None) is None:
        return ""
    ds = _dicom_header(image.path)
    return str(getattr(ds, "BurnedInAnnotation", "") or "").strip().upper() if ds is not None else ""


class Scrubber:
    """Replaces each identifier by :data:`REDACTED` where it stands as a whole word or number.

    Matching ignores case, except for single alphabetic name parts, which are matched as written, in
    capitals and capitalised (so the part ``PHANTOM`` of a name does not remove the word "phantom"
    from a model's description). A match must not be glued to letters, digits or a decimal point
    on either side, so an ID ``0001`` does not eat the digits of ``0.0001``.
    """

    def __init__(self, ids: Iterable[str]) -> None:
        ids = tuple(ids)
        self.identifiers = ids
        folded: list[str] = []
        exact: list[str] = []
        dotted: list[str] = []
        for s in ids:
            if s.isalpha():
                exact += sorted({s, s.upper(), s.capitalize()})
            elif re.fullmatch(r"\d+[./-][\d./-]*\d", s):
                dotted.append(s)  # a date or a UID: also inside "2022-12-04T09:00" or "uid=1.2.3"
            else:
                folded.append(s)
        word_l, word_r = r"(?<![\w.])", r"(?![\w]|\.\d)"
        num_l, num_r = r"(?<![\d.])", r"(?![\d]|\.\d)"

        def alt(items: list[str]) -> str:
            return "|".join(re.escape(s) for s in sorted(set(items), key=lambda s: (-len(s), s)))

        self._patterns = [re.compile(f"{left}(?:{alt(items)}){right}", flags)
                          for items, left, right, flags in ((dotted, num_l, num_r, 0),
                                                            (folded, word_l, word_r, re.IGNORECASE),
                                                            (exact, word_l, word_r, 0)) if items]

    def __call__(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        return text

    def deep(self, value: Any) -> Any:
        """``value`` with every string inside (dict keys included) scrubbed."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, Mapping):
            return {self.deep(k) if isinstance(k, str) else k: self.deep(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.deep(v) for v in value) if isinstance(value, list) else tuple(
                self.deep(v) for v in value)
        return value


def _image(image: Any, scrub: Scrubber) -> Any:
    md = image.metadata
    blank = {f: "" for f in ("patient_name", "patient_id", "birth_date", "sex", "study_instance_uid",
                             "series_instance_uid", "sop_instance_uid", "study_description", "study_date",
                             "study_time", "series_description")}
    meta = dataclasses.replace(md, **{k: v for k, v in blank.items() if hasattr(md, k)})
    windows = tuple(dataclasses.replace(w, name=scrub(w.name)) for w in image.windows)
    return dataclasses.replace(image, metadata=meta, window=dataclasses.replace(image.window,
                                                                                name=scrub(image.window.name)),
                               windows=windows, notes=tuple(scrub(n) for n in image.notes))


def _boxes(annotations: Any, scrub: Scrubber) -> Any:
    if annotations is None:
        return None
    boxes = tuple(dataclasses.replace(b, class_name=scrub(b.class_name), annotator=scrub(b.annotator),
                                      note=scrub(b.note or ""), image_id="") for b in annotations.boxes)
    labels = tuple(dataclasses.replace(lb, **{f.name: scrub(getattr(lb, f.name)) for f in dataclasses.fields(lb)
                                              if type(getattr(lb, f.name)) is str})  # not enums such as Source
                   for lb in annotations.labels)
    return dataclasses.replace(annotations, boxes=boxes, labels=labels, image_id="")


def _localisation(loc: Any, scrub: Scrubber) -> Any:
    def score(s: Any) -> Any:
        if s is None:
            return None
        return dataclasses.replace(s, per_annotator={scrub(k): v for k, v in s.per_annotator.items()})

    return dataclasses.replace(loc, gt=score(loc.gt), user=score(loc.user))


def deidentified(inp: ReportInput) -> ReportInput:
    """A copy of ``inp`` with nothing that identifies the patient or study left in any printed string."""
    scrub = Scrubber(identifiers(inp.image))
    perturbation = None
    if inp.perturbation is not None:
        scrubbed = PerturbationResult.from_dict(scrub.deep(inp.perturbation.to_dict()))
        perturbation = dataclasses.replace(scrubbed, image=None, created="")
    created = str(inp.explanation.created or "")
    explanation = dataclasses.replace(inp.explanation, notes=tuple(scrub(n) for n in inp.explanation.notes),
                                      created=f"{created[:4]} (day and time removed)" if created else "")
    return dataclasses.replace(
        inp, image=_image(inp.image, scrub), explanation=explanation,
        ground_truth=_boxes(inp.ground_truth, scrub), user_boxes=_boxes(inp.user_boxes, scrub),
        localisation={k: _localisation(v, scrub) for k, v in inp.localisation.items()},
        perturbation=perturbation, image_label="", command="", title=scrub(inp.title), author=scrub(inp.author),
    )

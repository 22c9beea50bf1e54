"""Index a folder of images into patients -> studies -> series -> images, reading headers only.

Conventions:

* DICOM files are grouped by Patient ID (then name), Study Instance UID and Series Instance UID,
  read with ``dcmread(stop_before_pixels=True, specific_tags=...)``; pixel data is never read.
  A missing UID groups the file by its folder instead.
* Non-DICOM images (PNG, JPEG, TIFF, NIfTI, MHA, NRRD...) form one series per folder, under one
  pseudo-patient ``"(non-DICOM images)"`` and one pseudo-study ``"(files)"``.
* Images are sorted by Instance Number (files without one last, then by path); series by Series
  Number; studies by date and time.
* Files that are neither are reported in :attr:`StudyIndex.errors` (path, reason); DICOM objects
  without pixels (SR, Encapsulated PDF, RT plans, presentation states, DICOMDIR) and Parametric
  Maps / Segmentations (:data:`NOT_VIEWED_SOP_CLASSES`) in :attr:`StudyIndex.skipped`.
  Hidden files are ignored.
* A DICOMDIR is recognised: the files it lists are found by the walk; listed files that are
  missing are reported as errors.
* Thumbnails are made lazily by :func:`thumbnail`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import CancelledError, UnreadableFileError

NON_DICOM_PATIENT = "(non-DICOM images)"
NON_DICOM_STUDY = "(files)"
DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"
#: SOP classes that have pixels but are not images to view on their own: Parametric Maps (a
#: heatmap belongs over its source image) and Segmentations. SR, PDF and other objects without
#: Rows/Columns are skipped as objects without pixels; Secondary Captures are indexed as images.
NOT_VIEWED_SOP_CLASSES = {
    "1.2.840.10008.5.1.4.1.1.30": "Parametric Map (a heatmap over its source image)",
    "1.2.840.10008.5.1.4.1.1.66.4": "Segmentation",
}
_SIDECARS = (".raw", ".zraw", ".txt", ".json", ".md", ".csv", ".xml", ".html")

_TAGS = [
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDescription",
    "StudyDate",
    "StudyTime",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "Modality",
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
    "NumberOfFrames",
    "Rows",
    "Columns",
]


@dataclass(frozen=True)
class IndexedImage:
    """One file of a series (not loaded)."""

    path: Path
    kind: str  # "dicom" | "raster" | "itk"
    sop_instance_uid: str = ""
    instance_number: int | None = None
    n_frames: int = 1
    rows: int | None = None
    columns: int | None = None


@dataclass(frozen=True)
class Series:
    """Images sharing a Series Instance UID (or, for non-DICOM files, a folder)."""

    uid: str
    number: int | None
    description: str
    modality: str
    images: tuple[IndexedImage, ...]


@dataclass(frozen=True)
class Study:
    """Series sharing a Study Instance UID."""

    uid: str
    description: str
    date: str
    time: str
    series: tuple[Series, ...]


@dataclass(frozen=True)
class Patient:
    """Studies of one patient."""

    patient_id: str
    name: str
    birth_date: str
    sex: str
    studies: tuple[Study, ...]


@dataclass(frozen=True)
class ScanProblem:
    """A file the scan could not index, and why."""

    path: Path
    reason: str


@dataclass(frozen=True)
class StudyIndex:
    """The result of :func:`scan_folder`."""

    root: Path
    patients: tuple[Patient, ...]
    errors: tuple[ScanProblem, ...] = ()
    skipped: tuple[ScanProblem, ...] = ()

    def iter_studies(self) -> Iterator[Study]:
        """Every study of every patient."""
        for patient in self.patients:
            yield from patient.studies

    def iter_series(self) -> Iterator[Series]:
        """Every series of every study."""
        for study in self.iter_studies():
            yield from study.series

    @property
    def n_images(self) -> int:
        """Number of image files indexed."""
        return sum(len(s.images) for s in self.iter_series())

    def summary(self) -> str:
        """One line: ``"2 patients, 3 studies, 4 series, 12 images, 1 error"``."""
        n_st = sum(1 for _ in self.iter_studies())
        n_se = sum(1 for _ in self.iter_series())
        return (
            f"{len(self.patients)} patients, {n_st} studies, {n_se} series, "
            f"{self.n_images} images, {len(self.errors)} errors, "
            f"{len(self.skipped)} skipped"
        )


# --- reading one file ---------------------------------------------------------------------------
def _walk(root: Path) -> Iterator[Path]:
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))
            elif entry.is_file():
                yield Path(entry.path)


def _text(value: object) -> str:
    return "" if value is None else str(value).strip()


def _int(value: object) -> int | None:
    try:
        return int(str(value)) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _read_header(path: Path) -> dict[str, str] | str:
    """The needed header fields of a DICOM file as text (``""`` when absent), or a reason."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    from engine.io.dicom import looks_like_dicom

    try:
        with path.open("rb") as handle:
            head = handle.read(132)
            if not head:
                return "empty file"
            dicm = len(head) >= 132 and head[128:132] == b"DICM"
            if not dicm and not looks_like_dicom(head):
                return "not DICOM nor a supported image format"
            handle.seek(0)
            try:
                ds = pydicom.dcmread(handle, stop_before_pixels=True, force=not dicm, specific_tags=_TAGS)
            except InvalidDicomError as exc:
                return f"not DICOM ({exc})"
            fields = {k: _text(ds.get(k)) for k in _TAGS}  # values are parsed here, lazily
            meta = getattr(ds, "file_meta", None)
            if not fields["SOPClassUID"] and meta is not None:
                fields["SOPClassUID"] = _text(meta.get("MediaStorageSOPClassUID"))
            return fields
    except Exception as exc:  # one bad file never stops the scan
        return f"DICOM header unreadable ({type(exc).__name__}: {exc})"


def view_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a DICOM file is not an image to view (SR, PDF, Parametric Map, DICOMDIR…), or None when it is one.

    The rule :func:`scan_folder` applies to each file, for one file (e.g. one that has just arrived from a
    PACS: open it only when it is an image).
    """
    file = Path(path)
    h = _read_header(file)
    if isinstance(h, str):
        return h
    if h["SOPClassUID"] == DICOMDIR_SOP_CLASS or file.name.upper() == "DICOMDIR":
        return "DICOMDIR"
    if h["SOPClassUID"] in NOT_VIEWED_SOP_CLASSES:
        return f"DICOM {NOT_VIEWED_SOP_CLASSES[h['SOPClassUID']]}: not an image to view"
    if not h["Rows"] or not h["Columns"]:
        return f"DICOM object without pixels ({h['SOPClassUID']})"
    return None


def is_secondary_capture(path: str | os.PathLike[str]) -> bool:
    """True for a DICOM Secondary Capture (a derived picture, e.g. a result's overlay, not an acquired image)."""
    h = _read_header(Path(path))
    return not isinstance(h, str) and h["SOPClassUID"].startswith("1.2.840.10008.5.1.4.1.1.7")


def _dicomdir_missing(path: Path) -> list[ScanProblem]:
    """Files a DICOMDIR lists that do not exist."""
    import pydicom

    problems = []
    try:
        ds = pydicom.dcmread(path)
        for record in ds.get("DirectoryRecordSequence") or []:
            ref = record.get("ReferencedFileID")
            if not ref:
                continue
            parts = [ref] if isinstance(ref, str) else list(ref)
            target = path.parent.joinpath(*parts)
            if not target.exists():
                problems.append(ScanProblem(target, f"listed in {path} but missing"))
    except Exception as exc:
        problems.append(ScanProblem(path, f"DICOMDIR unreadable ({exc})"))
    return problems


# --- grouping -----------------------------------------------------------------------------------
@dataclass
class _Acc:
    info: dict[str, object]
    children: dict[str, _Acc]
    images: list[IndexedImage]


def _child(parent: _Acc, key: str, info: dict[str, object]) -> _Acc:
    if key not in parent.children:
        parent.children[key] = _Acc(info, {}, [])
    return parent.children[key]


def _image_key(img: IndexedImage) -> tuple[int, int, str]:
    n = img.instance_number
    return (0 if n is not None else 1, n or 0, str(img.path))


def _freeze(top: _Acc) -> tuple[Patient, ...]:
    patients = []
    for p in top.children.values():
        studies = []
        for st in p.children.values():
            series = [
                Series(
                    str(se.info["uid"]),
                    _int(se.info["number"]),
                    str(se.info["description"]),
                    str(se.info["modality"]),
                    tuple(sorted(se.images, key=_image_key)),
                )
                for se in st.children.values()
            ]
            series.sort(key=lambda s: (s.number is None, s.number or 0, s.description, s.uid))
            studies.append(
                Study(
                    str(st.info["uid"]),
                    str(st.info["description"]),
                    str(st.info["date"]),
                    str(st.info["time"]),
                    tuple(series),
                )
            )
        studies.sort(key=lambda s: (s.date, s.time, s.uid))
        patients.append(
            Patient(str(p.info["id"]), str(p.info["name"]), str(p.info["birth"]), str(p.info["sex"]), tuple(studies))
        )
    patients.sort(key=lambda p: (p.name == NON_DICOM_PATIENT, p.name, p.patient_id))
    return tuple(patients)


def scan_folder(
    path: str | os.PathLike[str],
    *,
    on_progress: Callable[[int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> StudyIndex:
    """Index every image under ``path`` (recursively) without reading pixel data.

    Args:
        path: The folder (a single file is indexed as a folder of one).
        on_progress: Called with the number of files examined so far (every 100 files).
        should_stop: Polled between files; when it returns True the scan raises
            :class:`CancelledError`.

    Raises:
        UnreadableFileError: ``path`` does not exist.
        CancelledError: ``should_stop`` asked to stop.
    """
    from engine.io.loader import ITK_SUFFIXES, RASTER_SUFFIXES, _raster_magic

    root = Path(path)
    if not root.exists():
        raise UnreadableFileError("does not exist.", path=root, fix="Check the path.")
    files = [root] if root.is_file() else _walk(root)
    top = _Acc({}, {}, [])
    errors: list[ScanProblem] = []
    skipped: list[ScanProblem] = []
    for count, file in enumerate(files, 1):
        if should_stop is not None and should_stop():
            raise CancelledError("folder scan cancelled.", path=root)
        if on_progress is not None and count % 100 == 0:
            on_progress(count)
        name = file.name.lower()
        if name.endswith(RASTER_SUFFIXES + ITK_SUFFIXES):
            kind = "itk" if name.endswith(ITK_SUFFIXES) else "raster"
            if kind == "raster":
                try:
                    with file.open("rb") as handle:
                        ok = _raster_magic(handle.read(16))
                except OSError as exc:
                    errors.append(ScanProblem(file, f"unreadable ({exc})"))
                    continue
                if not ok:
                    errors.append(ScanProblem(file, f"named {file.suffix} but not that format"))
                    continue
            folder = str(file.parent)
            patient = _child(top, NON_DICOM_PATIENT, {"id": "", "name": NON_DICOM_PATIENT, "birth": "", "sex": ""})
            study = _child(
                patient,
                NON_DICOM_STUDY,
                {"uid": NON_DICOM_STUDY, "description": NON_DICOM_STUDY, "date": "", "time": ""},
            )
            rel = str(file.parent.relative_to(root)) if root.is_dir() else file.parent.name
            series = _child(study, folder, {"uid": folder, "number": None, "description": rel, "modality": ""})
            series.images.append(IndexedImage(file, kind))
            continue
        if name.endswith(_SIDECARS):
            skipped.append(ScanProblem(file, f"{file.suffix} file: not an image"))
            continue
        h = _read_header(file)
        if isinstance(h, str):
            errors.append(ScanProblem(file, h))
            continue
        if h["SOPClassUID"] == DICOMDIR_SOP_CLASS or file.name.upper() == "DICOMDIR":
            skipped.append(ScanProblem(file, "DICOMDIR (its files are indexed by the walk)"))
            errors.extend(_dicomdir_missing(file))
            continue
        if h["SOPClassUID"] in NOT_VIEWED_SOP_CLASSES:
            skipped.append(ScanProblem(file, f"DICOM {NOT_VIEWED_SOP_CLASSES[h['SOPClassUID']]}: not an image to view"))
            continue
        if not h["Rows"] or not h["Columns"]:
            skipped.append(ScanProblem(file, f"DICOM object without pixels ({h['SOPClassUID']})"))
            continue
        pid, pname = h["PatientID"], h["PatientName"]
        patient = _child(
            top,
            pid or f"name:{pname}",
            {"id": pid, "name": pname, "birth": h["PatientBirthDate"], "sex": h["PatientSex"]},
        )
        st_uid = h["StudyInstanceUID"] or f"(no study UID) {file.parent}"
        study = _child(
            patient,
            st_uid,
            {"uid": st_uid, "description": h["StudyDescription"], "date": h["StudyDate"], "time": h["StudyTime"]},
        )
        se_uid = h["SeriesInstanceUID"] or f"(no series UID) {file.parent}"
        series = _child(
            study,
            se_uid,
            {
                "uid": se_uid,
                "number": h["SeriesNumber"],
                "description": h["SeriesDescription"],
                "modality": h["Modality"],
            },
        )
        series.images.append(
            IndexedImage(
                file,
                "dicom",
                h["SOPInstanceUID"],
                _int(h["InstanceNumber"]),
                max(1, _int(h["NumberOfFrames"]) or 1),
                _int(h["Rows"]),
                _int(h["Columns"]),
            )
        )
    return StudyIndex(root, _freeze(top), tuple(errors), tuple(skipped))


def thumbnail(path: str | os.PathLike[str], size: int = 128, frame: int = 0) -> np.ndarray:
    """A uint8 thumbnail (longest side ``size``, aspect kept) of the image as displayed.

    ``H x W`` for grayscale, ``H x W x 3`` for colour. Raises the errors of
    :func:`engine.io.load_image`.
    """
    from PIL import Image

    from engine.io.loader import load_image

    display = load_image(path, frame).display
    pixels = np.rint(np.clip(display, 0.0, 1.0) * 255.0).astype(np.uint8)
    im = Image.fromarray(pixels)
    im.thumbnail((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
    return np.asarray(im)

"""Read boxes and scores from DICOM Structured Reports (TID 1500 and other SR content trees).

RadLens's own SRs (:mod:`engine.dicom_out`) and other systems' are read the same way: the content
tree is walked; every SCOORD (POLYLINE, POLYGON, MULTIPOINT, ELLIPSE, CIRCLE, POINT) that is
selected from an image becomes a box (its bounding box, in that image's pixel coordinates: DICOM
puts (0, 0) at the top-left corner of the top-left pixel, as RadLens does) attached to the
referenced SOP Instance UID. Observation context (person/device observer), finding type
(``Finding``, 121071 DCM), algorithm identification (``Algorithm Name``, 111001 DCM) and
probability apply to the items at their level and below, so a box knows:

* its class: the group's finding (its code meaning), else ``"Finding"``;
* its annotator: for a group with an algorithm identification, ``"RadLens <model>"`` when the SR
  was written by RadLens (Manufacturer ``RadLens``; the model name as written otherwise), source
  ``model``, score = the group's probability; else the person observer's name (``Family Given``),
  source ``ground_truth`` (another reader); else the device observer's name, source ``model``.

SCOORD3D items are skipped (they are not in pixel coordinates). Image-level groups give each
class's probability and the model's call (:class:`SrContent`).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.annotations.model import AnnotationSet, BoxAnnotation, SetBuilder, Source, stable_id
from engine.errors import AnnotationError

FORMAT_NAME = "dicom-sr"
SR_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."

# concept codes read (code value, scheme)
PERSON_NAME = ("121008", "DCM")
DEVICE_NAME = ("121013", "DCM")
FINDING = ("121071", "DCM")
ALGORITHM_NAME = ("111001", "DCM")
PROBABILITY = ("PROB", "99RADLENS")
MODEL_CALL = ("CALL", "99RADLENS")
PRESENT = ("52101004", "SCT")


@dataclass(frozen=True)
class SrContent:
    """What an SR holds for RadLens.

    Attributes:
        annotations: Referenced SOP Instance UID -> its boxes.
        probabilities: Class -> probability (image-level groups with a probability).
        calls: Class -> the model's call (True: present) where the SR states one.
        algorithm: The first algorithm name met ("" if none).
        manufacturer: Manufacturer of the SR.
    """

    annotations: dict[str, AnnotationSet] = field(default_factory=dict)
    probabilities: dict[str, float] = field(default_factory=dict)
    calls: dict[str, bool] = field(default_factory=dict)
    algorithm: str = ""
    manufacturer: str = ""


def _code(item: Any, keyword: str = "ConceptNameCodeSequence") -> tuple[str, str, str]:
    seq = item.get(keyword)
    if not seq:
        return ("", "", "")
    c = seq[0]
    value = str(c.get("CodeValue") or c.get("LongCodeValue") or c.get("URNCodeValue") or "")
    return (value, str(c.get("CodingSchemeDesignator", "")), str(c.get("CodeMeaning", "")))


def _person(value: Any) -> str:
    return " ".join(p for p in str(value or "").replace("^", " ").split() if p)


def _number(item: Any) -> float | None:
    seq = item.get("MeasuredValueSequence")
    if not seq:
        return None
    try:
        return float(seq[0].NumericValue)
    except (AttributeError, TypeError, ValueError):
        return None


def _bbox(item: Any) -> tuple[float, float, float, float] | None:
    data = np.asarray([float(v) for v in (item.get("GraphicData") or [])], dtype=np.float64)
    if data.size < 2 or data.size % 2 or not np.isfinite(data).all():
        return None
    pts = data.reshape(-1, 2)  # (column, row) pairs
    kind = str(item.get("GraphicType", "")).upper()
    if kind == "CIRCLE" and len(pts) >= 2:
        r = float(np.hypot(*(pts[1] - pts[0])))
        cx, cy = pts[0]
        return (cx - r, cy - r, cx + r, cy + r)
    return (float(pts[:, 0].min()), float(pts[:, 1].min()), float(pts[:, 0].max()), float(pts[:, 1].max()))


def _referenced(item: Any) -> str:
    for child in item.get("ContentSequence") or []:
        if str(child.get("ValueType", "")) == "IMAGE" and child.get("ReferencedSOPSequence"):
            return str(child.ReferencedSOPSequence[0].ReferencedSOPInstanceUID)
    return ""


class _Walker:
    def __init__(self, path: Path, ours: bool) -> None:
        self.path = path
        self.ours = ours
        self.builder = SetBuilder()
        self.probabilities: dict[str, float] = {}
        self.calls: dict[str, bool] = {}
        self.algorithm = ""
        self.count = 0

    def walk(self, items: Iterable[Any], ctx: dict[str, Any]) -> None:
        items = list(items)
        ctx = dict(ctx)
        for it in items:  # the context at this level applies to siblings and descendants
            code = _code(it)[:2]
            vt = str(it.get("ValueType", ""))
            if code == PERSON_NAME and vt == "PNAME":
                ctx["person"] = _person(it.get("PersonName"))
            elif code == DEVICE_NAME and vt == "TEXT":
                ctx["device"] = str(it.get("TextValue", ""))
            elif code == ALGORITHM_NAME and vt == "TEXT":
                ctx["algorithm"] = str(it.get("TextValue", ""))
                self.algorithm = self.algorithm or ctx["algorithm"]
            elif code == FINDING and vt == "CODE":
                ctx["finding"] = _code(it, "ConceptCodeSequence")[2]
            elif vt == "NUM" and (code == PROBABILITY or "probability" in _code(it)[2].lower()):
                ctx["probability"] = _number(it)
        finding = ctx.get("finding")
        has_scoord = any(str(it.get("ValueType", "")) == "SCOORD" for it in items)
        if finding and ctx.get("probability") is not None and not has_scoord:
            self.probabilities.setdefault(finding, float(ctx["probability"]))
        for it in items:
            vt = str(it.get("ValueType", ""))
            if vt == "CODE" and _code(it)[:2] == MODEL_CALL and finding:
                self.calls[finding] = _code(it, "ConceptCodeSequence")[:2] == PRESENT
            elif vt == "SCOORD":
                self._box(it, ctx)
            elif vt == "CONTAINER" and it.get("ContentSequence"):
                self.walk(it.ContentSequence, ctx)

    def _box(self, item: Any, ctx: dict[str, Any]) -> None:
        box, uid = _bbox(item), _referenced(item)
        if box is None or not uid:
            return
        alg = ctx.get("algorithm")
        score = None
        if alg:
            annotator = f"RadLens {alg}" if self.ours and not alg.startswith("RadLens") else alg
            source, score = Source.MODEL, ctx.get("probability")
        elif ctx.get("person"):
            annotator, source = ctx["person"], Source.GROUND_TRUTH
        elif ctx.get("device"):
            annotator, source = ctx["device"], Source.MODEL
        else:
            annotator, source = "DICOM SR", Source.GROUND_TRUTH
        self.count += 1
        self.builder.add_box(BoxAnnotation(
            ctx.get("finding") or "Finding", *box, annotator=annotator, source=source, score=score, image_id=uid,
            id=stable_id(FORMAT_NAME, self.path.name, self.count), note=f"from SR {self.path.name}"))


def is_sr_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a DICOM Part-10 file of an SR SOP class (reads the header only)."""
    p = Path(path)
    try:
        with p.open("rb") as handle:
            head = handle.read(132)
        if len(head) < 132 or head[128:132] != b"DICM":
            return False
        import pydicom

        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"])
        uid = str(ds.get("SOPClassUID", "") or getattr(ds.file_meta, "MediaStorageSOPClassUID", ""))
        return uid.startswith(SR_CLASS_PREFIX)
    except Exception:  # not readable as DICOM: not an SR
        return False


def read_sr(path: str | os.PathLike[str]) -> SrContent:
    """Read an SR's boxes (per referenced image), probabilities and calls.

    Raises:
        AnnotationError: Not a readable DICOM SR.
    """
    import pydicom

    p = Path(path)
    try:
        ds = pydicom.dcmread(p)
    except Exception as exc:
        raise AnnotationError(f"cannot read the DICOM SR ({type(exc).__name__}: {exc}).", path=p,
                              fix="check the file is a DICOM Structured Report.") from exc
    if not str(ds.get("SOPClassUID", "")).startswith(SR_CLASS_PREFIX):
        raise AnnotationError("is DICOM but not a Structured Report.", path=p,
                              fix="open SR objects (e.g. TID 1500 measurement reports) as annotations.")
    manufacturer = str(ds.get("Manufacturer", "") or "")
    walker = _Walker(p, manufacturer == "RadLens")
    walker.walk(ds.get("ContentSequence") or [], {})
    return SrContent(walker.builder.build(), walker.probabilities, walker.calls, walker.algorithm, manufacturer)


def sniff_sr(path: str | os.PathLike[str]) -> bool:
    """Annotation-format sniffer: a DICOM SR file."""
    return is_sr_file(path)


def read_sr_annotations(path: str | os.PathLike[str]) -> dict[str, AnnotationSet]:
    """Annotation-format reader: referenced SOP Instance UID -> boxes."""
    return read_sr(path).annotations


# --- SRs beside an image -----------------------------------------------------------------------
_CACHE: dict[Path, tuple[tuple[tuple[str, int, int], ...], dict[str, AnnotationSet]]] = {}


#: At most this many files are examined around an image (a study retrieved from a PACS is far smaller).
MAX_FILES = 2000


def _files(where: Path) -> list[Path]:
    try:
        return [e for e in sorted(where.iterdir()) if e.is_file() and not e.name.startswith(".")
                and e.suffix.lower() in (".dcm", ".dicom", "")]
    except OSError:
        return []


def _dirs(folder: Path) -> list[Path]:
    try:
        return sorted(d for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        return []


def _candidates(folder: Path) -> list[Path]:
    """Files in ``folder``, its direct subfolders and its sibling folders (a study's other series)."""
    out: list[Path] = []
    for where in (folder, *_dirs(folder), *(d for d in _dirs(folder.parent) if d != folder)):
        out += _files(where)
        if len(out) >= MAX_FILES:
            return out[:MAX_FILES]
    return out


def sr_boxes_near(image_path: str | os.PathLike[str], sop_instance_uid: str) -> AnnotationSet:
    """Boxes that SRs near the image attach to ``sop_instance_uid``.

    Near: in the image's folder, its direct subfolders, or its sibling folders (a study retrieved
    from a PACS keeps each series in a folder of its own), at most :data:`MAX_FILES` files.

    SRs that cannot be read are left out (logged nowhere: they are other systems' files). The folder's
    SRs are read once and cached until a file there changes.
    """
    if not sop_instance_uid:
        return AnnotationSet()
    folder = Path(image_path).parent
    files = _candidates(folder)
    try:
        signature = tuple((str(f), int(f.stat().st_mtime_ns), int(f.stat().st_size)) for f in files)
    except OSError:
        signature = ()
    cached = _CACHE.get(folder)
    if cached is None or cached[0] != signature:
        merged: dict[str, AnnotationSet] = {}
        for f in files:
            if not is_sr_file(f):
                continue
            try:
                found = read_sr(f).annotations
            except AnnotationError:
                continue
            for uid, ann in found.items():
                merged[uid] = merged[uid].merged(ann) if uid in merged else ann
        _CACHE[folder] = cached = (signature, merged)
    return cached[1].get(sop_instance_uid, AnnotationSet())

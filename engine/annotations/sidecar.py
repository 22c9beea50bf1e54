"""RadLens's own JSON sidecar: ``<image file name>.radlens.json`` beside the image.

``img001.dcm`` -> ``img001.dcm.radlens.json``. Document (``schema_version`` 1)::

    {
      "format": "radlens.annotations",
      "schema_version": 1,
      "app": {"name": "radlens", "version": "0.1.0"},
      "written_at": "2025-01-01T12:00:00+00:00",
      "box_convention": "...",
      "image": {"file_name": "img001.dcm", "sop_instance_uid": null,
                "rows": 2048, "columns": 2500},
      "labels": [{"class_name": "No finding", "annotator": "R8", "source": "ground_truth"}],
      "boxes": [{"id": "...", "class_name": "...", "x0": 1.0, "y0": 2.0, "x1": 3.0, "y1": 4.0,
                 "annotator": "...", "source": "user", "score": null, "image_id": "...",
                 "note": ""}]
    }

Where it goes: beside the image when RadLens may write there. Images in places RadLens must not or
cannot write (the bundled demo study and anything else inside the installation, RadLens's own cache
folder such as the PACS retrieve cache, a read-only folder, share or CD) keep their sidecar in the
user's data folder instead (:func:`engine.resources.user_data_dir`, ``$RADLENS_DATA`` in tests):
``<data>/annotations/uid-<SOP Instance UID>.radlens.json`` for DICOM, ``sha256-<file hash>.radlens.json``
otherwise, so the same image opened again from anywhere (another copy, another folder) finds its
boxes. :func:`find_sidecar` looks in the store first for such images and beside the image first for
the others; existing sidecars beside writable images keep working unchanged.

Writes are atomic. An existing sidecar that cannot be read (corrupt JSON, unknown schema
version) is never overwritten blindly: it is first copied to ``<sidecar>.bak`` (or
``<sidecar>.1.bak``, ...).
"""

from __future__ import annotations

import datetime as _dt
import errno
import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.annotations.model import AnnotationSet, BoxAnnotation, ImageLabel
from engine.atomic import atomic_write_text
from engine.errors import AnnotationError, AnnotationParseError
from engine.resources import is_bundled, user_cache_dir, user_data_dir
from engine.version import version

FORMAT_NAME = "radlens"
FORMAT_TAG = "radlens.annotations"
SCHEMA_VERSION = 1
SIDECAR_SUFFIX = ".radlens.json"
#: The store's folder under the user's data folder.
STORE_FOLDER = "annotations"
_UID = re.compile(r"[0-9]+(\.[0-9]+)*")
_NOT_WRITABLE = (errno.EACCES, errno.EPERM, errno.EROFS)
BOX_CONVENTION = (
    "pixel edges in the original image; x right, y down; origin at the top-left corner of the "
    "top-left pixel; pixel (row i, col j) covers [j, j+1) x [i, i+1)"
)


def app_version() -> str:
    """Return the RadLens version (:func:`engine.version.version`), or ``"unknown"``."""
    return version()


@dataclass(frozen=True)
class ImageReference:
    """Which image a sidecar describes.

    Attributes:
        file_name: Base name of the image file.
        sop_instance_uid: DICOM SOP Instance UID, if known.
        rows: Image height in pixels, if known.
        columns: Image width in pixels, if known.
    """

    file_name: str
    sop_instance_uid: str | None = None
    rows: int | None = None
    columns: int | None = None


@dataclass(frozen=True)
class Sidecar:
    """A sidecar document as read.

    Attributes:
        path: The sidecar file.
        image: The image reference it holds.
        annotations: Boxes and labels (box ``image_id`` as stored).
        schema_version: Always :data:`SCHEMA_VERSION` for documents this version reads.
        app_version: Version of RadLens that wrote it.
        written_at: ISO-8601 time of writing, as stored.
    """

    path: Path
    image: ImageReference
    annotations: AnnotationSet
    schema_version: int
    app_version: str
    written_at: str


def sidecar_path(image_path: str | os.PathLike[str]) -> Path:
    """Return where the sidecar of ``image_path`` lives (whether or not it exists)."""
    path = Path(image_path)
    if path.name.endswith(SIDECAR_SUFFIX):
        return path
    return path.with_name(path.name + SIDECAR_SUFFIX)


def store_dir() -> Path:
    """The user's sidecar store (``<user data>/annotations``)."""
    return user_data_dir() / STORE_FOLDER


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def must_store_elsewhere(image_path: str | os.PathLike[str]) -> bool:
    """True when the sidecar of ``image_path`` must not go beside it: the image is inside RadLens's
    installation (the bundled demo study), inside RadLens's cache folder (the PACS cache), or its
    folder (or an existing sidecar) is not writable."""
    path = Path(image_path)
    if is_bundled(path) or _inside(path, user_cache_dir()):
        return True
    beside = sidecar_path(path)
    if beside.exists():
        return not os.access(beside, os.W_OK)
    return path.parent.is_dir() and not os.access(path.parent, os.W_OK | os.X_OK)


def _dicom_uid(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            if handle.read(4) != b"DICM":
                return None
        import pydicom

        ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
        uid = str(ds.get("SOPInstanceUID", "") or "").strip()
    except Exception:  # any unreadable header: fall back to the file hash
        return None
    return uid or None


def store_key(image_path: str | os.PathLike[str], sop_instance_uid: str | None = None) -> str | None:
    """The image's key in the store: ``uid-<SOP Instance UID>`` (given, or read from the DICOM
    header), else ``sha256-<hash of the file>``; None when neither can be had (no UID, no file)."""
    path = Path(image_path)
    uid = sop_instance_uid or _dicom_uid(path)
    if uid and _UID.fullmatch(uid) and len(uid) <= 64:
        return f"uid-{uid}"
    if uid:  # not a valid UID string: still one key per UID, a safe file name
        return "uid-sha256-" + hashlib.sha256(uid.encode("utf-8")).hexdigest()
    try:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return f"sha256-{digest.hexdigest()}"


def stored_sidecar_path(image_path: str | os.PathLike[str], sop_instance_uid: str | None = None) -> Path | None:
    """Where the store keeps the sidecar of ``image_path`` (whether or not it exists)."""
    key = store_key(image_path, sop_instance_uid)
    return None if key is None else store_dir() / f"{key}{SIDECAR_SUFFIX}"


def _stored_existing(path: Path) -> Path | None:
    folder = store_dir()
    if not folder.is_dir() or not any(folder.iterdir()):
        return None  # nothing stored: no header read or hash needed
    stored = stored_sidecar_path(path)
    return stored if stored is not None and stored.is_file() else None


def find_sidecar(image_path: str | os.PathLike[str]) -> Path | None:
    """Return the sidecar of ``image_path`` if one exists, else None: for images whose sidecar must
    not go beside them, the store first, then beside; for the others, beside first, then the store
    (boxes drawn on the bundled demo are found on a copy of it too)."""
    path = Path(image_path)
    if path.name.endswith(SIDECAR_SUFFIX):
        return path if path.is_file() else None
    beside = sidecar_path(path)
    if must_store_elsewhere(path):
        stored = _stored_existing(path)
        return stored if stored is not None else (beside if beside.is_file() else None)
    return beside if beside.is_file() else _stored_existing(path)


def sniff_sidecar(path: str | os.PathLike[str]) -> bool:
    """Return True for a ``*.radlens.json`` file or a JSON file tagged ``radlens.annotations``."""
    p = Path(path)
    if p.name.endswith(SIDECAR_SUFFIX):
        return True
    if p.suffix.lower() != ".json":
        return False
    try:
        with open(p, encoding="utf-8") as handle:
            head = handle.read(4096)
    except (OSError, UnicodeDecodeError):
        return False
    return FORMAT_TAG in head


def _parse_error(path: Path, problem: str) -> AnnotationParseError:
    return AnnotationParseError(
        problem,
        path=path,
        fix="Restore the file from its .bak copy or a backup, or delete it to start afresh.",
    )


def _optional_int(path: Path, data: dict[str, Any], key: str) -> int | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _parse_error(path, f"image.{key} must be a non-negative integer, not {value!r}.")
    return value


def _load_document(path: Path) -> Sidecar:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnnotationError(
            f"Cannot read the sidecar ({exc.strerror or exc}).",
            path=path,
            fix="Check that the file exists and is readable.",
        ) from exc
    except UnicodeDecodeError:
        raise _parse_error(path, "The sidecar is not UTF-8 text.") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _parse_error(
            path,
            f"The sidecar is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}).",
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_TAG:
        raise _parse_error(path, f"The file is not a RadLens sidecar (no format {FORMAT_TAG!r}).")
    version = doc.get("schema_version")
    app = doc.get("app")
    writer = str(app.get("version", "unknown")) if isinstance(app, dict) else "unknown"
    if version != SCHEMA_VERSION:
        raise AnnotationError(
            f"Sidecar schema version {version!r} is not supported; this RadLens "
            f"({app_version()}) reads version {SCHEMA_VERSION}.",
            path=path,
            fix=f"Open it with the RadLens version that wrote it ({writer}) or a newer one.",
        )
    image = doc.get("image")
    if not isinstance(image, dict) or not isinstance(image.get("file_name"), str):
        raise _parse_error(path, "Field 'image.file_name' is missing or not a string.")
    uid = image.get("sop_instance_uid")
    if uid is not None and not isinstance(uid, str):
        raise _parse_error(path, f"Field 'image.sop_instance_uid' must be a string, not {uid!r}.")
    ref = ImageReference(
        image["file_name"],
        uid,
        _optional_int(path, image, "rows"),
        _optional_int(path, image, "columns"),
    )
    boxes = tuple(_box(path, i, item) for i, item in enumerate(_list(path, doc, "boxes")))
    labels = tuple(_label(path, i, item) for i, item in enumerate(_list(path, doc, "labels")))
    return Sidecar(
        path=path,
        image=ref,
        annotations=AnnotationSet(boxes, labels, ref.file_name),
        schema_version=version,
        app_version=writer,
        written_at=str(doc.get("written_at", "")),
    )


def _list(path: Path, doc: dict[str, Any], key: str) -> list[Any]:
    value = doc.get(key, [])
    if not isinstance(value, list):
        raise _parse_error(path, f"Field {key!r} must be a list.")
    return value


def _box(path: Path, index: int, item: Any) -> BoxAnnotation:
    where = f"boxes[{index}]"
    if not isinstance(item, dict):
        raise _parse_error(path, f"{where} must be an object.")
    for key in ("class_name", "x0", "y0", "x1", "y1", "annotator", "source"):
        if key not in item:
            raise _parse_error(path, f"{where} lacks field {key!r}.")
    for key in ("x0", "y0", "x1", "y1"):
        if isinstance(item[key], bool) or not isinstance(item[key], int | float):
            raise _parse_error(path, f"{where}.{key} must be a number, not {item[key]!r}.")
    score = item.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise _parse_error(path, f"{where}.score must be a number or null, not {score!r}.")
    kwargs: dict[str, Any] = {
        "class_name": item["class_name"],
        "x0": item["x0"],
        "y0": item["y0"],
        "x1": item["x1"],
        "y1": item["y1"],
        "annotator": str(item["annotator"]),
        "source": item["source"],
        "score": score,
        "image_id": str(item.get("image_id", "")),
        "note": str(item.get("note", "")),
    }
    if item.get("id"):
        kwargs["id"] = str(item["id"])
    try:
        return BoxAnnotation(**kwargs)
    except AnnotationError as exc:
        raise _parse_error(path, f"{where}: {exc.problem}") from None


def _label(path: Path, index: int, item: Any) -> ImageLabel:
    where = f"labels[{index}]"
    if not isinstance(item, dict) or "class_name" not in item:
        raise _parse_error(path, f"{where} must be an object with a 'class_name'.")
    try:
        return ImageLabel(
            item["class_name"], str(item.get("annotator", "")), item.get("source", "ground_truth")
        )
    except AnnotationError as exc:
        raise _parse_error(path, f"{where}: {exc.problem}") from None


def read_sidecar(image_path: str | os.PathLike[str]) -> Sidecar:
    """Read the sidecar of an image (or a sidecar path given directly).

    Args:
        image_path: The image file (``img001.dcm``) or its sidecar (``img001.dcm.radlens.json``).

    Returns:
        The :class:`Sidecar`; its ``annotations`` are what the viewer shows.

    Raises:
        AnnotationError: No sidecar, it cannot be read, or its schema version is unknown.
        AnnotationParseError: The sidecar is corrupt (bad JSON, missing or mistyped fields).
    """
    path = find_sidecar(image_path) or sidecar_path(image_path)
    if not path.is_file():
        raise AnnotationError(
            "No RadLens sidecar found.",
            path=path,
            fix="Check find_sidecar() first; a sidecar is created when annotations are saved.",
        )
    return _load_document(path)


def read_sidecar_annotations(path: str | os.PathLike[str]) -> dict[str, AnnotationSet]:
    """Read a sidecar as ``{image file name: AnnotationSet}`` (for :func:`read_annotations`)."""
    sidecar = read_sidecar(path)
    return {sidecar.image.file_name: sidecar.annotations}


def _backup(path: Path) -> Path:
    candidate = path.with_name(path.name + ".bak")
    n = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{n}.bak")
        n += 1
    shutil.copy2(path, candidate)
    return candidate


def write_sidecar(
    image_path: str | os.PathLike[str],
    annotations: AnnotationSet,
    *,
    sop_instance_uid: str | None = None,
    image_shape: tuple[int, int] | None = None,
) -> Path:
    """Write the sidecar of ``image_path`` atomically: beside the image, or into the user's store
    when RadLens must not or cannot write there (:func:`must_store_elsewhere`, or the write beside
    is refused by the file system).

    If a sidecar already exists but cannot be read (corrupt, or written by an unknown schema
    version), it is first copied to ``*.bak`` so nothing is lost.

    Args:
        image_path: The image file.
        annotations: What to store.
        sop_instance_uid: The DICOM SOP Instance UID, if any.
        image_shape: ``(rows, columns)`` of the image, if known.

    Returns:
        The sidecar path.

    Raises:
        AnnotationError: The file could not be written (the previous sidecar is left intact).
    """
    beside = sidecar_path(image_path)
    image_name = beside.name[: -len(SIDECAR_SUFFIX)]
    rows, columns = image_shape if image_shape is not None else (None, None)
    doc = {
        "format": FORMAT_TAG,
        "schema_version": SCHEMA_VERSION,
        "app": {"name": "radlens", "version": app_version()},
        "written_at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "box_convention": BOX_CONVENTION,
        "image": {
            "file_name": image_name,
            "sop_instance_uid": sop_instance_uid,
            "rows": None if rows is None else int(rows),
            "columns": None if columns is None else int(columns),
        },
        "labels": [
            {"class_name": lab.class_name, "annotator": lab.annotator, "source": lab.source.value}
            for lab in annotations.labels
        ],
        "boxes": [box.to_dict() for box in annotations.boxes],
    }
    text = json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    stored = None
    if not Path(image_path).name.endswith(SIDECAR_SUFFIX) and must_store_elsewhere(image_path):
        stored = stored_sidecar_path(image_path, sop_instance_uid)
    path = stored or beside
    try:
        _write(path, text)
    except OSError as exc:
        fallback = None
        if path == beside and exc.errno in _NOT_WRITABLE and not Path(image_path).name.endswith(SIDECAR_SUFFIX):
            fallback = stored_sidecar_path(image_path, sop_instance_uid)
        if fallback is None:
            raise _write_error(path, exc) from exc
        try:
            _write(fallback, text)
        except OSError as exc2:
            raise _write_error(fallback, exc2) from exc2
        path = fallback
    return path


def _write(path: Path, text: str) -> None:
    if path.exists():
        try:
            _load_document(path)
        except AnnotationError:
            _backup(path)
    atomic_write_text(path, text)


def _write_error(path: Path, exc: OSError) -> AnnotationError:
    return AnnotationError(
        f"Cannot write the sidecar ({exc.strerror or exc}); any previous version is intact.",
        path=path,
        fix="Check free disk space and write permission on the image's folder.",
    )

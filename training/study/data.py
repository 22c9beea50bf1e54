"""The study's work list: every image of the data set with its labels and ground-truth boxes.

Reads the formats ``radlens evaluate`` reads (phantom / VinBigData ``train.csv``, NIH
``BBox_List_2017.csv``, SIIM ``train-rle.csv``) through :mod:`training.datasets` and the engine's
annotation readers, and two classification layouts without boxes, read here:

* ``classification_csv``: a CSV (default ``labels.csv``) with an image path column (``image``,
  ``path``, ``file``, ``filename``, ``image_path`` or ``Image Index``; relative to the data folder,
  or absolute) and one 0/1 label column per class of the models;
* ``class_folders``: ``DATA/<class>/<image>``: an image is positive for its folder's class and
  negative for the others; folders named ``normal``, ``negative``, ``no_finding`` (any case) hold
  negatives. Folder names match class names ignoring case and punctuation (``Nodule_Mass`` is
  ``Nodule/Mass``, which cannot be a folder name).

Nothing here decodes an image.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.annotations import image_key, read_nih, read_siim, read_siim_rle, read_vinbigdata
from engine.annotations.nih import LABEL_ALIASES as NIH_ALIASES
from engine.annotations.siim import CLASS_NAME as SIIM_CLASS
from engine.models.bundle import file_sha256
from training.config import DataConfig
from training.datasets import DEFAULT_ANNOTATIONS, IMAGE_EXTENSIONS, TrainDataError, read_labelled_data
from training.evaluate import detect_format
from training.study.config import DataSpec
from training.study.errors import StudyError

#: The classification layouts read here (no boxes), with their default annotation file.
CLASSIFICATION_CSV, CLASS_FOLDERS = "classification_csv", "class_folders"
CSV_DEFAULT = "labels.csv"
#: NIH ChestX-ray14's image-level label file, read when it sits beside BBox_List_2017.csv.
NIH_LABELS = "Data_Entry_2017.csv"
IMAGE_COLUMNS = ("image", "path", "file", "filename", "image_path", "Image Index")
NEGATIVE_FOLDERS = ("normal", "negative", "nofinding", "negatives")

#: class -> annotator -> list of (x0, y0, x1, y1) boxes in image pixels.
BoxesByClass = dict[str, dict[str, list[list[float]]]]


@dataclass(frozen=True)
class WorkItem:
    """One image to study.

    Attributes:
        image: Path relative to the data folder (POSIX form): the ``image`` key of every row.
        path: The file.
        labels: Class -> 0/1 ground-truth label.
        boxes: Ground-truth boxes by class and annotator (image pixels, pixel-edge convention).
        masks: Ground-truth segmentations by class where the data set has them (SIIM-ACR: the
            image's relative column-major RLE strings, whose union is the mask; decoded at the
            image's size by :func:`mask_of`).
    """

    image: str
    path: str
    labels: dict[str, int]
    boxes: BoxesByClass
    masks: dict[str, list[str]] = field(default_factory=dict)

    def to_row(self) -> dict[str, Any]:
        """A flat row for a Ray Data stream (labels and boxes as JSON text)."""
        return {"image": self.image, "path": self.path, "labels": json.dumps(self.labels),
                "boxes": json.dumps(self.boxes), "masks": json.dumps(self.masks)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WorkItem:
        """Inverse of :meth:`to_row`."""
        return cls(str(row["image"]), str(row["path"]), json.loads(row["labels"]), json.loads(row["boxes"]),
                   json.loads(row["masks"]) if row.get("masks") else {})

    def mask_of(self, class_name: str, shape: tuple[int, int]) -> Any:
        """The class's ground-truth mask at ``shape`` (``(H, W)`` bool array), or None without one.

        SIIM's RLE offsets count the pixels of the 1024 x 1024 challenge images: the mask is decoded
        there and sampled (nearest pixel centre) onto ``shape``, so a resized copy of the data set
        gets its mask resized with it.

        Raises:
            AnnotationParseError: An RLE does not fit a 1024 x 1024 image.
        """
        rles = self.masks.get(class_name)
        if not rles:
            return None
        import numpy as np

        from engine.annotations import decode_siim_rle
        from engine.annotations.siim import DEFAULT_SIZE

        mask = np.zeros((DEFAULT_SIZE, DEFAULT_SIZE), dtype=bool)
        for rle in rles:
            mask |= decode_siim_rle(rle, DEFAULT_SIZE, DEFAULT_SIZE)
        h, w = int(shape[0]), int(shape[1])
        if (h, w) == mask.shape:
            return mask
        rows = np.minimum(((np.arange(h) + 0.5) * DEFAULT_SIZE / h).astype(int), DEFAULT_SIZE - 1)
        cols = np.minimum(((np.arange(w) + 0.5) * DEFAULT_SIZE / w).astype(int), DEFAULT_SIZE - 1)
        return mask[np.ix_(rows, cols)]


@dataclass(frozen=True)
class WorkList:
    """The images of a study run, in a fixed (sorted) order, with the data set's fingerprint."""

    root: Path
    format: str
    annotations: Path
    items: tuple[WorkItem, ...]
    fingerprint: str
    #: SHA-256 of the split file that chose the images ("" without one).
    split_sha256: str = ""
    #: (file or id, reason) of what the data set has but cannot study: image files the annotation
    #: file does not list, ids it lists without an image file (``failures.csv`` lists them).
    left_out: tuple[tuple[str, str], ...] = ()
    #: A label file read beside the annotation file (NIH's ``Data_Entry_2017.csv``), or None.
    labels_file: Path | None = None
    #: SHA-256 of the annotation file as listed ("" for the folder-per-class layout, whose labels are the
    #: paths); with a label file beside it, of both files' SHA-256s. Taken when the list is made.
    annotations_sha256: str = field(init=False, default="")

    def __post_init__(self) -> None:
        digest = ""
        if self.annotations.is_file():
            digest = file_sha256(self.annotations)
            if self.labels_file is not None:
                both = f"{digest}\n{file_sha256(self.labels_file)}"
                digest = hashlib.sha256(both.encode()).hexdigest()
        object.__setattr__(self, "annotations_sha256", digest)


def _reader(fmt: str) -> Any:
    return {"vinbigdata": read_vinbigdata, "phantom": read_vinbigdata, "nih": read_nih, "siim": read_siim}[fmt]


def list_work(spec: DataSpec, classes: tuple[str, ...]) -> WorkList:
    """Every image of the data set that has an annotation row, with labels and boxes.

    Args:
        spec: The study's data section (``folder`` must be set).
        classes: The classes to label (the models' classes).

    Raises:
        StudyError: No folder given, or the split file cannot be read.
        TrainDataError: The folder, annotation file or images are missing (names the file).
    """
    if not spec.folder:
        raise StudyError("the study names no data folder.",
                         fix="pass --data DIR (e.g. a folder written by `radlens phantom --n 200 --out DIR`) "
                         "or set data.folder in the study file.")
    root = Path(spec.folder).resolve()
    fmt = detect_study_format(root, spec.annotations, classes) if spec.format == "auto" else spec.format
    if fmt in (CLASSIFICATION_CSV, CLASS_FOLDERS):
        return _classification_work(root, fmt, spec, classes)
    # NIH: the image-level labels are in Data_Entry_2017.csv beside the box list (most images have no box)
    labels_csv = NIH_LABELS if fmt == "nih" and (root / NIH_LABELS).is_file() else ""
    data = read_labelled_data(DataConfig(format=fmt, root=str(root), annotations=spec.annotations,
                                         classes=tuple(classes), labels_csv=labels_csv))
    examples = list(data.examples)
    split_sha256 = ""
    unmatched_split: tuple[str, ...] = ()
    if spec.split_file:
        wanted, split_sha256, unmatched_split = _read_split(spec, root, {e.image_id for e in examples})
        examples = [e for e in examples if e.image_id in wanted]
    if spec.limit:
        examples = examples[: spec.limit]
    ann_path = root / (spec.annotations or DEFAULT_ANNOTATIONS[fmt])
    sets = {image_key(k): v for k, v in _reader(fmt)(ann_path).items()}
    # SIIM's segmentations: Diff and EHR are defined on the mask, not on its components' boxes
    rles = {image_key(k): [r for _line, r in v] for k, v in read_siim_rle(ann_path).items()} if fmt == "siim" else {}
    items = []
    for e in examples:
        boxes: BoxesByClass = {}
        ann = sets.get(e.image_id)
        for b in ann.boxes if ann is not None else ():
            name = b.class_name if fmt != "nih" or b.class_name in classes else NIH_ALIASES.get(b.class_name, "")
            if name in classes:
                boxes.setdefault(name, {}).setdefault(b.annotator or "?", []).append(
                    [float(v) for v in b.as_tuple()])
        rel = relative_key(e.path, root)
        labels = {c: int(v) for c, v in zip(classes, e.labels, strict=True)}
        masks = {SIIM_CLASS: rles[e.image_id]} if rles.get(e.image_id) and SIIM_CLASS in classes else {}
        items.append(WorkItem(rel, str(e.path.resolve()), labels, boxes, masks))
    items.sort(key=lambda it: it.image)
    labels_path = root / labels_csv if labels_csv else None
    return WorkList(root, fmt, ann_path, tuple(items), fingerprint(root, ann_path, items, labels_path), split_sha256,
                    _left_out(root, ann_path, data.unlabelled_images, data.missing_images, data.ambiguous,
                              unmatched_split), labels_path)


def _read_split(spec: DataSpec, root: Path, known: set[str]) -> tuple[set[str], str, tuple[str, ...]]:
    """The image keys of ``spec.subset`` in the split file, its SHA-256, and its entries that match
    none of the ``known`` image keys.

    Entries may be ids, file names or paths, compared by image key (file name without extension);
    ``val+test`` takes both subsets.

    Raises:
        StudyError: The split file or subset cannot be read, or no entry matches an image.
    """
    split_path = Path(spec.split_file)
    if not split_path.is_absolute():
        split_path = root / split_path
    try:
        split = json.loads(split_path.read_text(encoding="utf-8"))
        wanted = {image_key(Path(str(i)).name): str(i) for s in spec.subset.split("+") for i in split[s]}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StudyError(f"cannot read split '{spec.subset}' ({exc}).", path=split_path,
                         fix="point data.split.file at the split.json written by radlens train (or a JSON "
                         'object {"val": [...], "test": [...]} of image ids or file names).') from exc
    if not known & wanted.keys():
        raise StudyError(f"no image of split '{spec.subset}' is in the data set ({len(wanted)} entries, none "
                         "matches a labelled image).", path=split_path,
                         fix="the split must list image ids (file names without extension) or file names "
                         "of this data folder.")
    unmatched = tuple(sorted(v for k, v in wanted.items() if k not in known))
    return set(wanted), file_sha256(split_path), unmatched


#: How the reasons of images left out of a study begin in ``failures.csv`` (each run lists them afresh).
NOT_STUDIED = "not studied: "


#: Entries of one kind listed one by one in ``failures.csv``; beyond, the first ones and a count (an NIH
#: ``Data_Entry_2017.csv`` beside a few hundred of its 112,120 images must not add 100k lines).
MAX_LISTED = 200
LISTED_BEFORE_COUNT = 20


def _capped(entries: list[tuple[str, str]], what: str) -> list[tuple[str, str]]:
    if len(entries) <= MAX_LISTED:
        return entries
    rest = len(entries) - LISTED_BEFORE_COUNT
    return [*entries[:LISTED_BEFORE_COUNT],
            (f"({rest} more)", f"{NOT_STUDIED}{rest} more {what} (the first {LISTED_BEFORE_COUNT} are listed)")]


def _left_out(root: Path, annotations: Path, unlabelled: tuple[Path, ...], missing: tuple[str, ...],
              ambiguous: dict[str, tuple[Path, ...]], unmatched_split: tuple[str, ...] = ()
              ) -> tuple[tuple[str, str], ...]:
    return (*_capped(_unlabelled(root, annotations, unlabelled), f"image files without a row in {annotations.name}"),
            *_capped(_missing(annotations, missing), f"ids of {annotations.name} without an image file"),
            *_ambiguous(root, annotations, ambiguous),
            *_capped(_unmatched(unmatched_split), "split entries matching no image"))


def _unlabelled(root: Path, annotations: Path, unlabelled: tuple[Path, ...], why: str = "") -> list[tuple[str, str]]:
    why = why or (f"{annotations.name} has no row for this image (add its annotations, or move it out of the data "
                  "folder)")
    return [(relative_key(path, root), f"{NOT_STUDIED}{why}") for path in unlabelled]


def _missing(annotations: Path, missing: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(image_id, f"{NOT_STUDIED}{annotations.name} lists this image id but the data folder has no image "
                       "file of that name") for image_id in missing]


def _ambiguous(root: Path, annotations: Path, ambiguous: dict[str, tuple[Path, ...]]) -> list[tuple[str, str]]:
    out = []
    for image_id, files in sorted(ambiguous.items()):
        names = [relative_key(f, root) for f in files]
        for name in names:
            out.append((name, f"{NOT_STUDIED}{len(files)} files share the image id {image_id!r} "
                              f"({', '.join(names)}): which one {annotations.name} means is unknown (rename or "
                              "move all but one)"))
    return out


def _unmatched(unmatched_split: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(entry, f"{NOT_STUDIED}the split file lists this image, but the data set has no labelled image with "
                    "that id") for entry in unmatched_split]


def relative_key(path: Path, root: Path) -> str:
    """An image's ``image`` key: its path relative to the (resolved) data folder, POSIX form.

    Taken before symlinks are resolved, so a linked image keeps its place in the data folder;
    a path outside the folder stays absolute.
    """
    p = Path(path)
    if not p.is_absolute():
        p = Path.cwd() / p
    for base in (root, root.resolve()):
        if p.is_relative_to(base):
            return p.relative_to(base).as_posix()
    resolved = p.resolve()
    return resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else str(resolved)


def fingerprint(root: Path, annotations: Path, items: list[WorkItem], labels: Path | None = None) -> str:
    """SHA-256 of the annotation file (and of a label file beside it) and of every listed image's
    relative path and size (and of its labels when the annotations are the folder layout itself)."""
    h = hashlib.sha256()
    if annotations.is_dir():
        h.update(json.dumps([[it.image, it.labels] for it in items], sort_keys=True).encode())
    else:
        h.update(file_sha256(annotations).encode())
        if labels is not None:
            h.update(file_sha256(labels).encode())
    for it in items:
        try:
            size = (root / it.image).stat().st_size
        except OSError:
            size = -1
        h.update(f"\n{it.image}\t{size}".encode())
    return h.hexdigest()


# --- classification layouts ---------------------------------------------------------------------------
def _norm(name: str) -> str:
    """A class or folder name for matching: lower case, letters and digits only."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS
                  and not p.name.startswith("."))


def detect_study_format(root: Path, annotations: str, classes: tuple[str, ...]) -> str:
    """The data-set format of ``root``: those of ``radlens evaluate`` (by annotation file), then a
    classification CSV (``labels.csv`` or ``data.annotations`` naming a CSV), then class folders.

    Raises:
        TrainDataError: None fits (names the folder and what each format needs).
    """
    if annotations and (root / annotations).is_file() and annotations.lower().endswith(".csv"):
        try:
            with (root / annotations).open(newline="", encoding="utf-8-sig") as handle:
                header = next(csv.reader(handle), [])
        except OSError:
            header = []
        if any(_norm(h) in {_norm(c) for c in classes} for h in header):
            return CLASSIFICATION_CSV
    try:
        return detect_format(root)
    except TrainDataError:
        pass
    if (root / CSV_DEFAULT).is_file():
        return CLASSIFICATION_CSV
    wanted = {_norm(c) for c in classes}
    if root.is_dir() and any(p.is_dir() and _norm(p.name) in wanted for p in root.iterdir()):
        return CLASS_FOLDERS
    raise TrainDataError(
        "the data folder has no annotation file and no class folders.", path=root,
        fix="expected train.csv (VinBigData/phantom), train-rle.csv (SIIM), BBox_List_2017.csv (NIH), labels.csv "
        f"(an image column and one 0/1 column per class: {', '.join(classes)}) or one folder per class "
        "(DATA/<class>/<image>); or set data.format and data.annotations in the study file.")


def _classification_work(root: Path, fmt: str, spec: DataSpec, classes: tuple[str, ...]) -> WorkList:
    if not root.is_dir():
        raise TrainDataError("data folder not found.", path=root, fix="pass an existing folder with --data.")
    if fmt == CLASSIFICATION_CSV:
        ann = root / (spec.annotations or CSV_DEFAULT)
        labelled = read_classification_csv(ann, root, classes)
    else:
        ann = root
        labelled = read_class_folders(root, classes)
    items = []
    seen: dict[str, int] = {}
    for path, labels in labelled:
        rel = relative_key(path, root)
        seen[rel] = seen.get(rel, 0) + 1
        items.append(WorkItem(rel, str(path.resolve()), labels, {}))
    twice = sorted(k for k, n in seen.items() if n > 1)
    if twice:
        raise TrainDataError(f"{len(twice)} image(s) are listed more than once ({', '.join(twice[:5])}"
                             f"{', ...' if len(twice) > 5 else ''}); their labels could disagree.", path=ann,
                             fix="keep one row per image (one row can mark several classes).")
    items.sort(key=lambda it: it.image)
    split_sha256 = ""
    unmatched_split: tuple[str, ...] = ()
    if spec.split_file:  # matched by file name without extension, as the classification block's subsets
        wanted, split_sha256, unmatched_split = _read_split(spec, root, {image_key(it.image) for it in items})
        items = [it for it in items if image_key(it.image) in wanted]
    # image files in the data folder that the layout does not label (the CSV lists no row for them; a
    # file at the top of a class-folder layout or in a folder it skips)
    unlabelled = tuple(p for p in _image_files(root) if relative_key(p, root) not in seen)
    if spec.limit:
        items = items[: spec.limit]
    why = "" if fmt == CLASSIFICATION_CSV else ("it is in no class folder (DATA/<class>/ or a negatives folder): "
                                                "move it into one, or out of the data folder")
    left_out = [*_capped(_unlabelled(root, ann, unlabelled, why), "image files the layout does not label"),
                *_capped(_unmatched(unmatched_split), "split entries matching no image")]
    return WorkList(root, fmt, ann, tuple(items), fingerprint(root, ann, items), split_sha256, tuple(left_out))


def read_classification_csv(path: Path, root: Path, classes: tuple[str, ...]) -> list[tuple[Path, dict[str, int]]]:
    """(image file, class -> 0/1) for every row of a classification CSV.

    Class columns match the class names ignoring case and punctuation; columns of other classes are
    ignored. Every problem found is reported together.

    Raises:
        TrainDataError: The file is missing or unreadable, has no image column or lacks a class
            column, a label is not 0/1, or an image file does not exist (names the file, the lines
            and the fix).
    """
    if not path.is_file():
        raise TrainDataError("classification CSV not found.", path=path,
                             fix=f"write {path.name} with an image column and one 0/1 column per class "
                             f"({', '.join(classes)}), or set data.annotations.")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            header = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise TrainDataError(f"cannot read the classification CSV ({exc}).", path=path,
                             fix="save it as UTF-8 CSV with a header row.") from exc
    # the image column by name, ignoring case (CheXpert's "Path"); an exact class name wins over a
    # spelling that only matches ignoring punctuation (Nodule/Mass over Nodule_Mass)
    lower = {h.lower(): h for h in reversed(header)}
    image_col = next((lower[c.lower()] for c in IMAGE_COLUMNS if c.lower() in lower), None)
    by_norm = {_norm(h): h for h in reversed(header)}
    by_norm.update({_norm(h): h for h in header if h in classes})
    missing = [c for c in classes if _norm(c) not in by_norm]
    problems = []
    if image_col is None:
        problems.append(f"no image column (accepted names: {', '.join(IMAGE_COLUMNS)})")
    if missing:
        problems.append(f"no column for class(es) {', '.join(missing)}")
    if problems:
        raise TrainDataError(f"the classification CSV has {'; '.join(problems)}; its columns are: "
                             f"{', '.join(header) or 'none'}.", path=path,
                             fix=f"give it an image column and one 0/1 column per class of the model(s): "
                             f"{', '.join(classes)} (Nodule_Mass also matches Nodule/Mass).")
    assert image_col is not None
    out: list[tuple[Path, dict[str, int]]] = []
    bad: list[str] = []
    for line, row in enumerate(rows, start=2):
        name = (row.get(image_col) or "").strip()
        if not name:
            bad.append(f"line {line}: empty {image_col}")
            continue
        file = Path(name) if Path(name).is_absolute() else root / name
        if not file.is_file():
            bad.append(f"line {line}: image {name} not found")
            continue
        labels: dict[str, int] = {}
        for c in classes:
            value = (row.get(by_norm[_norm(c)]) or "").strip()
            if value not in ("0", "1", "0.0", "1.0"):
                bad.append(f"line {line}: {by_norm[_norm(c)]} = {value!r} is not 0 or 1")
            else:
                labels[c] = int(float(value))
        if len(labels) == len(classes):
            out.append((file, labels))
    if bad:
        shown = "; ".join(bad[:8]) + (f"; and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise TrainDataError(f"the classification CSV has {len(bad)} bad row(s): {shown}.", path=path,
                             fix="labels are 0 or 1; image paths are relative to the data folder (or absolute) "
                             "and must exist.")
    if not out:
        raise TrainDataError("the classification CSV lists no image.", path=path, fix="add one row per image.")
    return out


def read_class_folders(root: Path, classes: tuple[str, ...]) -> list[tuple[Path, dict[str, int]]]:
    """(image file, class -> 0/1) for ``DATA/<class>/<image>`` (see the module docstring).

    Raises:
        TrainDataError: A folder names no class of the model(s), or no image was found (names the
            folder and the fix).
    """
    by_norm = {_norm(c): c for c in classes}
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unknown = [p.name for p in folders if _norm(p.name) not in by_norm and _norm(p.name) not in NEGATIVE_FOLDERS]
    if unknown:
        raise TrainDataError(f"folder(s) {', '.join(unknown)} name no class of the model(s).", path=root,
                             fix=f"name each folder after a class ({', '.join(classes)}; Nodule_Mass for "
                             "Nodule/Mass) or 'normal' for images without a finding, or move it out.")
    out: list[tuple[Path, dict[str, int]]] = []
    for folder in folders:
        positive = by_norm.get(_norm(folder.name))
        for file in _image_files(folder):
            out.append((file, {c: int(c == positive) for c in classes}))
    if not out:
        raise TrainDataError("no image in the class folders.", path=root,
                             fix=f"put images ({', '.join(IMAGE_EXTENSIONS)}) in DATA/<class>/.")
    return out

"""Data set readers: an image folder plus its annotation file -> labelled examples.

All annotation parsing goes through the engine readers (``engine.annotations``); this module
only turns boxes and image-level labels into one label vector per image:

* ``phantom`` / ``vinbigdata``: ``train.csv``; an image is positive for a class when at least
  ``min_raters`` annotators boxed it; "No finding" rows make an all-negative image.
* ``nih``: ``BBox_List_2017.csv`` gives positives; with ``labels_csv`` (``Data_Entry``-style:
  ``Image Index``, ``Finding Labels`` joined by ``|``) every listed image gets those labels
  (unioned with its boxes). Without it, images in the folder that have no box are taken as
  negative for every class: a simplification, stated in the data description.
* ``siim``: ``train-rle.csv``; an image with any RLE row other than ``-1`` is Pneumothorax
  positive.

Images are matched to annotation ids with :func:`engine.annotations.image_key` (file stem).
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.annotations import NO_FINDING, AnnotationSet, image_key, read_nih, read_siim_rle, read_vinbigdata
from engine.annotations.matching import IMAGE_EXTENSIONS
from engine.annotations.nih import LABEL_ALIASES as NIH_ALIASES
from engine.errors import RadLensError
from training.config import DataConfig

PHANTOM_CLASSES: tuple[str, ...] = (
    "Nodule/Mass", "Pleural effusion", "Pneumothorax", "Cardiomegaly", "Consolidation",
)
"""The phantom generator's classes (kept here so training does not import the generator)."""

DEFAULT_ANNOTATIONS = {
    "phantom": "train.csv",
    "vinbigdata": "train.csv",
    "nih": "BBox_List_2017.csv",
    "siim": "train-rle.csv",
}


class TrainDataError(RadLensError):
    """The training data cannot be read or does not fit the config."""


@dataclass(frozen=True)
class Example:
    """One labelled image.

    Attributes:
        image_id: Annotation id (file stem).
        path: The image file.
        labels: ``(n_classes,)`` float32 0/1 vector.
        patient_hint: Patient id known before decoding (CSV / file name), else "".
    """

    image_id: str
    path: Path
    labels: np.ndarray
    patient_hint: str = ""


@dataclass(frozen=True)
class LabelledData:
    """Every example of a data set, with its classes and a description for the model card."""

    examples: tuple[Example, ...]
    classes: tuple[str, ...]
    description: dict[str, object]
    #: Image files in the folder that the annotation file does not list (image keys), and ids the
    #: annotation file lists without an image file: left out of the examples.
    unlabelled_images: tuple[Path, ...] = ()
    missing_images: tuple[str, ...] = ()
    #: Image key -> the files sharing it (several files, one id): left out of the examples.
    ambiguous: dict[str, tuple[Path, ...]] = field(default_factory=dict)

    def label_matrix(self) -> np.ndarray:
        """``(n_images, n_classes)`` float32 labels."""
        if not self.examples:
            return np.zeros((0, len(self.classes)), np.float32)
        return np.stack([e.labels for e in self.examples]).astype(np.float32)


def image_folder(cfg: DataConfig) -> Path:
    """The folder holding the images."""
    root = Path(cfg.root)
    if cfg.images:
        return root / cfg.images
    return root / "images" if (root / "images").is_dir() else root


def annotation_file(cfg: DataConfig) -> Path:
    """The annotation CSV."""
    return Path(cfg.root) / (cfg.annotations or DEFAULT_ANNOTATIONS[cfg.format])


def scan_images(folder: Path) -> dict[str, Path]:
    """Image key (stem) -> file for every image file under ``folder`` (recursive).

    Annotation files name images by id (the stem), so two files with one stem (``siteA/img1.png``
    and ``siteB/img1.png``, or ``img1.png`` and ``img1.dcm``) cannot be told apart: the first in
    sorted order is kept here, and :func:`ambiguous_images` lists the others.
    """
    found, _ = _scan(folder)
    return found


def ambiguous_images(folder: Path) -> dict[str, tuple[Path, ...]]:
    """Image key -> every file under ``folder`` with that key, for keys held by two or more files."""
    _, clashes = _scan(folder)
    return clashes


def _scan(folder: Path) -> tuple[dict[str, Path], dict[str, tuple[Path, ...]]]:
    if not folder.is_dir():
        raise TrainDataError("image folder not found.", path=folder, fix="check data.root / data.images.")
    every: dict[str, list[Path]] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS and not p.name.startswith("."):
            every.setdefault(image_key(p.name), []).append(p)
    if not every:
        raise TrainDataError("no image files in the folder.", path=folder,
                             fix=f"put images ({', '.join(IMAGE_EXTENSIONS)}) there.")
    return {k: v[0] for k, v in every.items()}, {k: tuple(v) for k, v in every.items() if len(v) > 1}


def _positive_classes(ann: AnnotationSet, min_raters: int) -> set[str]:
    raters: dict[str, set[str]] = {}
    for box in ann.boxes:
        raters.setdefault(box.class_name, set()).add(box.annotator or "?")
    for label in ann.labels:
        if label.class_name != NO_FINDING:
            raters.setdefault(label.class_name, set()).add(label.annotator or "?")
    return {c for c, who in raters.items() if len(who) >= min_raters}


def _vector(positives: set[str], classes: tuple[str, ...]) -> np.ndarray:
    return np.array([1.0 if c in positives else 0.0 for c in classes], dtype=np.float32)


def _resolve_classes(cfg: DataConfig, seen: set[str]) -> tuple[str, ...]:
    if cfg.classes:
        return tuple(cfg.classes)
    if cfg.format == "phantom":
        return PHANTOM_CLASSES
    if cfg.format == "siim":
        return ("Pneumothorax",)
    classes = tuple(sorted(seen - {NO_FINDING}))
    if not classes:
        raise TrainDataError("the annotations name no class to train on.", fix="set data.classes.")
    return classes


def read_labelled_data(cfg: DataConfig) -> LabelledData:
    """Read the configured data set into labelled examples (sorted by image id).

    Raises:
        TrainDataError: Missing folder or file, or no image matching the annotations.
        AnnotationError: The annotation file is malformed (from the engine readers).
    """
    images, ambiguous = _scan(image_folder(cfg))
    for key in ambiguous:  # one id, several files: which one the annotations mean is unknown
        del images[key]
    ann_path = annotation_file(cfg)
    if not ann_path.is_file():
        raise TrainDataError("annotation file not found.", path=ann_path,
                             fix="set data.annotations (relative to data.root).")
    hints: dict[str, str] = {}
    note = ""
    if cfg.format in ("phantom", "vinbigdata"):
        sets = {image_key(k): v for k, v in read_vinbigdata(ann_path).items()}
        seen = {c for s in sets.values() for c in s.classes}
        classes = _resolve_classes(cfg, seen)
        positives = {k: _positive_classes(s, cfg.min_raters) for k, s in sets.items()}
        ids = sorted(k for k in sets if k in images)
    elif cfg.format == "nih":
        sets = {image_key(k): v for k, v in read_nih(ann_path).items()}
        positives = {k: {NIH_ALIASES.get(c, c) for c in _positive_classes(s, 1)} for k, s in sets.items()}
        if cfg.labels_csv:
            table = _read_data_entry(Path(cfg.root) / cfg.labels_csv)
            for k, labels in table.items():
                positives[k] = positives.get(k, set()) | labels
            ids = sorted(k for k in table if k in images)
        else:
            ids = sorted(images)
            note = "images without a box in the NIH box list are taken as negative for every class"
        classes = _resolve_classes(cfg, {c for p in positives.values() for c in p})
        hints = {k: k.split("_")[0] for k in ids}
    else:  # siim
        rle = read_siim_rle(ann_path, cfg.siim_size, cfg.siim_size)
        classes = _resolve_classes(cfg, {"Pneumothorax"})
        positives = {image_key(k): ({"Pneumothorax"} if rows else set()) for k, rows in rle.items()}
        ids = sorted(k for k in positives if k in images)
    listed = set(positives) if cfg.format in ("nih", "siim") else set(sets)
    if cfg.format == "nih" and not cfg.labels_csv:
        listed = set(images)  # every image is labelled (those without a box as negatives)
    elif cfg.format == "nih":
        listed = set(table)
    listed -= set(ambiguous)
    unlabelled = tuple(images[k] for k in sorted(set(images) - listed))
    missing = tuple(sorted(listed - set(images)))
    if cfg.limit:
        ids = ids[: cfg.limit]
    if not ids:
        raise TrainDataError("no annotated image was found in the image folder.", path=image_folder(cfg),
                             fix=f"the ids in {ann_path.name} must match image file names (without extension).")
    examples = tuple(
        Example(k, images[k], _vector(positives.get(k, set()), classes), hints.get(k, "")) for k in ids
    )
    data = LabelledData(examples, classes, {})
    counts = data.label_matrix().sum(axis=0)
    description: dict[str, object] = {
        "format": cfg.format, "root": str(cfg.root), "annotations": str(ann_path),
        "n_images": len(examples), "classes": list(classes),
        "positives": {c: int(n) for c, n in zip(classes, counts, strict=True)},
        "label_rule": f"positive when >= {cfg.min_raters} annotator(s) marked the class",
    }
    if note:
        description["note"] = note
    return LabelledData(examples, classes, description, unlabelled, missing, ambiguous)


def _read_data_entry(path: Path) -> Mapping[str, set[str]]:
    """``Image Index`` -> set of ``Finding Labels`` ("No Finding" -> empty set)."""
    if not path.is_file():
        raise TrainDataError("labels CSV not found.", path=path, fix="check data.labels_csv.")
    out: dict[str, set[str]] = {}
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        if "Image Index" not in fields or "Finding Labels" not in fields:
            raise TrainDataError("labels CSV needs the columns 'Image Index' and 'Finding Labels'.", path=path)
        for row in reader:
            labels = {t.strip() for t in (row["Finding Labels"] or "").split("|") if t.strip()}
            labels = {t for t in labels if t.lower() != "no finding"}
            out[image_key(row["Image Index"].strip())] = labels
    return out

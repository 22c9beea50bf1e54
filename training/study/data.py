"""The study's work list: every image of the data set with its labels and ground-truth boxes.

Reads the formats ``radlens evaluate`` reads (phantom / VinBigData ``train.csv``, NIH
``BBox_List_2017.csv``, SIIM ``train-rle.csv``) through :mod:`training.datasets` and the engine's
annotation readers; nothing here decodes an image.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.annotations import image_key, read_nih, read_siim, read_vinbigdata
from training.config import DataConfig
from training.datasets import DEFAULT_ANNOTATIONS, read_labelled_data
from training.evaluate import detect_format
from training.study.config import DataSpec
from training.study.errors import StudyError

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
    """

    image: str
    path: str
    labels: dict[str, int]
    boxes: BoxesByClass

    def to_row(self) -> dict[str, Any]:
        """A flat row for a Ray Data stream (labels and boxes as JSON text)."""
        return {"image": self.image, "path": self.path,
                "labels": json.dumps(self.labels), "boxes": json.dumps(self.boxes)}

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> WorkItem:
        """Inverse of :meth:`to_row`."""
        return cls(str(row["image"]), str(row["path"]), json.loads(row["labels"]), json.loads(row["boxes"]))


@dataclass(frozen=True)
class WorkList:
    """The images of a study run, in a fixed (sorted) order, with the data set's fingerprint."""

    root: Path
    format: str
    annotations: Path
    items: tuple[WorkItem, ...]
    fingerprint: str


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
    fmt = detect_format(root) if spec.format == "auto" else spec.format
    data = read_labelled_data(DataConfig(format=fmt, root=str(root), annotations=spec.annotations,
                                         classes=tuple(classes)))
    examples = list(data.examples)
    if spec.split_file:
        split_path = Path(spec.split_file)
        if not split_path.is_absolute():
            split_path = root / split_path
        try:
            split = json.loads(split_path.read_text(encoding="utf-8"))
            wanted = {i for s in spec.subset.split("+") for i in split[s]}  # "val+test": both subsets
        except (OSError, ValueError, KeyError) as exc:
            raise StudyError(f"cannot read split '{spec.subset}' ({exc}).", path=split_path,
                             fix="point data.split.file at the split.json written by radlens train.") from exc
        examples = [e for e in examples if e.image_id in wanted]
    if spec.limit:
        examples = examples[: spec.limit]
    ann_path = root / (spec.annotations or DEFAULT_ANNOTATIONS[fmt])
    sets = {image_key(k): v for k, v in _reader(fmt)(ann_path).items()}
    items = []
    for e in examples:
        boxes: BoxesByClass = {}
        ann = sets.get(e.image_id)
        for b in ann.boxes if ann is not None else ():
            if b.class_name in classes:
                boxes.setdefault(b.class_name, {}).setdefault(b.annotator or "?", []).append(
                    [float(v) for v in b.as_tuple()])
        rel = e.path.resolve().relative_to(root).as_posix() if e.path.resolve().is_relative_to(root) else str(e.path)
        labels = {c: int(v) for c, v in zip(classes, e.labels, strict=True)}
        items.append(WorkItem(rel, str(e.path.resolve()), labels, boxes))
    items.sort(key=lambda it: it.image)
    return WorkList(root, fmt, ann_path, tuple(items), fingerprint(root, ann_path, items))


def fingerprint(root: Path, annotations: Path, items: list[WorkItem]) -> str:
    """SHA-256 of the annotation file and of every listed image's relative path and size."""
    h = hashlib.sha256()
    h.update(hashlib.sha256(annotations.read_bytes()).hexdigest().encode())
    for it in items:
        try:
            size = (root / it.image).stat().st_size
        except OSError:
            size = -1
        h.update(f"\n{it.image}\t{size}".encode())
    return h.hexdigest()

"""Annotation model: boxes, image-level labels and per-image sets (see the package docstring)."""

from __future__ import annotations

import enum
import math
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from engine.errors import AnnotationError

NO_FINDING = "No finding"
"""Image-level label meaning a reader saw nothing abnormal (VinBigData class 14, SIIM ``-1``)."""

_ID_NAMESPACE = uuid.UUID("5f0c9a52-3f1e-4a7e-9a43-2d3c1b7e8a10")


class Source(enum.StrEnum):
    """Where an annotation comes from."""

    GROUND_TRUTH = "ground_truth"
    USER = "user"
    MODEL = "model"


def _new_id() -> str:
    return uuid.uuid4().hex


def stable_id(*parts: object) -> str:
    """Return a deterministic hex id for an annotation read from a file.

    Readers use it so that reading the same file twice gives the same ids.

    Args:
        *parts: Anything identifying the row, e.g. format name, file name and line number.

    Returns:
        A 32-character hex string (a name-based UUID).
    """
    return uuid.uuid5(_ID_NAMESPACE, "\x1f".join(str(p) for p in parts)).hex


def _coerce_source(value: Source | str) -> Source:
    try:
        return Source(value)
    except ValueError:
        allowed = ", ".join(s.value for s in Source)
        raise AnnotationError(
            f"Unknown annotation source {value!r}.", fix=f"Use one of: {allowed}."
        ) from None


@dataclass(frozen=True, slots=True)
class BoxAnnotation:
    """One axis-aligned box in original-image pixel-edge coordinates.

    Args:
        class_name: Finding name, e.g. ``"Cardiomegaly"``.
        x0: Left edge (pixels from the left edge of the image).
        y0: Top edge.
        x1: Right edge, ``>= x0``.
        y1: Bottom edge, ``>= y0``.
        annotator: Who drew it (e.g. ``"R8"``, ``"NIH"``, a user name or a model id).
        source: :class:`Source` (a plain string such as ``"user"`` is accepted).
        score: Model confidence, if any.
        image_id: Image the box belongs to.
        id: Unique id; a fresh uuid4 hex by default.
        note: Free text.

    Raises:
        AnnotationError: Empty class name, non-finite coordinates, ``x1 < x0`` or ``y1 < y0``,
            non-finite score or unknown source. Zero width or height (a line or a point) is
            allowed; negative width or height is not.
    """

    class_name: str
    x0: float
    y0: float
    x1: float
    y1: float
    annotator: str
    source: Source
    score: float | None = None
    image_id: str = ""
    id: str = field(default_factory=_new_id)
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.class_name, str) or not self.class_name.strip():
            raise AnnotationError("A box needs a non-empty class name.")
        coords = []
        for name in ("x0", "y0", "x1", "y1"):
            try:
                value = float(getattr(self, name))
            except (TypeError, ValueError):
                raise AnnotationError(
                    f"Box coordinate {name}={getattr(self, name)!r} is not a number."
                ) from None
            if not math.isfinite(value):
                raise AnnotationError(f"Box coordinate {name}={value!r} is not finite.")
            object.__setattr__(self, name, value)
            coords.append(value)
        x0, y0, x1, y1 = coords
        if x1 < x0 or y1 < y0:
            raise AnnotationError(
                f"Box ({x0}, {y0}, {x1}, {y1}) has negative width or height.",
                fix="Give (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0.",
            )
        object.__setattr__(self, "source", _coerce_source(self.source))
        if self.score is not None:
            score = float(self.score)
            if not math.isfinite(score):
                raise AnnotationError(f"Box score {score!r} is not finite.")
            object.__setattr__(self, "score", score)

    @property
    def width(self) -> float:
        """Width in pixels."""
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        """Height in pixels."""
        return self.y1 - self.y0

    @property
    def area(self) -> float:
        """Area in square pixels."""
        return self.width * self.height

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Return ``(x0, y0, x1, y1)``."""
        return (self.x0, self.y0, self.x1, self.y1)

    def moved(self, dx: float, dy: float) -> BoxAnnotation:
        """Return a copy shifted by ``(dx, dy)`` pixels (same id)."""
        return replace(self, x0=self.x0 + dx, y0=self.y0 + dy, x1=self.x1 + dx, y1=self.y1 + dy)

    def with_coords(
        self,
        x0: float | None = None,
        y0: float | None = None,
        x1: float | None = None,
        y1: float | None = None,
    ) -> BoxAnnotation:
        """Return a copy with the given edges replaced (same id); validated like the original."""
        return replace(
            self,
            x0=self.x0 if x0 is None else x0,
            y0=self.y0 if y0 is None else y0,
            x1=self.x1 if x1 is None else x1,
            y1=self.y1 if y1 is None else y1,
        )

    def key(self) -> tuple[Any, ...]:
        """Everything but the id, for comparing boxes read from different files."""
        return (
            self.image_id,
            self.class_name,
            *self.as_tuple(),
            self.annotator,
            self.source.value,
            self.score,
            self.note,
        )

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict of every field."""
        return {
            "id": self.id,
            "class_name": self.class_name,
            "x0": self.x0,
            "y0": self.y0,
            "x1": self.x1,
            "y1": self.y1,
            "annotator": self.annotator,
            "source": self.source.value,
            "score": self.score,
            "image_id": self.image_id,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class ImageLabel:
    """An image-level label without a location, e.g. one radiologist's "No finding".

    Args:
        class_name: The label, e.g. :data:`NO_FINDING`.
        annotator: Who gave it.
        source: :class:`Source`.
    """

    class_name: str
    annotator: str
    source: Source = Source.GROUND_TRUTH

    def __post_init__(self) -> None:
        if not isinstance(self.class_name, str) or not self.class_name.strip():
            raise AnnotationError("An image label needs a non-empty class name.")
        object.__setattr__(self, "source", _coerce_source(self.source))


@dataclass(frozen=True, slots=True)
class AnnotationSet:
    """All annotations of one image: boxes and image-level labels. Immutable; edits return copies.

    Args:
        boxes: The boxes, in reading order.
        labels: Image-level labels (e.g. "No finding" per radiologist).
        image_id: The image they belong to.
    """

    boxes: tuple[BoxAnnotation, ...] = ()
    labels: tuple[ImageLabel, ...] = ()
    image_id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "boxes", tuple(self.boxes))
        object.__setattr__(self, "labels", tuple(self.labels))

    def __len__(self) -> int:
        """Number of boxes (labels not counted; use :attr:`is_empty` for "nothing at all")."""
        return len(self.boxes)

    def __iter__(self) -> Iterator[BoxAnnotation]:
        """Iterate over the boxes."""
        return iter(self.boxes)

    @property
    def classes(self) -> tuple[str, ...]:
        """Sorted distinct class names of the boxes and the image-level labels."""
        return tuple(
            sorted({b.class_name for b in self.boxes} | {lab.class_name for lab in self.labels})
        )

    @property
    def annotators(self) -> tuple[str, ...]:
        """Sorted distinct annotators of the boxes and the image-level labels."""
        return tuple(
            sorted({b.annotator for b in self.boxes} | {lab.annotator for lab in self.labels})
        )

    @property
    def is_empty(self) -> bool:
        """True when there is neither a box nor a label."""
        return not self.boxes and not self.labels

    def filter(
        self,
        *,
        source: Source | str | None = None,
        class_name: str | None = None,
        annotator: str | None = None,
    ) -> AnnotationSet:
        """Return the subset (boxes and labels) matching every criterion given."""
        src = None if source is None else _coerce_source(source)

        def keep(item: BoxAnnotation | ImageLabel) -> bool:
            return (
                (src is None or item.source == src)
                and (class_name is None or item.class_name == class_name)
                and (annotator is None or item.annotator == annotator)
            )

        return AnnotationSet(
            tuple(b for b in self.boxes if keep(b)),
            tuple(lab for lab in self.labels if keep(lab)),
            self.image_id,
        )

    def by_class(self) -> dict[str, AnnotationSet]:
        """Group by class name (sorted keys)."""
        return {name: self.filter(class_name=name) for name in self.classes}

    def by_annotator(self) -> dict[str, AnnotationSet]:
        """Group by annotator (sorted keys)."""
        return {name: self.filter(annotator=name) for name in self.annotators}

    def get(self, box_id: str) -> BoxAnnotation:
        """Return the box with this id.

        Raises:
            AnnotationError: No box has that id.
        """
        for box in self.boxes:
            if box.id == box_id:
                return box
        raise AnnotationError(f"No box with id {box_id!r} in this image's annotations.")

    def added(self, *boxes: BoxAnnotation) -> AnnotationSet:
        """Return a copy with ``boxes`` appended."""
        return replace(self, boxes=self.boxes + tuple(boxes))

    def removed(self, box_id: str) -> AnnotationSet:
        """Return a copy without the box of that id (raises if absent)."""
        self.get(box_id)
        return replace(self, boxes=tuple(b for b in self.boxes if b.id != box_id))

    def replaced(self, box: BoxAnnotation) -> AnnotationSet:
        """Return a copy in which the box with ``box.id`` is replaced by ``box``."""
        self.get(box.id)
        return replace(self, boxes=tuple(box if b.id == box.id else b for b in self.boxes))

    def with_labels(self, *labels: ImageLabel) -> AnnotationSet:
        """Return a copy with ``labels`` appended."""
        return replace(self, labels=self.labels + tuple(labels))

    def merged(self, other: AnnotationSet) -> AnnotationSet:
        """Return the concatenation of two sets (this one's image id wins if set)."""
        return AnnotationSet(
            self.boxes + other.boxes, self.labels + other.labels, self.image_id or other.image_id
        )


class ImageAnnotations(Mapping[str, AnnotationSet]):
    """Read-only mapping image id -> :class:`AnnotationSet`, with a few helpers.

    Args:
        sets: The per-image sets; copied.
    """

    __slots__ = ("_sets",)

    def __init__(self, sets: Mapping[str, AnnotationSet] | None = None) -> None:
        self._sets: dict[str, AnnotationSet] = dict(sets or {})

    def __getitem__(self, image_id: str) -> AnnotationSet:
        return self._sets[image_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self._sets)

    def __len__(self) -> int:
        return len(self._sets)

    def __repr__(self) -> str:
        return f"ImageAnnotations({len(self)} images, {self.box_count} boxes)"

    @property
    def image_ids(self) -> tuple[str, ...]:
        """Image ids in insertion order."""
        return tuple(self._sets)

    @property
    def classes(self) -> tuple[str, ...]:
        """Sorted class names over all images (boxes and labels)."""
        return tuple(sorted({c for s in self._sets.values() for c in s.classes}))

    @property
    def box_count(self) -> int:
        """Total number of boxes."""
        return sum(len(s.boxes) for s in self._sets.values())

    def with_set(self, image_id: str, annotations: AnnotationSet) -> ImageAnnotations:
        """Return a copy in which ``image_id`` maps to ``annotations``."""
        new = dict(self._sets)
        new[image_id] = annotations
        return ImageAnnotations(new)

    def merged(self, other: Mapping[str, AnnotationSet]) -> ImageAnnotations:
        """Return a copy with ``other``'s sets concatenated onto this one's, image by image."""
        new = dict(self._sets)
        for image_id, other_set in other.items():
            new[image_id] = new[image_id].merged(other_set) if image_id in new else other_set
        return ImageAnnotations(new)

    def to_dict(self) -> dict[str, AnnotationSet]:
        """Return a plain ``dict`` copy."""
        return dict(self._sets)


class SetBuilder:
    """Accumulates boxes and labels per image while a file is read, keeping first-seen order."""

    def __init__(self) -> None:
        self._boxes: dict[str, list[BoxAnnotation]] = {}
        self._labels: dict[str, list[ImageLabel]] = {}

    def touch(self, image_id: str) -> None:
        """Register an image even if it ends up with no annotation."""
        self._boxes.setdefault(image_id, [])
        self._labels.setdefault(image_id, [])

    def add_box(self, box: BoxAnnotation) -> None:
        """Add a box to the set of ``box.image_id``."""
        self.touch(box.image_id)
        self._boxes[box.image_id].append(box)

    def add_label(self, image_id: str, label: ImageLabel) -> None:
        """Add an image-level label to the set of ``image_id``."""
        self.touch(image_id)
        self._labels[image_id].append(label)

    def build(self) -> dict[str, AnnotationSet]:
        """Return image id -> :class:`AnnotationSet` in first-seen order."""
        return {
            image_id: AnnotationSet(tuple(boxes), tuple(self._labels[image_id]), image_id)
            for image_id, boxes in self._boxes.items()
        }

"""Match annotation image ids to loaded images, reporting every mismatch."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePath

from engine.annotations.model import AnnotationSet

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".dcm",
    ".dicom",
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
)
"""Extensions stripped (case-insensitively) before comparing ids."""


def image_key(name: str | os.PathLike[str]) -> str:
    """Return the comparison key of an image id or path: base name without an image extension.

    ``"dir/00000003_000.png"`` and ``"00000003_000"`` both give ``"00000003_000"``; a DICOM
    UID such as ``"1.2.276.0.7230010.3.1.4.8323329.5597"`` is kept whole because only known
    image extensions are stripped.
    """
    base = PurePath(os.fspath(name).replace("\\", "/")).name
    lower = base.lower()
    for ext in IMAGE_EXTENSIONS:
        if lower.endswith(ext) and len(base) > len(ext):
            return base[: -len(ext)]
    return base


@dataclass(frozen=True)
class MatchReport:
    """How annotation image ids map onto loaded images.

    Attributes:
        matched: Annotation image id -> loaded image id.
        unmatched_annotations: Annotation image ids matching no loaded image (their annotations
            are not shown anywhere; report them to the user).
        images_without_annotations: Loaded images no annotation refers to.
        ambiguous: Annotation image id -> the several loaded images it could mean (not matched).
    """

    matched: dict[str, str] = field(default_factory=dict)
    unmatched_annotations: tuple[str, ...] = ()
    images_without_annotations: tuple[str, ...] = ()
    ambiguous: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """True when every annotation image id matched exactly one image."""
        return not self.unmatched_annotations and not self.ambiguous

    def summary(self) -> str:
        """One line for a status bar or log."""
        parts = [f"{len(self.matched)} annotated images matched"]
        if self.unmatched_annotations:
            parts.append(f"{len(self.unmatched_annotations)} annotation ids match no loaded image")
        if self.ambiguous:
            parts.append(f"{len(self.ambiguous)} annotation ids match several images")
        if self.images_without_annotations:
            parts.append(f"{len(self.images_without_annotations)} images have no annotations")
        return "; ".join(parts) + "."


def match_to_images(
    annotations_by_id: Mapping[str, AnnotationSet] | Iterable[str],
    image_ids: Iterable[str | os.PathLike[str]],
) -> MatchReport:
    """Match annotation image ids to loaded images.

    An exact string match wins; otherwise ids are compared by :func:`image_key` (base name
    without image extension), so ``"00000003_000.png"`` matches ``"/data/00000003_000.png"``
    and the VinBigData id ``"abc"`` matches ``"abc.dicom"``. Nothing is dropped silently:
    every annotation id ends up in ``matched``, ``unmatched_annotations`` or ``ambiguous``.

    Args:
        annotations_by_id: Mapping from annotation image id (or just the ids).
        image_ids: Loaded images: ids, file names or paths (returned as ``str``).

    Returns:
        A :class:`MatchReport`.
    """
    images = [os.fspath(i) for i in image_ids]
    exact = set(images)
    by_key: dict[str, list[str]] = {}
    for image in images:
        by_key.setdefault(image_key(image), []).append(image)

    matched: dict[str, str] = {}
    unmatched: list[str] = []
    ambiguous: dict[str, tuple[str, ...]] = {}
    for ann_id in annotations_by_id:
        if ann_id in exact:
            matched[ann_id] = ann_id
            continue
        candidates = by_key.get(image_key(ann_id), [])
        if len(candidates) == 1:
            matched[ann_id] = candidates[0]
        elif candidates:
            ambiguous[ann_id] = tuple(candidates)
        else:
            unmatched.append(ann_id)
    used = set(matched.values())
    without = tuple(i for i in images if i not in used)
    return MatchReport(matched, tuple(unmatched), without, ambiguous)

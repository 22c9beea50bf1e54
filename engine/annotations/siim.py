"""SIIM-ACR pneumothorax ``train-rle.csv``: relative, column-major RLE masks.

Header ``ImageId, EncodedPixels`` (the real file has a space before ``EncodedPixels``); columns
are read by position. ``EncodedPixels`` is ``-1`` (possibly `` -1``) for an image without
pneumothorax, otherwise pairs ``offset length`` where each offset counts the background pixels
since the end of the previous run (the first from pixel 0) and pixels are numbered
**column-major** (down the first column, then the next: ``mask.ravel(order="F")``). An image
may have several rows, one per instance; its mask is their union.

Boxes: one :class:`~engine.annotations.model.BoxAnnotation` per 8-connected component of each
row's mask (``skimage.measure.label(connectivity=2)``), class ``"Pneumothorax"``, annotator
``"SIIM-ACR"``; an image with only ``-1`` rows gets the image-level label ``"No finding"``.
The masks themselves stay available through :func:`read_siim_masks` / :func:`decode_siim_rle`.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from engine.annotations._csvutil import FIX_ROW, open_text, parse_error, read_header
from engine.annotations.model import (
    NO_FINDING,
    AnnotationSet,
    BoxAnnotation,
    ImageLabel,
    SetBuilder,
    Source,
    stable_id,
)
from engine.errors import AnnotationParseError, ShapeError

FORMAT_NAME = "siim"
CLASS_NAME = "Pneumothorax"
ANNOTATOR = "SIIM-ACR"
DEFAULT_SIZE = 1024
NO_FINDING_RLE = "-1"


def _parse_rle(rle: str, height: int, width: int) -> np.ndarray:
    """Return absolute ``(start, end)`` pairs, shape (n, 2), validated against the image size."""
    text = rle.strip()
    if text in ("", NO_FINDING_RLE):
        return np.zeros((0, 2), dtype=np.int64)
    try:
        values = np.array([int(t) for t in text.split()], dtype=np.int64)
    except ValueError:
        raise AnnotationParseError(
            f"RLE {text[:40]!r} holds a token that is not an integer.", fix=FIX_ROW
        ) from None
    if values.size % 2:
        raise AnnotationParseError(
            f"RLE has {values.size} numbers; offsets and lengths must come in pairs.", fix=FIX_ROW
        )
    if (values < 0).any():
        raise AnnotationParseError("RLE holds a negative offset or length.", fix=FIX_ROW)
    offsets, lengths = values[0::2], values[1::2]
    ends = np.cumsum(offsets + lengths)
    starts = ends - lengths
    total = height * width
    if ends.size and ends[-1] > total:
        raise AnnotationParseError(
            f"RLE runs up to pixel {int(ends[-1])}, beyond the {height}x{width} image "
            f"({total} pixels).",
            fix="Check the image size passed to the reader (SIIM images are 1024x1024).",
        )
    return np.stack([starts, ends], axis=1)


def decode_siim_rle(rle: str, height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE) -> np.ndarray:
    """Decode one SIIM relative column-major RLE string into a boolean mask.

    Args:
        rle: ``"-1"`` / empty for an empty mask, else ``"offset length offset length ..."``.
        height: Image rows.
        width: Image columns.

    Returns:
        Boolean array of shape ``(height, width)``.

    Raises:
        AnnotationParseError: Malformed RLE or runs beyond the image.
    """
    runs = _parse_rle(rle, height, width)
    total = height * width
    edges = np.zeros(total + 1, dtype=np.int32)
    np.add.at(edges, runs[:, 0], 1)
    np.add.at(edges, runs[:, 1], -1)
    flat = np.cumsum(edges[:total]) > 0
    return flat.reshape((height, width), order="F")


def encode_siim_rle(mask: np.ndarray) -> str:
    """Encode a 2-D mask as SIIM relative column-major RLE (``"-1"`` when empty).

    Args:
        mask: 2-D array; non-zero pixels are foreground.

    Returns:
        The RLE string; ``decode_siim_rle(encode_siim_rle(m), *m.shape)`` equals ``m != 0``.

    Raises:
        ShapeError: ``mask`` is not 2-D.
    """
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ShapeError("mask", array.shape, "(height, width)")
    flat = np.concatenate([[False], array.ravel(order="F") != 0, [False]])
    change = np.flatnonzero(flat[1:] != flat[:-1])
    if change.size == 0:
        return NO_FINDING_RLE
    starts, ends = change[0::2], change[1::2]
    offsets = starts - np.concatenate([[0], ends[:-1]])
    pairs = np.stack([offsets, ends - starts], axis=1).ravel()
    return " ".join(str(int(v)) for v in pairs)


def sniff_siim(path: str | os.PathLike[str]) -> bool:
    """Return True if the header is ``ImageId, EncodedPixels`` (spaces ignored)."""
    header = read_header(path)
    return header is not None and [h for h in header if h] == ["ImageId", "EncodedPixels"]


def read_siim_rle(
    path: str | os.PathLike[str], height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE
) -> dict[str, tuple[tuple[int, str], ...]]:
    """Read and validate ``train-rle.csv`` without decoding masks.

    Args:
        path: The CSV file.
        height: Image rows, for bounds checking.
        width: Image columns.

    Returns:
        ImageId -> ``((line, rle), ...)`` for its positive rows; ``()`` for images with only
        ``-1`` rows.

    Raises:
        AnnotationError: The file cannot be opened.
        AnnotationParseError: A malformed row (message names the line and field).
    """
    rows: dict[str, list[tuple[int, str]]] = {}
    with open_text(path) as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for row in reader:
            line = reader.line_num
            fields = [f.strip() for f in row]
            if not any(fields):
                continue
            if len(fields) < 2:
                raise parse_error(path, line, "EncodedPixels", "missing.")
            image_id, rle = fields[0], fields[1]
            if not image_id:
                raise parse_error(path, line, "ImageId", "is empty.")
            entries = rows.setdefault(image_id, [])
            if rle == NO_FINDING_RLE:
                continue
            try:
                _parse_rle(rle, height, width)
            except AnnotationParseError as exc:
                raise parse_error(path, line, "EncodedPixels", exc.problem) from None
            entries.append((line, rle))
    return {k: tuple(v) for k, v in rows.items()}


def read_siim_masks(
    path: str | os.PathLike[str],
    height: int = DEFAULT_SIZE,
    width: int = DEFAULT_SIZE,
    image_ids: Iterable[str] | None = None,
) -> dict[str, np.ndarray]:
    """Read union masks per image (all-False for ``-1`` images).

    A full 1024x1024 mask takes 1 MiB; pass ``image_ids`` to decode only the images you show.

    Args:
        path: The CSV file.
        height: Image rows.
        width: Image columns.
        image_ids: Only these images (ids absent from the file are skipped).

    Returns:
        ImageId -> boolean mask of shape ``(height, width)``.
    """
    rles = read_siim_rle(path, height, width)
    wanted = rles.keys() if image_ids is None else [i for i in image_ids if i in rles]
    masks: dict[str, np.ndarray] = {}
    for image_id in wanted:
        mask = np.zeros((height, width), dtype=bool)
        for _line, rle in rles[image_id]:
            mask |= decode_siim_rle(rle, height, width)
        masks[image_id] = mask
    return masks


def mask_to_boxes(mask: np.ndarray) -> list[tuple[float, float, float, float]]:
    """Return one pixel-edge box ``(x0, y0, x1, y1)`` per 8-connected component of ``mask``."""
    from skimage.measure import label, regionprops  # here: scikit-image and SciPy cost the viewer's start ~0.3 s

    labelled = label(np.asarray(mask) != 0, connectivity=2)
    boxes = []
    for region in regionprops(labelled):
        r0, c0, r1, c1 = region.bbox
        boxes.append((float(c0), float(r0), float(c1), float(r1)))
    return boxes


def read_siim(
    path: str | os.PathLike[str], height: int = DEFAULT_SIZE, width: int = DEFAULT_SIZE
) -> dict[str, AnnotationSet]:
    """Read ``train-rle.csv`` as boxes (see the module docstring for the rules).

    Args:
        path: The CSV file.
        height: Image rows.
        width: Image columns.

    Returns:
        ImageId -> :class:`AnnotationSet`.
    """
    name = Path(path).name
    builder = SetBuilder()
    for image_id, rows in read_siim_rle(path, height, width).items():
        if not rows:
            builder.add_label(image_id, ImageLabel(NO_FINDING, ANNOTATOR, Source.GROUND_TRUTH))
            continue
        for line, rle in rows:
            for k, (x0, y0, x1, y1) in enumerate(
                mask_to_boxes(decode_siim_rle(rle, height, width))
            ):
                builder.add_box(
                    BoxAnnotation(
                        CLASS_NAME,
                        x0,
                        y0,
                        x1,
                        y1,
                        annotator=ANNOTATOR,
                        source=Source.GROUND_TRUTH,
                        image_id=image_id,
                        id=stable_id(FORMAT_NAME, name, line, k),
                    )
                )
    return builder.build()

"""Boxes: the :class:`Box` value type, conversion of box-likes to arrays, and rasterising.

See the package docstring of :mod:`engine.localise` for the coordinate convention.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from engine.errors import ShapeError
from engine.localise.errors import InvalidBoxError


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in continuous pixel-edge coordinates.

    Attributes:
        x0: Left edge (columns grow to the right).
        y0: Top edge (rows grow downwards).
        x1: Right edge, ``x1 >= x0``.
        y1: Bottom edge, ``y1 >= y0``.

    Raises:
        InvalidBoxError: If a coordinate is not finite or an edge lies before its opposite edge.
    """

    x0: float
    y0: float
    x1: float
    y1: float

    def __post_init__(self) -> None:
        try:
            coords = tuple(float(c) for c in (self.x0, self.y0, self.x1, self.y1))
        except (TypeError, ValueError):
            raise InvalidBoxError(
                f"Box {(self.x0, self.y0, self.x1, self.y1)!r} has a non-numeric coordinate.",
                fix="Give four numbers (x0, y0, x1, y1).",
            ) from None
        for name, value in zip(("x0", "y0", "x1", "y1"), coords, strict=True):
            object.__setattr__(self, name, value)
        if not all(math.isfinite(c) for c in coords):
            raise InvalidBoxError(f"Box {coords} has a non-finite coordinate.", fix="Give four finite numbers.")
        if coords[2] < coords[0] or coords[3] < coords[1]:
            raise InvalidBoxError(
                f"Box {coords} has x1 < x0 or y1 < y0.",
                fix="Order the coordinates as (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0.",
            )

    @property
    def width(self) -> float:
        """Width ``x1 - x0`` in pixels."""
        return float(self.x1 - self.x0)

    @property
    def height(self) -> float:
        """Height ``y1 - y0`` in pixels."""
        return float(self.y1 - self.y0)

    @property
    def area(self) -> float:
        """Area ``width * height`` in square pixels."""
        return self.width * self.height

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Return ``(x0, y0, x1, y1)`` as plain floats."""
        return (float(self.x0), float(self.y0), float(self.x1), float(self.y1))

    @classmethod
    def from_pixels(cls, row0: int, col0: int, row1: int, col1: int) -> Box:
        """Box covering the pixels of rows ``row0..row1`` and columns ``col0..col1`` inclusive."""
        return cls(float(col0), float(row0), float(col1 + 1), float(row1 + 1))


BoxLike: TypeAlias = Box | Sequence[float] | npt.NDArray[np.floating] | npt.NDArray[np.integer]
"""One box: a :class:`Box`, or any sequence/array of four numbers ``(x0, y0, x1, y1)``."""

BoxesLike: TypeAlias = Box | npt.NDArray[Any] | Sequence[BoxLike] | Sequence[float]
"""Several boxes: an ``(N, 4)`` array, a sequence of :data:`BoxLike` (possibly empty), or one box."""


def _check(arr: npt.NDArray[np.float64], what: str) -> npt.NDArray[np.float64]:
    if not np.isfinite(arr).all():
        raise InvalidBoxError(f"{what} holds a non-finite coordinate.", fix="Give finite numbers.")
    if arr.size and (np.any(arr[:, 2] < arr[:, 0]) or np.any(arr[:, 3] < arr[:, 1])):
        bad = arr[(arr[:, 2] < arr[:, 0]) | (arr[:, 3] < arr[:, 1])][0]
        raise InvalidBoxError(
            f"{what} holds the box {tuple(bad.tolist())} with x1 < x0 or y1 < y0.",
            fix="Order the coordinates as (x0, y0, x1, y1) with x1 >= x0 and y1 >= y0.",
        )
    return arr


def as_boxes(boxes: BoxesLike, what: str = "boxes") -> npt.NDArray[np.float64]:
    """Convert box-likes to a validated ``(N, 4)`` float64 array.

    Args:
        boxes: An ``(N, 4)`` array, one box (a :class:`Box` or four numbers), or an iterable of
            boxes; an empty sequence gives a ``(0, 4)`` array.
        what: Name used in error messages.

    Returns:
        A new ``(N, 4)`` float64 array of ``(x0, y0, x1, y1)`` rows.

    Raises:
        ShapeError: If the input is not one box nor ``(N, 4)``.
        InvalidBoxError: If a coordinate is not finite or an edge lies before its opposite edge.
    """
    try:
        if isinstance(boxes, Box):
            arr = np.array([boxes.as_tuple()], dtype=np.float64)
        elif isinstance(boxes, np.ndarray):
            arr = np.array(boxes, dtype=np.float64)
        else:
            rows = [b.as_tuple() if isinstance(b, Box) else b for b in boxes]
            arr = np.array(rows, dtype=np.float64) if rows else np.zeros((0, 4), np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidBoxError(
            f"{what} cannot be read as boxes: {exc}.",
            fix="Give an (N, 4) array or a list of (x0, y0, x1, y1).",
        ) from None
    if arr.ndim == 1 and arr.shape == (4,):
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ShapeError(what, arr.shape, "(N, 4) boxes (x0, y0, x1, y1) or one box of 4 numbers")
    return _check(arr, what)


def as_box(box: BoxLike, what: str = "box") -> Box:
    """Convert one box-like to a :class:`Box`.

    Raises:
        ShapeError: If it is not exactly one box.
        InvalidBoxError: If the box is malformed.
    """
    if isinstance(box, Box):
        return box
    arr = as_boxes(np.asarray(box, dtype=np.float64), what)
    if arr.shape[0] != 1:
        raise ShapeError(what, arr.shape, "one box of 4 numbers")
    x0, y0, x1, y1 = arr[0].tolist()
    return Box(x0, y0, x1, y1)


def to_box_list(boxes: BoxesLike) -> list[Box]:
    """Convert box-likes to a list of :class:`Box`."""
    return [Box(*row) for row in as_boxes(boxes).tolist()]


def box_areas(boxes: BoxesLike) -> npt.NDArray[np.float64]:
    """Areas ``(x1 - x0) * (y1 - y0)`` of ``(N, 4)`` boxes, shape ``(N,)``."""
    arr = as_boxes(boxes)
    return (arr[:, 2] - arr[:, 0]) * (arr[:, 3] - arr[:, 1])


def dilate_boxes(boxes: BoxesLike, margin: float) -> npt.NDArray[np.float64]:
    """Grow every box by ``margin`` pixels on each side (``margin >= 0``)."""
    if not (math.isfinite(margin) and margin >= 0):
        raise InvalidBoxError(f"Dilation margin {margin} is not a finite number >= 0.")
    arr = as_boxes(boxes)
    return arr + np.array([-margin, -margin, margin, margin])


def boxes_to_mask(boxes: BoxesLike, shape: tuple[int, int]) -> npt.NDArray[np.bool_]:
    """Rasterise the union of boxes on an ``H x W`` pixel grid.

    Pixel ``(i, j)`` is inside a box when its centre ``(j + 0.5, i + 0.5)`` satisfies
    ``x0 <= j + 0.5 < x1`` and ``y0 <= i + 0.5 < y1`` (half-open, so an integer box
    ``(c0, r0, c1, r1)`` covers exactly ``(c1 - c0) * (r1 - r0)`` pixels). Parts outside the
    grid are clipped.

    Args:
        boxes: Box-likes, see :func:`as_boxes`.
        shape: ``(H, W)`` of the grid.

    Returns:
        A boolean ``(H, W)`` mask.
    """
    if len(shape) != 2 or min(shape) < 0:
        raise ShapeError("shape", tuple(shape), "(H, W) with H, W >= 0")
    h, w = int(shape[0]), int(shape[1])
    mask = np.zeros((h, w), dtype=bool)
    arr = as_boxes(boxes)
    # First/last+1 index whose centre lies in [lo, hi): ceil(lo - 0.5) .. ceil(hi - 0.5).
    starts = np.ceil(arr - 0.5)
    for x0, y0, x1, y1 in starts.tolist():
        c0, c1 = int(min(max(x0, 0), w)), int(min(max(x1, 0), w))
        r0, r1 = int(min(max(y0, 0), h)), int(min(max(y1, 0), h))
        if c1 > c0 and r1 > r0:
            mask[r0:r1, c0:c1] = True
    return mask

"""Distance measurement with its spacing source (SPEC §6): never switch units silently."""

from __future__ import annotations

import math
from dataclasses import dataclass

from engine.io import SpacingSource


@dataclass(frozen=True)
class Measurement:
    """A measured distance between two image points (pixel-edge coordinates)."""

    value: float
    unit: str  # "mm" or "px"
    source: str  # the spacing source, or "no spacing"

    def label(self) -> str:
        """E.g. ``"42.3 mm (PixelSpacing)"`` or ``"120.0 px (no spacing)"``."""
        return f"{self.value:.1f} {self.unit} ({self.source})"


def measure(
    p0: tuple[float, float],
    p1: tuple[float, float],
    spacing: tuple[float, float] | None,
    source: SpacingSource | str = SpacingSource.NONE,
) -> Measurement:
    """Distance from ``p0`` to ``p1`` (``(x, y)`` image pixels).

    Args:
        p0: Start point, x right and y down.
        p1: End point.
        spacing: ``(row, column)`` mm per pixel (DICOM order), or None.
        source: Where the spacing came from.
    """
    dx, dy = p1[0] - p0[0], p1[1] - p0[1]
    if spacing is None or str(source) == str(SpacingSource.NONE):
        return Measurement(math.hypot(dx, dy), "px", "no spacing")
    row_mm, col_mm = spacing
    return Measurement(math.hypot(dx * col_mm, dy * row_mm), "mm", str(source))

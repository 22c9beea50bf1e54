"""Pure functions behind the canvas: fast windowing, window/level dragging, orientation.

Windowing fast path: the modality values (``StudyImage.raw``, float32) are stored once as
``uint16`` grid indices, ``raw = offset + index * step`` (``step == 1`` for integer data whose
range fits 16 bits, so the mapping is exact). pyqtgraph then windows integer data through one
lookup table per change instead of recomputing float arrays:

* LINEAR and LINEAR_EXACT windows are plain linear levels (DICOM PS3.3 C.11.2.1.2: LINEAR maps
  ``c - 0.5 - (w - 1) / 2 .. c - 0.5 + (w - 1) / 2`` to black..white); inversion is a reversed
  256-entry LUT.
* SIGMOID windows and VOI LUTs are a full table: :func:`window_table` evaluates the engine's own
  :meth:`engine.io.Window.apply` on every grid value, so the screen matches the engine exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.io import Window

MAX_INDEX = 65535


@dataclass(frozen=True)
class Quantised:
    """``raw`` as uint16 grid indices: ``raw ≈ offset + index * step``."""

    index: np.ndarray
    offset: float
    step: float
    n: int  # number of grid values used (index.max() + 1)

    @property
    def grid(self) -> np.ndarray:
        """The modality value of every grid index (float32, cached)."""
        cached = self.__dict__.get("_grid")
        if cached is None:
            cached = (self.offset + np.arange(self.n, dtype=np.float64) * self.step).astype(np.float32)
            object.__setattr__(self, "_grid", cached)
        return cached

    def to_index(self, value: float) -> float:
        """A modality value in (fractional) index units."""
        return (value - self.offset) / self.step


def quantise(raw: np.ndarray) -> Quantised:
    """Store grayscale modality values as uint16 indices (exact for 16-bit integer data)."""
    finite = np.isfinite(raw)
    values = raw[finite] if not finite.all() else raw
    lo = float(values.min()) if values.size else 0.0
    hi = float(values.max()) if values.size else 0.0
    integral = hi - lo <= MAX_INDEX and bool(np.all(np.mod(values, 1.0) == 0))
    step = 1.0 if integral or hi == lo else (hi - lo) / MAX_INDEX
    index = np.where(finite, (raw - lo) / step, 0.0)
    index = np.rint(np.clip(index, 0, MAX_INDEX)).astype(np.uint16)
    return Quantised(index, lo, step, int(index.max()) + 1 if index.size else 1)


def linear_levels(window: Window, q: Quantised) -> tuple[float, float] | None:
    """pyqtgraph levels (in index units) equal to a LINEAR / LINEAR_EXACT window; None otherwise."""
    if window.function == "LINEAR":
        c, w = window.center - 0.5, max(window.width, 1.0) - 1.0
    elif window.function == "LINEAR_EXACT":
        c, w = window.center, max(window.width, 1e-6)
    else:
        return None
    lo, hi = q.to_index(c - w / 2.0), q.to_index(c + w / 2.0)
    if hi <= lo:  # width 1 (LINEAR): a threshold; keep pyqtgraph's levels valid
        hi = lo + 1e-3
    return lo, hi


def window_table(window: Window, q: Quantised, invert: bool) -> np.ndarray:
    """uint8 display value of every grid index (any VOI function, including VOI LUTs)."""
    display = window.apply(q.grid)
    if invert:
        display = 1.0 - display
    return np.rint(np.clip(display, 0.0, 1.0) * 255.0).astype(np.uint8)


def invert_lut(invert: bool) -> np.ndarray | None:
    """The 256-entry grayscale LUT (reversed when inverted); None for the identity."""
    return np.arange(255, -1, -1, dtype=np.uint8) if invert else None


def drag_window(window: Window, dx: float, dy: float, value_range: tuple[float, float]) -> Window:
    """Window after a mouse drag of ``(dx, dy)`` screen pixels.

    Right = wider (less contrast), down = higher center (darker image), as in most PACS. One
    screen pixel moves the width by 0.5 % and the center by 0.25 % of the data range (at least 1
    unit for width). The function becomes LINEAR unless it was LINEAR_EXACT or SIGMOID.
    """
    span = max(value_range[1] - value_range[0], 1.0)
    width = max(1.0, window.width + dx * span * 0.005)
    center = window.center + dy * span * 0.0025
    function = window.function if window.function in ("LINEAR_EXACT", "SIGMOID") else "LINEAR"
    return Window(center, width, function, "user", "user")


# --- orientation ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Orientation:
    """Rotation in 90° clockwise steps, then optional flips, of an image on screen."""

    rotation: int = 0  # 0..3
    flip_h: bool = False
    flip_v: bool = False

    def rotated(self, steps: int) -> Orientation:
        return Orientation((self.rotation + steps) % 4, self.flip_h, self.flip_v)

    def flipped(self, horizontal: bool) -> Orientation:
        if horizontal:
            return Orientation(self.rotation, not self.flip_h, self.flip_v)
        return Orientation(self.rotation, self.flip_h, not self.flip_v)


def orientation_matrix(o: Orientation, width: float, height: float) -> np.ndarray:
    """3x3 affine matrix mapping image ``(x, y, 1)`` to view coordinates.

    The result keeps the oriented image in the positive quadrant (its top-left corner at 0, 0).
    """
    m = np.eye(3)
    w, h = width, height
    for _ in range(o.rotation % 4):  # clockwise 90° on screen (y down): (x, y) -> (h - y, x)
        m = np.array([[0.0, -1.0, h], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]) @ m
        w, h = h, w
    if o.flip_h:
        m = np.array([[-1.0, 0.0, w], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]) @ m
    if o.flip_v:
        m = np.array([[1.0, 0.0, 0.0], [0.0, -1.0, h], [0.0, 0.0, 1.0]]) @ m
    return m

"""Pure array functions turning a class map into the RGBA layers drawn over the image.

No Qt here: the panel calls these and hands the arrays to ``host.canvas.set_image_overlay``.

Display modes (SPEC §8, outline + score is the calm default):

* ``outline``: iso-lines of the map at :data:`OUTLINE_LEVELS` of its colour scale, each drawn in
  the colour map's colour for that level, about 1/256 of the image wide, at twice the opacity
  (at most opaque) so that thin lines stay readable;
* ``heatmap``: every pixel tinted by the colour map with constant opacity (the same rule as
  ``engine.render.blend_heatmap``, so the app, the CLI and the report look alike);
* ``both``: the heatmap with the outline on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy import ndimage

from engine.render import colormap_lut

DisplayMode = Literal["outline", "heatmap", "both"]
DISPLAY_MODES: tuple[DisplayMode, ...] = ("outline", "heatmap", "both")
OUTLINE_LEVELS: tuple[float, ...] = (0.25, 0.5, 0.75)
COLORMAPS: tuple[str, ...] = ("jet", "turbo", "inferno", "viridis", "magma", "hot", "gray")
NORMALISATION_LABELS = {
    "per_map": "per-map min-max",
    "shared": "one scale for all classes",
    "raw": "raw values",
}


@dataclass(frozen=True)
class ColourScale:
    """What the colours of one class's map mean.

    Attributes:
        normalisation: The result's normalisation mode.
        low: The raw map value drawn with the colour map's first colour.
        high: The raw map value drawn with its last colour.
    """

    normalisation: str
    low: float
    high: float

    def describe(self) -> str:
        """One line for the legend, e.g. ``per-map min-max: colours span raw 0 … 1.93``."""
        label = NORMALISATION_LABELS.get(self.normalisation, self.normalisation)
        return f"{label}: colours span raw {self.low:.3g} … {self.high:.3g}"


def display_map(result: Any, class_name: str) -> tuple[np.ndarray, ColourScale]:
    """The class's map in image pixels scaled to [0, 1] for colouring, and what that scale is.

    For ``per_map`` and ``shared`` the result's own scale is used (``result.scale``); for
    ``raw`` the map's value range is stretched over the colours and the legend says so.
    """
    heat = np.asarray(result.map(class_name, "image"), dtype=np.float32)
    mode = result.normalisation
    if mode == "raw":
        low, high = result.value_ranges[class_name]
        span = high - low
        heat = (heat - low) / span if span > 0 else np.zeros_like(heat)
    else:
        low, high = result.scale(class_name)
    return np.clip(heat, 0.0, 1.0), ColourScale(mode, float(low), float(high))


def lut_rgba(name: str) -> np.ndarray:
    """A 256 x 4 uint8 colour table (alpha 255) from a matplotlib colour map."""
    lut = colormap_lut(name)
    return np.concatenate([lut, np.full((256, 1), 255, np.uint8)], axis=1)


def lut_index(values: np.ndarray) -> np.ndarray:
    """Colour-table index of values in [0, 1]: ``floor(v * 255)``, as ``engine.render`` does, so the
    app, the CLI's PNGs and the report colour a value identically."""
    return (np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)


def heatmap_rgba(heat: np.ndarray, cmap: str = "jet", opacity: float = 0.45) -> np.ndarray:
    """``H x W x 4`` uint8: every pixel coloured by ``heat`` in [0, 1], alpha = opacity."""
    h = np.clip(np.nan_to_num(np.asarray(heat, np.float32), nan=0.0), 0.0, 1.0)
    rgba = lut_rgba(cmap)[lut_index(h)]
    rgba[..., 3] = round(np.clip(opacity, 0.0, 1.0) * 255)
    return rgba


def outline_width(shape: tuple[int, ...]) -> int:
    """Line width in pixels: about 1/256 of the shorter side, at least 1."""
    return max(1, round(min(shape[:2]) / 256))


def level_outline(heat: np.ndarray, level: float, width: int = 1) -> np.ndarray:
    """Boolean mask of the iso-line ``heat == level``: the inner border of ``heat >= level``.

    The border is the region's pixels that touch a pixel outside it (4-neighbourhood), thickened
    inwards to ``width`` pixels; pixels on the image edge count as border.
    """
    region = np.asarray(heat) >= level
    if not region.any():
        return np.zeros(region.shape, bool)
    inner = ndimage.binary_erosion(region, iterations=width, border_value=0)
    return region & ~inner


def outline_rgba(
    heat: np.ndarray, cmap: str = "jet", opacity: float = 1.0, levels: tuple[float, ...] = OUTLINE_LEVELS
) -> np.ndarray:
    """``H x W x 4`` uint8 iso-lines of ``heat`` at ``levels``, each in its colour-map colour."""
    h = np.asarray(heat, np.float32)
    out = np.zeros((*h.shape, 4), np.uint8)
    lut = lut_rgba(cmap)
    alpha = round(np.clip(opacity, 0.0, 1.0) * 255)
    width = outline_width(h.shape)
    for level in sorted(levels):  # higher levels are drawn last, on top
        line = level_outline(h, level, width)
        colour = lut[int(lut_index(np.asarray(level, np.float32)))].copy()
        colour[3] = alpha
        out[line] = colour
    return out


def overlay_rgba(heat: np.ndarray, mode: DisplayMode, cmap: str, opacity: float) -> np.ndarray:
    """The RGBA layer of one display mode (see the module docstring)."""
    if mode not in DISPLAY_MODES:
        raise ValueError(f"display mode must be one of {DISPLAY_MODES}, not {mode!r}")
    if mode == "heatmap":
        return heatmap_rgba(heat, cmap, opacity)
    lines = outline_rgba(heat, cmap, min(1.0, 2.0 * opacity))  # thin lines stay readable at low opacity
    if mode == "outline":
        return lines
    out = heatmap_rgba(heat, cmap, opacity)
    drawn = lines[..., 3] > 0
    out[drawn] = lines[drawn]
    return out

"""A class map as the overlay shows it: scaled to [0, 1] with its colour scale (:func:`display_map`).

No Qt here. The RGBA layers themselves come from the engine's one Qt-free renderer
(:func:`engine.render.overlay_rgba` and its parts, re-exported here), the same the CLI's overlays
and the report use. Display modes (SPEC §8, outline + score is the calm default):

* ``outline``: iso-lines of the map at :data:`OUTLINE_LEVELS` of its colour scale, each drawn in
  the colour map's colour for that level, about 1/256 of the image wide, at twice the opacity
  (at most opaque) so that thin lines stay readable;
* ``heatmap``: every pixel tinted by the colour map with constant opacity (the same rule as
  ``engine.render.blend_heatmap``, so the app, the CLI and the report look alike);
* ``both``: the heatmap with the outline on top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.explainers import ExplanationResult
from engine.render import (
    DISPLAY_MODES,
    OUTLINE_LEVELS,
    DisplayMode,
    heat_palette,
    heatmap_rgba,
    level_outline,
    lut_index,
    lut_rgba,
    outline_index,
    outline_palette,
    outline_rgba,
    outline_width,
    overlay_rgba,
)

__all__ = [
    "COLORMAPS", "DISPLAY_MODES", "OUTLINE_LEVELS", "ColourScale", "DisplayMode", "colour_scale", "display_map",
    "heat_palette", "heatmap_rgba", "level_outline", "lut_index", "lut_rgba", "outline_index", "outline_palette",
    "outline_rgba", "outline_width", "overlay_rgba",
]

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


def display_map(result: ExplanationResult, class_name: str) -> tuple[np.ndarray, ColourScale]:
    """The class's map in image pixels scaled to [0, 1] for colouring, and what that scale is.

    For ``per_map`` and ``shared`` the result's own scale is used (``result.scale``); for
    ``raw`` the map's value range is stretched over the colours and the legend says so.
    """
    heat = np.asarray(result.map(class_name, "image"), dtype=np.float32)
    scale = colour_scale(result, class_name)
    if scale.normalisation == "raw":
        span = scale.high - scale.low
        heat = (heat - scale.low) / span if span > 0 else np.zeros_like(heat)
    return np.clip(heat, 0.0, 1.0), scale


def colour_scale(result: ExplanationResult, class_name: str) -> ColourScale:
    """What the colours of ``class_name``'s map mean (see :func:`display_map`), without the map."""
    mode = result.normalisation
    low, high = result.value_ranges[class_name] if mode == "raw" else result.scale(class_name)
    return ColourScale(mode, float(low), float(high))

"""Qt-free rendering of explanation overlays to RGB arrays and PNG files (CLI, reports).

A heatmap is drawn with a fixed, labelled scale: the colour bar states the normalisation mode
and the raw value range, so two images are never compared on silently different scales.
"""

from __future__ import annotations

import functools
import struct
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.atomic import atomic_open

RESEARCH_USE = "Research use - not for diagnostic use"

#: Annotation colours by source; ground-truth annotators cycle through a qualitative palette.
MODEL_COLOUR = (255, 255, 0)
USER_COLOUR = (0, 255, 255)
ANNOTATOR_COLOURS = ((0, 220, 0), (255, 140, 0), (230, 60, 230), (80, 160, 255), (255, 80, 80))


#: matplotlib's ``jet`` as :func:`colormap_lut` computes it (256 RGB triples, hex): the default colour
#: map is drawn without importing matplotlib (~0.06 s of ``radlens explain``, issue #19); a test
#: compares it with matplotlib's.
_JET_HEX = (
    "00008000008400008900008d00009200009600009b00009f0000a40000a80000ad0000b20000b60000bb0000bf0000c4"
    "0000c80000cd0000d10000d60000da0000df0000e30000e80000ed0000f10000f60000fa0000ff0000ff0000ff0000ff"
    "0000ff0004ff0008ff000cff0010ff0014ff0018ff001cff0020ff0024ff0028ff002cff0030ff0034ff0038ff003cff"
    "0040ff0044ff0048ff004cff0050ff0054ff0058ff005cff0060ff0064ff0068ff006cff0070ff0074ff0078ff007cff"
    "0080ff0084ff0088ff008cff0090ff0094ff0098ff009cff00a0ff00a4ff00a8ff00acff00b0ff00b4ff00b8ff00bcff"
    "00c0ff00c4ff00c8ff00ccff00d0ff00d4ff00d8ff00dcfe00e0fb00e4f802e8f406ecf109f0ee0cf4eb0ff8e713fce4"
    "16ffe119ffde1cffdb1fffd723ffd426ffd129ffce2cffca30ffc733ffc436ffc139ffbe3cffba40ffb743ffb446ffb1"
    "49ffad4dffaa50ffa753ffa456ffa05aff9d5dff9a60ff9763ff9466ff906aff8d6dff8a70ff8773ff8377ff807aff7d"
    "7dff7a80ff7783ff7387ff708aff6d8dff6a90ff6694ff6397ff609aff5d9dff5aa0ff56a4ff53a7ff50aaff4dadff49"
    "b1ff46b4ff43b7ff40baff3cbeff39c1ff36c4ff33c7ff30caff2cceff29d1ff26d4ff23d7ff1fdbff1cdeff19e1ff16"
    "e4ff13e7ff0febff0ceeff09f1fc06f4f802f8f500fbf100feed00ffea00ffe600ffe200ffde00ffdb00ffd700ffd300"
    "ffd000ffcc00ffc800ffc400ffc100ffbd00ffb900ffb600ffb200ffae00ffab00ffa700ffa300ff9f00ff9c00ff9800"
    "ff9400ff9100ff8d00ff8900ff8600ff8200ff7e00ff7a00ff7700ff7300ff6f00ff6c00ff6800ff6400ff6000ff5d00"
    "ff5900ff5500ff5200ff4e00ff4a00ff4700ff4300ff3f00ff3b00ff3800ff3400ff3000ff2d00ff2900ff2500ff2200"
    "ff1e00ff1a00ff1600ff1300fa0f00f60b00f10800ed0400e80000e40000df0000da0000d60000d10000cd0000c80000"
    "c40000bf0000bb0000b60000b20000ad0000a80000a400009f00009b00009600009200008d0000890000840000800000"
)


def colormap_lut(name: str = "jet") -> np.ndarray:
    """A 256 x 3 uint8 lookup table from a matplotlib colour map."""
    if name == "jet":
        return np.frombuffer(bytes.fromhex(_JET_HEX), np.uint8).reshape(256, 3).copy()
    from matplotlib import colormaps

    cmap = colormaps[name]
    return (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def lut_rgba(name: str) -> np.ndarray:
    """A 256 x 4 uint8 colour table (alpha 255) from a matplotlib colour map."""
    lut = colormap_lut(name)
    return np.concatenate([lut, np.full((256, 1), 255, np.uint8)], axis=1)


def lut_index(values: np.ndarray) -> np.ndarray:
    """Colour-table index of values in [0, 1]: ``floor(v * 255)``.

    Every renderer (the app's overlay, the CLI's PNGs, the report) colours a value through this
    index, so one value has one colour everywhere.
    """
    return (np.clip(values, 0.0, 1.0) * 255).astype(np.uint8)


def to_rgb(display: np.ndarray) -> np.ndarray:
    """A [0, 1] grayscale or RGB float image as H x W x 3 uint8 (a uint8 image is taken as it is:
    convert a large image once with :func:`display_bytes` and draw every class's overlay from it)."""
    if np.asarray(display).dtype == np.uint8:
        u8 = np.asarray(display)
        return np.repeat(u8[..., None], 3, axis=2) if u8.ndim == 2 else u8
    d = np.asarray(display, dtype=np.float32)
    out = np.empty(d.shape, np.uint8)
    step = max(1, (1 << 20) // max(1, d[0].size))  # about a million values a block: small temporaries
    for r in range(0, d.shape[0], step):
        block = np.clip(d[r : r + step], 0.0, 1.0)
        block *= 255.0
        block += 0.5
        out[r : r + step] = block  # truncation toward zero, as astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2) if out.ndim == 2 else out


def display_bytes(image: Any) -> np.ndarray:
    """A ``StudyImage``'s display (or a [0, 1] array) as uint8 levels, 2-D for greyscale."""
    d = np.asarray(image.display if hasattr(image, "display") else image)
    return to_rgb(d[..., None])[..., 0] if d.ndim == 2 else to_rgb(d)


def blend_heatmap(
    display: np.ndarray, heat: np.ndarray, *, cmap: str = "jet", alpha: float = 0.45, floor: float | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend a [0, 1] heatmap over an image with constant opacity.

    With ``floor`` set, pixels whose heat is at or below it stay unblended (the image shows
    through); by default every pixel is tinted, so the colour bar reads everywhere and exact zeros
    of an upsampled coarse map do not draw hard-edged blocks. ``out``: an ``H x W x 3`` uint8
    array (or view) to write into instead of a new one.
    """
    d = np.asarray(display)
    heat = np.asarray(heat)
    # The per-pixel formula ran in float32 with a constant alpha and in float64 with a floor (its
    # alpha array came from np.where); each table repeats its arithmetic, byte for byte.
    table = _blend_table(cmap, float(alpha), floor is not None)
    flat = table.reshape(256 * 256, 3)
    base = display_bytes(d)
    if out is None:
        out = np.empty((*heat.shape, 3), np.uint8)
    elif out.shape != (*heat.shape, 3) or out.dtype != np.uint8:
        raise ValueError(f"out must be {(*heat.shape, 3)} uint8, not {out.shape} {out.dtype}")
    step = max(1, (1 << 20) // max(1, heat.shape[1]))  # about a million pixels a block: bounded temporaries
    precision = heat.dtype if heat.dtype.kind == "f" else np.dtype(np.float64)  # lut_index's arithmetic
    for r in range(0, heat.shape[0], step):
        b = base[r : r + step]
        # the colour index floor(clip(v, 0, 1) * 255) (lut_index), computed in place: clip(v * 255,
        # 0, 255) is the same float32 value for every v, NaN taken as 0 as before
        scaled = np.multiply(heat[r : r + step], 255, dtype=precision)
        np.fmax(scaled, 0.0, out=scaled)  # fmax takes the number over NaN: NaN -> 0, negatives -> 0
        np.fmin(scaled, 255.0, out=scaled)
        if b.ndim == 2:  # one grey level per pixel: one gather of the three channels, 16-bit keys
            key = b.astype(np.uint16)
            key <<= 8
            key |= scaled.astype(np.uint8)
            block = np.take(flat, key, axis=0)
        else:
            index = scaled.astype(np.uint8)
            block = np.stack([table[b[..., c], index, c] for c in range(3)], axis=-1)
        if floor is not None:  # alpha 0 below the floor: the image pixel itself
            below = np.clip(np.nan_to_num(heat[r : r + step], nan=0.0), 0.0, 1.0) <= floor
            block[below] = b[below][:, None] if b.ndim == 2 else b[below]
        out[r : r + step] = block
    return out


@functools.lru_cache(maxsize=16)
def _blend_table(cmap: str, alpha: float, double: bool = False) -> np.ndarray:
    """``T[g, i, c]``: grey/channel level ``g`` blended with colour-table entry ``i`` at ``alpha``.

    Computed with the float32 arithmetic of the per-pixel formula ``base * (1 - a) + colour * a +
    0.5`` truncated to uint8, so a lookup gives the same bytes as evaluating it for every pixel
    (a test compares them); at 3000 x 3000 the lookup is an order of magnitude faster. ``double``:
    float64 arithmetic (the formula's precision when a floor is set).
    """
    base = np.arange(256, dtype=np.float32)[:, None, None]
    colours = colormap_lut(cmap).astype(np.float32)[None, :, :]
    a = np.float64(alpha) if double else np.float32(alpha)
    return (base * (1 - a) + colours * a + 0.5).astype(np.uint8)


# --- RGBA overlay layers (drawn over the image by the app, composited by the CLI and report) -------
DisplayMode = Literal["outline", "heatmap", "both"]
DISPLAY_MODES: tuple[DisplayMode, ...] = ("outline", "heatmap", "both")
#: Iso-line levels of the outline mode, as fractions of the colour scale.
OUTLINE_LEVELS: tuple[float, ...] = (0.25, 0.5, 0.75)


def heatmap_rgba(map01: np.ndarray, colormap: str = "jet", opacity: float = 0.45) -> np.ndarray:
    """``H x W x 4`` uint8: every pixel coloured by ``map01`` in [0, 1], alpha = opacity.

    Alpha-composited over :func:`to_rgb` of the image this equals :func:`blend_heatmap` to within
    one grey level (the alpha is quantised to 1/255).
    """
    h = np.clip(np.nan_to_num(np.asarray(map01, np.float32), nan=0.0), 0.0, 1.0)
    rgba = lut_rgba(colormap)[lut_index(h)]
    rgba[..., 3] = round(float(np.clip(opacity, 0.0, 1.0)) * 255)
    return rgba


def outline_width(shape: tuple[int, ...]) -> int:
    """Outline width in pixels: about 1/256 of the shorter side, at least 1."""
    return max(1, round(min(shape[:2]) / 256))


def level_outline(map01: np.ndarray, level: float, width: int = 1) -> np.ndarray:
    """Boolean mask of the iso-line ``map01 == level``: the inner border of ``map01 >= level``.

    The border is the region's pixels that touch a pixel outside it (4-neighbourhood), thickened
    inwards to ``width`` pixels; pixels on the image edge count as border.
    """
    from scipy import ndimage

    region = np.asarray(map01) >= level
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    out = np.zeros(region.shape, bool)
    if rows.size == 0:
        return out
    # Erode only the region's bounding rectangle grown by one pixel: outside it the region is empty,
    # and the image edge (border_value=0) stays where it is, so the border is the same.
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, region.shape[0])
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, region.shape[1])
    crop = region[r0:r1, c0:c1]
    out[r0:r1, c0:c1] = crop & ~ndimage.binary_erosion(crop, iterations=width, border_value=0)
    return out


def outline_index(map01: np.ndarray, levels: Sequence[float] = OUTLINE_LEVELS) -> np.ndarray:
    """``H x W`` uint8: 0 off the iso-lines, ``i + 1`` on the line of the i-th lowest level.

    Higher levels win where lines meet (they are drawn last). ``outline_palette(...)[index]`` is
    :func:`outline_rgba`; the viewer keeps the index and recolours through the palette alone.
    """
    h = np.asarray(map01, np.float32)
    out = np.zeros(h.shape, np.uint8)
    width = outline_width(h.shape)
    for i, level in enumerate(sorted(levels)):
        out[level_outline(h, level, width)] = i + 1
    return out


def outline_palette(colormap: str, opacity: float, levels: Sequence[float] = OUTLINE_LEVELS) -> np.ndarray:
    """256 x 4 uint8 colours of :func:`outline_index`: entry 0 transparent, ``i + 1`` the colour
    map's colour of the i-th lowest level at ``opacity``."""
    lut = lut_rgba(colormap)
    palette = np.zeros((256, 4), np.uint8)
    for i, level in enumerate(sorted(levels)):
        palette[i + 1] = lut[int(lut_index(np.asarray(level, np.float32)))]
    palette[1 : len(levels) + 1, 3] = round(float(np.clip(opacity, 0.0, 1.0)) * 255)
    return palette


def heat_palette(colormap: str, opacity: float) -> np.ndarray:
    """256 x 4 uint8 colours of :func:`lut_index` values at ``opacity``: ``heat_palette(...)[lut_index(m)]``
    is :func:`heatmap_rgba`."""
    palette = lut_rgba(colormap).copy()
    palette[:, 3] = round(float(np.clip(opacity, 0.0, 1.0)) * 255)
    return palette


def outline_rgba(
    map01: np.ndarray, colormap: str = "jet", opacity: float = 1.0, levels: Sequence[float] = OUTLINE_LEVELS
) -> np.ndarray:
    """``H x W x 4`` uint8 iso-lines of ``map01`` at ``levels``, each in its colour-map colour.

    Lines are :func:`outline_width` wide; higher levels are drawn last, on top.
    """
    return outline_palette(colormap, opacity, levels)[outline_index(map01, levels)]


def overlay_rgba(map01: np.ndarray, mode: DisplayMode, colormap: str, opacity: float) -> np.ndarray:
    """The RGBA layer of one display mode.

    ``heatmap``: :func:`heatmap_rgba`; ``outline``: :func:`outline_rgba` at twice the opacity (at
    most opaque) so that thin lines stay readable; ``both``: the heatmap with the outline on top.

    Raises:
        ValueError: ``mode`` is not one of :data:`DISPLAY_MODES`.
    """
    if mode not in DISPLAY_MODES:
        raise ValueError(f"display mode must be one of {DISPLAY_MODES}, not {mode!r}")
    if mode == "heatmap":
        return heatmap_rgba(map01, colormap, opacity)
    lines = outline_rgba(map01, colormap, min(1.0, 2.0 * opacity))
    if mode == "outline":
        return lines
    out = heatmap_rgba(map01, colormap, opacity)
    drawn = lines[..., 3] > 0
    out[drawn] = lines[drawn]
    return out


def composite(rgb: np.ndarray, rgba: np.ndarray) -> np.ndarray:
    """An RGBA layer alpha-composited over an H x W x 3 uint8 image (uint8, rounded)."""
    a = rgba[..., 3:].astype(np.float32) / 255.0
    out = rgb.astype(np.float32) * (1.0 - a) + rgba[..., :3].astype(np.float32) * a
    return (out + 0.5).astype(np.uint8)


# --- label placement (pure geometry; the Qt canvas uses it too) --------------------------------
Box = tuple[float, float, float, float]
#: Corners a box label tries, in this order.
LABEL_CORNERS: tuple[str, ...] = ("above_left", "below_left", "above_right", "below_right")


def label_anchor(box: Box, corner: str) -> tuple[float, float]:
    """The point of ``box`` (x0, y0, x1, y1) a label at ``corner`` hangs from."""
    x0, y0, x1, y1 = box
    return (x1 if corner.endswith("right") else x0), (y1 if corner.startswith("below") else y0)


def label_origin(box: Box, size: tuple[float, float], corner: str, gap: float = 0.0) -> tuple[float, float]:
    """Top-left of a ``size`` = (w, h) label at ``corner`` of ``box``, outside the box by ``gap``.

    Left labels start at the box's left edge, right labels end at its right edge; labels above
    end ``gap`` above the top edge, labels below start ``gap`` below the bottom edge.
    """
    if corner not in LABEL_CORNERS:
        raise ValueError(f"label corner must be one of {LABEL_CORNERS}, not {corner!r}")
    w, h = size
    ax, ay = label_anchor(box, corner)
    x = ax - w if corner.endswith("right") else ax
    y = ay + gap if corner.startswith("below") else ay - h - gap
    return x, y


def _overlaps(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def place_labels(
    boxes: Sequence[tuple[float, float, float, float]],
    sizes: Sequence[tuple[float, float]],
    bounds: tuple[float, float],
    *,
    gap: float = 0.0,
) -> list[tuple[float, float]]:
    """Top-left corners for the labels of ``boxes`` so that no two labels overlap.

    Labels are placed in the order given. Each tries the corners of its box in the order of
    :data:`LABEL_CORNERS` (:func:`label_origin`) and takes the first that lies inside ``bounds`` and
    overlaps no label placed before it; failing that, the first such corner after moving it inside
    ``bounds``; failing that, the first corner moved inside ``bounds`` and then down (or, at the
    bottom, up) by whole label heights to the first free place; if there is none, it overlaps.

    Args:
        boxes: (x0, y0, x1, y1) of each box.
        sizes: (width, height) of each label, in the units of ``boxes``.
        bounds: (width, height) of the area labels must stay inside; its top-left is (0, 0).
        gap: Space between a label and the box edge it sits above or below.

    Returns:
        (x, y) of each label's top-left corner, one per box.

    Raises:
        ValueError: ``boxes`` and ``sizes`` differ in length, or a size is negative.
    """
    if len(boxes) != len(sizes):
        raise ValueError(f"place_labels got {len(boxes)} boxes but {len(sizes)} label sizes")
    width, height = float(bounds[0]), float(bounds[1])
    placed: list[Box] = []
    out: list[tuple[float, float]] = []
    for box, (w, h) in zip(boxes, sizes, strict=True):
        if w < 0 or h < 0:
            raise ValueError(f"label size must not be negative, got {(w, h)}")
        box = (float(box[0]), float(box[1]), float(box[2]), float(box[3]))

        def clamp(p: tuple[float, float], w: float = w, h: float = h) -> tuple[float, float]:
            return min(max(0.0, p[0]), max(0.0, width - w)), min(max(0.0, p[1]), max(0.0, height - h))

        def free(p: tuple[float, float], w: float = w, h: float = h) -> bool:
            rect = (p[0], p[1], p[0] + w, p[1] + h)
            return not any(_overlaps(rect, other) for other in placed)

        raw = [label_origin(box, (w, h), c, gap) for c in LABEL_CORNERS]
        inside = [p for p in raw if clamp(p) == p]
        choice = next((p for p in inside if free(p)), None)
        if choice is None:
            choice = next((q for q in map(clamp, raw) if free(q)), None)
        if choice is None:
            x, y0 = clamp(raw[0])
            step = h if h > 0 else 1.0
            n_down = int((height - h - y0) // step) if height - h > y0 else 0
            slides = [(x, y0 + k * step) for k in range(1, n_down + 1)]
            slides += [(x, y0 - k * step) for k in range(1, int(y0 // step) + 1)]
            choice = next((p for p in slides if free(p)), (x, y0))
        placed.append((choice[0], choice[1], choice[0] + w, choice[1] + h))
        out.append(choice)
    return out


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow
        return ImageFont.load_default()


def box_line_width(size: tuple[int, int]) -> int:
    """Default box line width for an image of ``size`` (W, H): about 1/300 of the shorter side."""
    return max(1, round(min(size) / 300))


def label_font_size(size: tuple[int, int]) -> int:
    """Default label font size for an image of ``size`` (W, H): about 1/45 of the shorter side."""
    return max(10, round(min(size) / 45))


def _outline_strips(boxes: Sequence[Box], width: int, size: tuple[int, int]) -> list[tuple[slice, slice]]:
    """Regions that hold every pixel of the outlines ``draw_boxes`` draws: four strips a box.

    ``rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], width=w)`` draws inside that
    rectangle, ``w`` pixels in from each edge; coordinates are truncated, so strips that reach two
    pixels beyond the edge and beyond ``w`` hold all of them.
    """
    w, h = size
    out = []
    for x0, y0, x1, y1 in boxes:
        a0, b0, a1, b1 = int(x0), int(y0), int(max(x0, x1 - 1)), int(max(y0, y1 - 1))
        cols = slice(max(0, a0 - 2), max(0, min(w, a1 + 3)))
        rows = slice(max(0, b0 - 2), max(0, min(h, b1 + 3)))
        out += [(slice(max(0, b0 - 2), max(0, min(h, b0 + width + 2))), cols),
                (slice(max(0, b1 - width - 2), max(0, min(h, b1 + 3))), cols),
                (rows, slice(max(0, a0 - 2), max(0, min(w, a0 + width + 2)))),
                (rows, slice(max(0, a1 - width - 2), max(0, min(w, a1 + 3))))]
    return out


def draw_boxes(
    rgb: np.ndarray, boxes: Sequence[tuple[Sequence[float], tuple[int, int, int], str]], *,
    scale: float = 1.0, width: int = 0, font_size: int = 0, inplace: bool = False,
) -> np.ndarray:
    """Draw (box, colour, label) triples, labels on a dark plate placed so that none overlaps another.

    Boxes are in pixel-edge coordinates (x0, y0, x1, y1) of the image ``rgb`` shows at ``1 /
    scale`` of its size (a figure drawn larger than the image passes its enlargement). All boxes
    are drawn first, then the labels at the corners :func:`place_labels` chooses, inside the image.

    The pixels are Pillow's (its rectangle and text rasterisation), but the image is never
    converted to a Pillow image as a whole (at 3000 x 3000 that costs two full copies): the
    outlines are drawn as colour indices into a one-byte mask and copied where it is set, and each
    label is drawn on a crop around its plate (a test compares the result with drawing on the
    whole image).

    Args:
        rgb: ``H x W x 3`` uint8 image.
        boxes: (box, colour, label) triples; an empty label draws none.
        scale: Factor from box coordinates to ``rgb`` pixels.
        width: Line width in pixels (default :func:`box_line_width`).
        font_size: Label font size in pixels (default :func:`label_font_size`).
        inplace: Draw into ``rgb`` itself (a writable uint8 array or view) instead of a copy.
    """
    out = rgb if inplace else np.array(rgb, dtype=np.uint8, order="C", copy=True)
    size = (int(out.shape[1]), int(out.shape[0]))
    lw = width or box_line_width(size)
    font = _font(font_size or label_font_size(size))
    scaled: list[tuple[Box, tuple[int, int, int], str]] = [
        ((float(b[0]) * scale, float(b[1]) * scale, float(b[2]) * scale, float(b[3]) * scale), colour, label)
        for b, colour, label in boxes
    ]
    for first in range(0, len(scaled), 255):  # colour index 0 is "not drawn": 255 boxes a pass, in order
        group = scaled[first : first + 255]
        mask = Image.new("L", size, 0)
        draw = ImageDraw.Draw(mask)
        for i, ((x0, y0, x1, y1), _, _) in enumerate(group, start=1):
            draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=i, width=lw)
        index = np.asarray(mask)
        colours = np.array([(0, 0, 0)] + [colour for _, colour, _ in group], dtype=np.uint8)
        for rows, cols in _outline_strips([box for box, _, _ in group], lw, size):
            part = index[rows, cols]
            ys, xs = np.nonzero(part)  # only where outlines can be: four strips a box, not the image
            out[rows, cols][ys, xs] = colours[part[ys, xs]]
    labelled = [(box, colour, label) for box, colour, label in scaled if label]
    if not labelled:
        return out
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    extents = [measure.textbbox((0, 0), label, font=font) for _, _, label in labelled]
    sizes = [(float(r - lft + 6), float(b - t + 4)) for lft, t, r, b in extents]
    origins = place_labels([box for box, _, _ in labelled], sizes, (float(size[0]), float(size[1])))
    for (_, colour, label), (lft, t, _, _), (w, h), (x, y) in zip(labelled, extents, sizes, origins, strict=True):
        # The crop starts left of and above every coordinate of the plate and the text (or at the
        # image's edge, where nothing moves): Pillow truncates coordinates, so shifting non-negative
        # ones by a whole number of pixels moves every drawn pixel by exactly that shift.
        tx, ty = x + 3 - lft, y + 2 - t
        ox, oy = max(0, int(np.floor(min(x, tx))) - 1), max(0, int(np.floor(min(y, ty))) - 1)
        ox1, oy1 = min(size[0], int(np.ceil(x + w)) + 1), min(size[1], int(np.ceil(y + h)) + 1)
        if ox1 <= ox or oy1 <= oy:  # entirely outside the image: nothing to draw
            continue
        crop = Image.fromarray(out[oy:oy1, ox:ox1])
        draw = ImageDraw.Draw(crop)
        draw.rectangle([x - ox, y - oy, x + w - 1 - ox, y + h - 1 - oy], fill=(20, 20, 20))
        draw.text((tx - ox, ty - oy), label, fill=colour, font=font)
        out[oy:oy1, ox:ox1] = np.asarray(crop)
    return out


def legend_panel(
    height: int, *, cmap: str, title: Sequence[str], low_label: str, high_label: str, width: int = 0
) -> np.ndarray:
    """A side panel: text lines, then a vertical colour bar labelled at both ends.

    Without ``width`` the panel is as wide as its widest line (at least ``max(220, height // 3)``), so
    no line (e.g. a long model name) is cut at the right edge.
    """
    size = max(11, min(18, height // 40))
    font = _font(size)
    if not width:
        widest = max([8 + font.getlength(t) for t in (*title, RESEARCH_USE)]
                     + [40 + font.getlength(t) for t in (low_label, high_label)])
        width = max(220, height // 3, int(np.ceil(widest)) + 8)
    img = Image.new("RGB", (width, height), (20, 20, 20))
    draw = ImageDraw.Draw(img)
    y = 8
    for line in title:
        draw.text((8, y), line, fill=(235, 235, 235), font=font)
        y += size + 5
    bar_top, bar_bottom = y + 10, height - size - 20
    if bar_bottom - bar_top > 20:
        lut = colormap_lut(cmap)
        ramp = np.linspace(1.0, 0.0, bar_bottom - bar_top)
        bar = lut[(ramp * 255).astype(np.uint8)]
        img.paste(Image.fromarray(np.repeat(bar[:, None, :], 24, axis=1)), (10, bar_top))
        draw.text((40, bar_top - 2), high_label, fill=(235, 235, 235), font=font)
        draw.text((40, bar_bottom - size), low_label, fill=(235, 235, 235), font=font)
    draw.text((8, height - size - 6), RESEARCH_USE, fill=(255, 200, 80), font=font)
    return np.asarray(img)


def compose(image_rgb: np.ndarray, panel: np.ndarray) -> np.ndarray:
    """Image and legend panel side by side (the panel is resized to the image height)."""
    if panel.shape[0] != image_rgb.shape[0]:
        scale = image_rgb.shape[0] / panel.shape[0]
        panel = np.asarray(Image.fromarray(panel).resize((max(1, round(panel.shape[1] * scale)), image_rgb.shape[0])))
    return np.concatenate([image_rgb, panel], axis=1)


def save_png(
    rgb: np.ndarray, path: str | Path, metadata: Mapping[str, str] | None = None, *, compress_level: int = 6
) -> Path:
    """Write an RGB (or grey, or RGBA) uint8 array as PNG atomically, with text metadata chunks.

    ``compress_level`` 2-9 is Pillow's encoder at that zlib level. Level 1 is the bulk setting
    (``radlens explain``, studies; issue #19): :func:`png_bytes_fast`, about twice as fast as
    Pillow's level 1 and smaller on overlays. Both release the GIL, so writes run in threads.
    """
    path = Path(path)
    if compress_level <= 1:
        with atomic_open(path, "wb") as handle:
            for part in png_chunks_fast(rgb, metadata):
                handle.write(part)
        return path
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in (metadata or {}).items():
        info.add_text(k, v)
    with atomic_open(path, "wb") as handle:
        Image.fromarray(rgb).save(handle, format="PNG", pnginfo=info, compress_level=compress_level)
    return path


_PNG_COLOUR_TYPES = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def png_bytes_fast(image: np.ndarray, metadata: Mapping[str, str] | None = None) -> bytes:
    """An 8-bit PNG of ``image``, encoded for speed (:func:`png_chunks_fast`, joined)."""
    return b"".join(png_chunks_fast(image, metadata))


def png_chunks_fast(image: np.ndarray, metadata: Mapping[str, str] | None = None) -> list[bytes]:
    """The parts of an 8-bit PNG of ``image`` ((H, W) grey, (H, W, 3) RGB or (H, W, 4) RGBA uint8), encoded for speed.

    Every row uses PNG filter 2 ("Up": the byte-wise difference to the row above, which is zero
    for the first row) and the IDAT stream is deflated by ISA-L (``isal``, level 1), which writes
    the same zlib format about four times as fast as zlib's own level 1: on a 3000 x 4000 overlay
    0.04 s for 4.5 MB, where zlib level 1 with the run-length strategy takes 0.17 s for 4.2 MB and
    Pillow (which tries the five filters on every row) 0.37 s for 4 MB. ISA-L releases the GIL, so
    overlays are encoded in parallel threads. Any PNG decoder reads the result (tests decode it
    with Pillow and check the stream with zlib).

    ``metadata`` becomes ``tEXt`` chunks (Latin-1 keys and values, as PNG requires).
    """
    arr = np.ascontiguousarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"png_bytes_fast writes 8-bit images, not {arr.dtype}")
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3 or arr.shape[2] not in _PNG_COLOUR_TYPES or 0 in arr.shape:
        raise ValueError(f"png_bytes_fast needs (H, W), (H, W, 3) or (H, W, 4), not {image.shape}")
    h, w, c = arr.shape
    rows = arr.reshape(h, w * c)
    from isal import isal_zlib  # imported here: only bulk writers need it

    deflate = isal_zlib.compressobj(1)
    compressed: list[bytes] = []
    step = max(1, (1 << 22) // (w * c + 1))  # filtered in blocks of about 4 MB: no full-size copy
    block = np.empty((step, w * c + 1), np.uint8)
    block[:, 0] = 2  # filter type Up on every row
    for r in range(0, h, step):
        n = min(step, h - r)
        out = block[:n]
        if r == 0:
            out[0, 1:] = rows[0]
            np.subtract(rows[1:n], rows[: n - 1], out=out[1:, 1:])  # modulo 256, as the filter is defined
        else:
            np.subtract(rows[r : r + n], rows[r - 1 : r + n - 1], out=out[:, 1:])
        compressed.append(deflate.compress(out.data))
    compressed.append(deflate.flush())
    idat = b"".join(compressed)
    parts = [b"\x89PNG\r\n\x1a\n",
             _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOUR_TYPES[c], 0, 0, 0))]
    for key, value in (metadata or {}).items():
        parts.append(_png_chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1")))
    # the IDAT chunk written as its parts: the compressed stream is not copied again
    parts += [struct.pack(">I", len(idat)) + b"IDAT", idat, struct.pack(">I", zlib.crc32(idat, zlib.crc32(b"IDAT"))),
              _png_chunk(b"IEND", b"")]
    return parts


def annotator_colour(index: int) -> tuple[int, int, int]:
    return ANNOTATOR_COLOURS[index % len(ANNOTATOR_COLOURS)]


def upscale(rgb: np.ndarray, min_height: int) -> tuple[np.ndarray, float]:
    """Enlarge small images (bilinear) so labels stay legible; returns the image and the factor."""
    h, w = rgb.shape[:2]
    if h >= min_height:
        return rgb, 1.0
    s = min_height / h
    return np.asarray(Image.fromarray(rgb).resize((round(w * s), min_height), Image.Resampling.BILINEAR)), s


BoxDrawing = tuple[tuple[float, ...], tuple[int, int, int], str]


def annotation_boxes(annotations: Any, class_name: str | None) -> list[BoxDrawing]:
    """(box, colour, label) for ground-truth (colour per annotator) and user boxes of a class."""
    if annotations is None:
        return []
    annotators = sorted({b.annotator for b in annotations.boxes})
    out = []
    for b in annotations.boxes:
        if class_name is not None and b.class_name.lower() != class_name.lower():
            continue
        src = str(getattr(b.source, "value", b.source))
        colour = USER_COLOUR if src == "user" else annotator_colour(annotators.index(b.annotator))
        label = f"{b.annotator}" if class_name is not None else f"{b.class_name} ({b.annotator})"
        out.append((b.as_tuple(), colour, label))
    return out


def _score_line(result: Any, i: int) -> str:
    """``p = ... (threshold ...)``; for a regression output its value, unit and the map's direction."""
    if getattr(result, "is_regression", False):
        unit = result.unit(i)
        direction = getattr(result, "direction", "")
        return f"value = {result.value(i):.4g}{' ' + unit if unit else ''}" + (
            f"; map: what {direction} it" if direction else "")
    return f"p = {result.probabilities[i]:.3f} (threshold {result.thresholds[i]:.2f})"


def overlay_lines(result: Any, name: str, loc: Any = None) -> list[str]:
    """The text lines of a class overlay's legend panel (class, score, method, scale, boxes, model)."""
    raw_lo, raw_hi = result.value_ranges[name]
    i = result.class_names.index(name)
    lines = [
        f"{name}", _score_line(result, i),
        f"{result.method}  {', '.join(result.layers) or 'input gradient'}",
        f"normalisation: {result.normalisation}", f"raw range [{raw_lo:.3g}, {raw_hi:.3g}]",
    ]
    if loc is not None:
        lines.append(f"model boxes: {loc.threshold} ({len(loc.boxes)})")
        if loc.gt is not None:
            lines.append(f"IoU vs GT: mean {loc.gt.mean:.3f} best {loc.gt.best:.3f}")
    lines.append(f"model: {result.model['name']} {result.model['version']}")
    return lines


def class_overlay(
    image: Any, result: Any, name: str, loc: Any = None, annotations: Any = None, *,
    cmap: str = "jet", alpha: float = 0.45, min_height: int = 512,
) -> np.ndarray:
    """One class's heatmap over the image with GT, user and model boxes and a legend panel.

    Args:
        image: A ``StudyImage`` or a [0, 1] array.
        result: An ``ExplanationResult`` with a map for ``name``.
        loc: The class's ``ClassLocalisation`` (model boxes, IoU) or None.
        annotations: An ``AnnotationSet`` or None.
    """
    display = image.display if hasattr(image, "display") else image
    boxes = annotation_boxes(annotations, name)
    if loc is not None:
        boxes += [(tuple(bx), MODEL_COLOUR, "model") for bx in loc.boxes]
    lo, hi = result.scale(name)
    lines = overlay_lines(result, name, loc)
    height, width = np.asarray(display).shape[:2]
    if height < min_height:  # small images are enlarged so labels stay legible
        rgb, s = upscale(blend_heatmap(display, result.map(name), cmap=cmap, alpha=alpha), min_height)
        rgb = draw_boxes(rgb, [(tuple(v * s for v in b), c, lab) for b, c, lab in boxes])
        panel = legend_panel(rgb.shape[0], cmap=cmap, title=lines, low_label=f"{lo:.3g}", high_label=f"{hi:.3g}")
        return compose(rgb, panel)
    # full size: blend, boxes and panel go straight into the composed canvas (no full-size copies)
    panel = legend_panel(height, cmap=cmap, title=lines, low_label=f"{lo:.3g}", high_label=f"{hi:.3g}")
    canvas = np.empty((height, width + panel.shape[1], 3), np.uint8)
    canvas[:, width:] = panel
    view = canvas[:, :width]
    blend_heatmap(display, result.map(name), cmap=cmap, alpha=alpha, out=view)
    draw_boxes(view, boxes, inplace=True)
    return canvas

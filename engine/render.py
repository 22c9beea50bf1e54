"""Qt-free rendering of explanation overlays to RGB arrays and PNG files (CLI, reports).

A heatmap is drawn with a fixed, labelled scale: the colour bar states the normalisation mode
and the raw value range, so two images are never compared on silently different scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from engine.atomic import atomic_open

RESEARCH_USE = "Research use - not for diagnostic use"

#: Annotation colours by source; ground-truth annotators cycle through a qualitative palette.
MODEL_COLOUR = (255, 255, 0)
USER_COLOUR = (0, 255, 255)
ANNOTATOR_COLOURS = ((0, 220, 0), (255, 140, 0), (230, 60, 230), (80, 160, 255), (255, 80, 80))


def colormap_lut(name: str = "jet") -> np.ndarray:
    """A 256 x 3 uint8 lookup table from a matplotlib colour map."""
    from matplotlib import colormaps

    cmap = colormaps[name]
    return (cmap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


def to_rgb(display: np.ndarray) -> np.ndarray:
    """A [0, 1] grayscale or RGB float image as H x W x 3 uint8."""
    d = np.clip(np.asarray(display, dtype=np.float32), 0.0, 1.0)
    if d.ndim == 2:
        d = np.repeat(d[..., None], 3, axis=2)
    return (d * 255.0 + 0.5).astype(np.uint8)


def blend_heatmap(
    display: np.ndarray, heat: np.ndarray, *, cmap: str = "jet", alpha: float = 0.45, floor: float | None = None
) -> np.ndarray:
    """Blend a [0, 1] heatmap over an image with constant opacity.

    With ``floor`` set, pixels whose heat is at or below it stay unblended (the image shows
    through); by default every pixel is tinted, so the colour bar reads everywhere and exact zeros
    of an upsampled coarse map do not draw hard-edged blocks.
    """
    base = to_rgb(display).astype(np.float32)
    h = np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0)
    colours = colormap_lut(cmap)[(h * 255).astype(np.uint8)].astype(np.float32)
    a = np.full((*h.shape, 1), alpha, np.float32) if floor is None else np.where(h > floor, alpha, 0.0)[..., None]
    return (base * (1 - a) + colours * a + 0.5).astype(np.uint8)


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # very old Pillow
        return ImageFont.load_default()


def draw_boxes(
    rgb: np.ndarray, boxes: Sequence[tuple[Sequence[float], tuple[int, int, int], str]], *, width: int = 0
) -> np.ndarray:
    """Draw (box, colour, label) triples; boxes in pixel-edge coordinates (x0, y0, x1, y1)."""
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    lw = width or max(1, round(min(img.size) / 300))
    font = _font(max(10, round(min(img.size) / 45)))
    for (x0, y0, x1, y1), colour, label in boxes:
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=lw)
        if label:
            draw.text((x0 + lw + 1, max(0, y0 - font.size - 2) if hasattr(font, "size") else y0), label,
                      fill=colour, font=font)
    return np.asarray(img)


def legend_panel(
    height: int, *, cmap: str, title: Sequence[str], low_label: str, high_label: str, width: int = 0
) -> np.ndarray:
    """A side panel: text lines, then a vertical colour bar labelled at both ends."""
    width = width or max(220, height // 3)
    img = Image.new("RGB", (width, height), (20, 20, 20))
    draw = ImageDraw.Draw(img)
    size = max(11, min(18, height // 40))
    font = _font(size)
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


def save_png(rgb: np.ndarray, path: str | Path, metadata: Mapping[str, str] | None = None) -> Path:
    """Write an RGB array as PNG atomically, with text metadata chunks."""
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    for k, v in (metadata or {}).items():
        info.add_text(k, v)
    path = Path(path)
    with atomic_open(path, "wb") as handle:
        Image.fromarray(rgb).save(handle, format="PNG", pnginfo=info)
    return path


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
    rgb, s = upscale(blend_heatmap(display, result.map(name), cmap=cmap, alpha=alpha), min_height)
    boxes = annotation_boxes(annotations, name)
    if loc is not None:
        boxes += [(tuple(bx), MODEL_COLOUR, "model") for bx in loc.boxes]
    rgb = draw_boxes(rgb, [(tuple(v * s for v in b), c, lab) for b, c, lab in boxes])
    lo, hi = result.scale(name)
    raw_lo, raw_hi = result.value_ranges[name]
    i = result.class_names.index(name)
    lines = [
        f"{name}", f"p = {result.probabilities[i]:.3f} (threshold {result.thresholds[i]:.2f})",
        f"{result.method}  {', '.join(result.layers) or 'input gradient'}",
        f"normalisation: {result.normalisation}", f"raw range [{raw_lo:.3g}, {raw_hi:.3g}]",
    ]
    if loc is not None:
        lines.append(f"model boxes: {loc.threshold} ({len(loc.boxes)})")
        if loc.gt is not None:
            lines.append(f"IoU vs GT: mean {loc.gt.mean:.3f} best {loc.gt.best:.3f}")
    lines.append(f"model: {result.model['name']} {result.model['version']}")
    panel = legend_panel(rgb.shape[0], cmap=cmap, title=lines, low_label=f"{lo:.3g}", high_label=f"{hi:.3g}")
    return compose(rgb, panel)

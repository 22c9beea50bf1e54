"""draw_boxes draws outlines through a one-byte mask and labels on crops: the pixels must be exactly
those of drawing everything on the whole image with Pillow (the former implementation, below)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine.render import _font, box_line_width, draw_boxes, label_font_size, place_labels


def whole_image_reference(rgb: np.ndarray, boxes: Sequence[tuple[Sequence[float], tuple[int, int, int], str]], *,
                          scale: float = 1.0, width: int = 0, font_size: int = 0) -> np.ndarray:
    img = Image.fromarray(rgb)
    draw = ImageDraw.Draw(img)
    lw = width or box_line_width(img.size)
    font = _font(font_size or label_font_size(img.size))
    scaled = [((float(b[0]) * scale, float(b[1]) * scale, float(b[2]) * scale, float(b[3]) * scale), c, lab)
              for b, c, lab in boxes]
    for (x0, y0, x1, y1), colour, _ in scaled:
        draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colour, width=lw)
    labelled = [(box, colour, label) for box, colour, label in scaled if label]
    extents = [draw.textbbox((0, 0), label, font=font) for _, _, label in labelled]
    sizes = [(float(r - lft + 6), float(b - t + 4)) for lft, t, r, b in extents]
    origins = place_labels([box for box, _, _ in labelled], sizes, (float(img.size[0]), float(img.size[1])))
    for (_, colour, label), (lft, t, _, _), (w, h), (x, y) in zip(labelled, extents, sizes, origins, strict=True):
        draw.rectangle([x, y, x + w - 1, y + h - 1], fill=(20, 20, 20))
        draw.text((x + 3 - lft, y + 2 - t), label, fill=colour, font=font)
    return np.asarray(img)


Drawing = tuple[tuple[float, ...], tuple[int, int, int], str]


def random_boxes(rng: np.random.Generator, n: int, w: int, h: int) -> list[Drawing]:
    out: list[Drawing] = []
    for i in range(n):
        x0, x1 = sorted(rng.uniform(-0.1 * w, 1.1 * w, 2))
        y0, y1 = sorted(rng.uniform(-0.1 * h, 1.1 * h, 2))
        r, g, b = (int(v) for v in rng.integers(0, 256, 3))
        colour = (r, g, b)
        label = ["", "model", f"reader {i}", "GT (radiologist 2)"][i % 4]
        # fractional edges everywhere
        out.append(((float(x0), float(y0), float(x1 + rng.random()), float(y1)), colour, label))
    return out


@pytest.mark.parametrize(("w", "h", "n", "seed"), [(64, 48, 3, 0), (300, 211, 9, 1), (512, 512, 14, 2),
                                                   (1200, 900, 6, 3), (40, 30, 5, 4)])
def test_equals_drawing_on_the_whole_image(w: int, h: int, n: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    boxes = random_boxes(rng, n, w, h)
    assert np.array_equal(draw_boxes(image, boxes), whole_image_reference(image, boxes))
    assert np.array_equal(draw_boxes(image, boxes, scale=1.7, width=3, font_size=13),
                          whole_image_reference(image, boxes, scale=1.7, width=3, font_size=13))


def test_large_labels_at_the_image_edges() -> None:
    """Clinical-size fonts (side bearings beyond the plate's margin) on boxes touching the edges."""
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (700, 900, 3), dtype=np.uint8)
    boxes: list[Drawing] = [((0.0, 0.0, 120.4, 700.0), (255, 255, 0), "model"),
                            ((880.2, 0.0, 900.0, 40.7), (0, 220, 0), "Jy"),
                            ((0.0, 650.5, 899.9, 700.0), (80, 160, 255), "reader 1 (GT)")]
    for size in (40, 67, 90):
        want = whole_image_reference(image, boxes, font_size=size)
        assert np.array_equal(draw_boxes(image, boxes, font_size=size), want)


def test_more_boxes_than_one_mask_holds_keep_their_order() -> None:
    rng = np.random.default_rng(9)
    image = np.zeros((200, 260, 3), np.uint8)
    boxes = [((float(x), 10.0 + (i % 7), float(x) + 40.5, 150.0), (i % 256, 255 - i % 256, 7), "")
             for i, x in enumerate(rng.uniform(0, 200, 600))]  # 600 overlapping outlines: three mask passes
    assert np.array_equal(draw_boxes(image, boxes), whole_image_reference(image, boxes))


def test_inplace_draws_into_the_array_and_the_default_leaves_it_alone() -> None:
    image = np.full((80, 90, 3), 100, np.uint8)
    boxes = [((5.0, 5.0, 60.0, 50.0), (255, 255, 0), "model")]
    copy = draw_boxes(image, boxes)
    assert (image == 100).all() and not (copy == 100).all()
    same = draw_boxes(image, boxes, inplace=True)
    assert same is image and np.array_equal(image, copy)


def test_class_overlay_at_full_size_equals_blend_boxes_and_panel_composed() -> None:
    """The former composition: blend, boxes drawn on the whole image, legend panel beside it."""
    import engine
    from engine.analysis import localise
    from engine.annotations import image_key, read_annotations
    from engine.io import load_image
    from engine.render import (
        MODEL_COLOUR,
        annotation_boxes,
        blend_heatmap,
        class_overlay,
        compose,
        display_bytes,
        legend_panel,
        overlay_lines,
    )
    from engine.resources import demo_dir, demo_images

    path = demo_images() / "phantom_00000.dcm"
    image = load_image(path)
    result = engine.explain(engine.load_model("default"), image, "gradcam")
    truth = {image_key(k): v for k, v in read_annotations(demo_dir() / "train.csv").items()}[image_key(path)]
    assert truth.boxes  # ground-truth boxes and labels are drawn too
    for name in result.class_names:
        loc = localise(result, "top:0.05", truth, classes=[name])[name]
        got = class_overlay(display_bytes(image), result, name, loc, truth, min_height=256)
        rgb = blend_heatmap(display_bytes(image), result.map(name))
        boxes = annotation_boxes(truth, name) + [(tuple(b), MODEL_COLOUR, "model") for b in loc.boxes]
        lo, hi = result.scale(name)
        panel = legend_panel(rgb.shape[0], cmap="jet", title=overlay_lines(result, name, loc),
                             low_label=f"{lo:.3g}", high_label=f"{hi:.3g}")
        assert np.array_equal(got, compose(whole_image_reference(rgb, boxes), panel))

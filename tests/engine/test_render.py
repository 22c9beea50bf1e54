"""The Qt-free renderer: label placement geometry and RGBA overlay layers, with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.render import (
    LABEL_CORNERS,
    blend_heatmap,
    composite,
    heatmap_rgba,
    label_origin,
    level_outline,
    outline_rgba,
    overlay_rgba,
    place_labels,
    to_rgb,
)


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _rects(
    origins: list[tuple[float, float]], sizes: list[tuple[float, float]]
) -> list[tuple[float, float, float, float]]:
    return [(x, y, x + w, y + h) for (x, y), (w, h) in zip(origins, sizes, strict=True)]


# --- place_labels --------------------------------------------------------------------------------
def test_a_lone_label_sits_above_the_left_edge():
    assert place_labels([(40.0, 50.0, 90.0, 80.0)], [(30.0, 10.0)], (200.0, 200.0)) == [(40.0, 40.0)]
    assert place_labels([(40.0, 50.0, 90.0, 80.0)], [(30.0, 10.0)], (200.0, 200.0), gap=2.0) == [(40.0, 38.0)]


def test_labels_of_one_box_take_the_corners_in_order():
    box = (40.0, 50.0, 90.0, 80.0)
    got = place_labels([box] * 4, [(20.0, 10.0)] * 4, (200.0, 200.0))
    # above-left, below-left, above-right (ends at x1 = 90), below-right
    assert got == [(40.0, 40.0), (40.0, 80.0), (70.0, 40.0), (70.0, 80.0)]
    assert LABEL_CORNERS == ("above_left", "below_left", "above_right", "below_right")


def test_narrow_box_labels_slide_when_corners_collide():
    """Labels wider than the box: all four corners collide, so the fifth label slides down."""
    box = (40.0, 50.0, 50.0, 60.0)
    sizes = [(30.0, 10.0)] * 3
    got = place_labels([box] * 3, sizes, (200.0, 200.0))
    assert got[0] == (40.0, 40.0) and got[1] == (40.0, 60.0)
    # above_right (20, 40) and below_right (20, 60) overlap the first two; above_left slides down by 10s
    assert got[2] == (40.0, 50.0)
    rects = _rects(got, sizes)
    assert not any(_overlap(rects[i], rects[j]) for i in range(3) for j in range(i))


def test_labels_stay_inside_the_bounds():
    # box at the top edge: above does not fit, below does
    assert place_labels([(10.0, 0.0, 60.0, 30.0)], [(20.0, 8.0)], (100.0, 100.0)) == [(10.0, 30.0)]
    # box filling the image: no corner fits, the first is moved inside (top-left of the box)
    assert place_labels([(0.0, 0.0, 100.0, 100.0)], [(20.0, 8.0)], (100.0, 100.0)) == [(0.0, 0.0)]
    # box at the right edge, label wider than the part left of the right edge
    (x, y), = place_labels([(95.0, 50.0, 100.0, 60.0)], [(20.0, 8.0)], (100.0, 100.0))
    assert 0 <= x <= 80 and 0 <= y <= 92


def test_crowded_labels_never_overlap_while_there_is_room():
    """Twenty labels on one box in a tall image: every one finds its own place, inside the bounds."""
    sizes = [(30.0, 10.0)] * 20
    got = place_labels([(40.0, 100.0, 50.0, 110.0)] * 20, sizes, (200.0, 400.0))
    rects = _rects(got, sizes)
    assert all(0 <= r[0] and r[2] <= 200 and 0 <= r[1] and r[3] <= 400 for r in rects)
    assert not any(_overlap(rects[i], rects[j]) for i in range(20) for j in range(i))


@pytest.mark.parametrize("seed", range(5))
def test_each_label_takes_the_first_free_corner(seed):
    """Spec check on random layouts: a label at a corner means no earlier corner was inside and free."""
    rng = np.random.default_rng(seed)
    bounds = (300.0, 240.0)
    boxes, sizes = [], []
    for _ in range(25):
        x0, y0 = rng.uniform(0, 260), rng.uniform(0, 200)
        boxes.append((x0, y0, x0 + rng.uniform(2, 40), y0 + rng.uniform(2, 40)))
        sizes.append((float(rng.uniform(8, 40)), float(rng.uniform(5, 12))))
    got = place_labels(boxes, sizes, bounds, gap=1.0)
    rects = _rects(got, sizes)
    for i, (box, size, origin) in enumerate(zip(boxes, sizes, got, strict=True)):
        r = rects[i]
        assert -1e-9 <= r[0] and r[2] <= bounds[0] + 1e-9 and -1e-9 <= r[1] and r[3] <= bounds[1] + 1e-9
        corners = [label_origin(box, size, c, 1.0) for c in LABEL_CORNERS]
        if origin in corners:
            for c in corners[: corners.index(origin)]:
                rc = (c[0], c[1], c[0] + size[0], c[1] + size[1])
                inside = 0 <= rc[0] and rc[2] <= bounds[0] and 0 <= rc[1] and rc[3] <= bounds[1]
                assert not inside or any(_overlap(rc, rects[j]) for j in range(i)), (i, c, origin)
            assert not any(_overlap(r, rects[j]) for j in range(i))


def test_place_labels_rejects_mismatched_input():
    with pytest.raises(ValueError, match="2 boxes but 1 label sizes"):
        place_labels([(0, 0, 1, 1), (0, 0, 1, 1)], [(1, 1)], (10, 10))
    with pytest.raises(ValueError, match="corner"):
        label_origin((0, 0, 1, 1), (1, 1), "middle")


# --- RGBA layers -------------------------------------------------------------------------------
def test_heatmap_colours_are_the_colour_map_at_the_floor_index():
    """Reference: matplotlib's colour map evaluated at floor(v * 255) / 255, rounded to 8 bits."""
    from matplotlib import colormaps

    rng = np.random.default_rng(0)
    heat = rng.random((12, 9)).astype(np.float32)
    heat[0, 0], heat[0, 1] = 0.0, 1.0
    rgba = heatmap_rgba(heat, "viridis", 0.3)
    expected = np.round(colormaps["viridis"](np.floor(heat * 255) / 255)[..., :3] * 255).astype(np.uint8)
    assert np.array_equal(rgba[..., :3], expected)
    assert (rgba[..., 3] == round(0.3 * 255)).all()
    assert np.array_equal(heatmap_rgba(np.full((2, 2), np.nan), "jet", 1.0), heatmap_rgba(np.zeros((2, 2)), "jet", 1.0))


def test_composited_heatmap_matches_the_blend():
    rng = np.random.default_rng(3)
    display = rng.random((40, 50)).astype(np.float32)
    heat = rng.random((40, 50)).astype(np.float32)
    out = composite(to_rgb(display), heatmap_rgba(heat, "jet", 0.45)).astype(int)
    assert np.abs(out - blend_heatmap(display, heat, cmap="jet", alpha=0.45).astype(int)).max() <= 1


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("floor", [None, 0.3])
def test_blend_is_the_per_pixel_formula_at_the_colour_index(dtype, floor):
    """Reference: ``base * (1 - a) + colour * a + 0.5`` truncated, evaluated per pixel at the colour
    index floor(clip(v, 0, 1) * 255) in the map's own precision; NaN, negative and >1 heat included;
    below ``floor`` the image byte itself."""
    from matplotlib import colormaps

    rng = np.random.default_rng(7)
    heat = (rng.random((37, 29)) * 1.6 - 0.3).astype(dtype)
    heat[0, :4] = [np.nan, 0.0, 1.0, 1 / 255]
    grey = rng.integers(0, 256, (37, 29), dtype=np.uint8)
    h = np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0)
    index = (h * 255).astype(np.uint8)
    colours = (colormaps["jet"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)
    a = np.float64(0.45) if floor is not None else np.float32(0.45)
    base = grey.astype(np.float32)[..., None]
    expected = (base * (1 - a) + colours[index].astype(np.float32) * a + 0.5).astype(np.uint8)
    if floor is not None:
        expected[h <= floor] = grey[h <= floor][:, None]
    assert np.array_equal(blend_heatmap(grey, heat, cmap="jet", alpha=0.45, floor=floor), expected)


def _border4(region: np.ndarray) -> np.ndarray:
    """Region pixels with a 4-neighbour outside the region (or outside the image)."""
    p = np.pad(region, 1, constant_values=False)
    all_in = p[:-2, 1:-1] & p[2:, 1:-1] & p[1:-1, :-2] & p[1:-1, 2:]
    return region & ~all_in


def test_outline_is_the_four_neighbour_border_in_the_level_colour():
    from matplotlib import colormaps

    yy, xx = np.mgrid[0:100, 0:120]
    cone = np.clip(1 - np.hypot(xx - 50, yy - 45) / 60, 0, 1).astype(np.float32)
    for level in (0.25, 0.6):
        assert np.array_equal(level_outline(cone, level, 1), _border4(cone >= level))
    rgba = outline_rgba(cone, "magma", 0.5, levels=(0.25, 0.6))
    drawn = rgba[..., 3] > 0
    assert np.array_equal(drawn, _border4(cone >= 0.25) | _border4(cone >= 0.6))
    top = _border4(cone >= 0.6)
    colour = np.round(np.asarray(colormaps["magma"](np.floor(0.6 * 255) / 255)[:3]) * 255).astype(np.uint8)
    assert (rgba[top, :3] == colour).all() and (rgba[drawn, 3] == round(0.5 * 255)).all()


def test_overlay_modes():
    m = np.zeros((64, 64), np.float32)
    m[20:40, 20:40] = 1.0
    lines = _border4(m >= 0.5)
    both = overlay_rgba(m, "both", "jet", 0.3)
    assert (both[lines, 3] == round(0.6 * 255)).all() and (both[~lines, 3] == round(0.3 * 255)).all()
    assert np.array_equal(overlay_rgba(m, "heatmap", "jet", 0.3), heatmap_rgba(m, "jet", 0.3))
    assert (overlay_rgba(m, "outline", "jet", 0.3)[~lines, 3] == 0).all()
    with pytest.raises(ValueError):
        overlay_rgba(m, "sparkles", "jet", 0.5)  # type: ignore[arg-type]


def test_draw_boxes_puts_coinciding_labels_at_different_corners():
    """Two boxes in the same place: the first label above the box, the second below, on dark plates."""
    from engine.render import draw_boxes

    rgb = np.zeros((200, 200, 3), np.uint8)
    box = (50.0, 80.0, 150.0, 150.0)
    out = draw_boxes(rgb, [(box, (255, 0, 0), "first"), (box, (0, 255, 0), "second")], width=1, font_size=12)
    red = np.all(out == (255, 0, 0), axis=2)
    green = np.all(out == (0, 255, 0), axis=2)
    ys_red, ys_green = np.nonzero(red)[0], np.nonzero(green)[0]
    assert (ys_red < 80).any() and not (ys_red > 150).any()  # text above, nothing below
    assert (ys_green > 150).any() and not (ys_green < 79).any()  # text below, nothing above
    assert (np.all(out == (20, 20, 20), axis=2)[:80]).any()  # the plate behind the first label
    # drawn at twice the size with scale=2, the box lands on doubled coordinates
    big = draw_boxes(np.zeros((400, 400, 3), np.uint8), [(box, (255, 0, 0), "")], scale=2.0, width=1)
    assert big[160, 100:300].tolist() == [[255, 0, 0]] * 200


def test_legend_panel_is_as_wide_as_its_longest_line():
    """A long line (the model name) is never cut at the panel's right edge: the last columns stay background."""
    from engine.render import legend_panel

    title = ["Pneumothorax", "model: RadLens phantom ResNet-18 1.1 with a much longer name than the panel's minimum"]
    panel = legend_panel(512, cmap="jet", title=title, low_label="0", high_label="0.262")
    assert panel.shape[1] > 220  # wider than the minimum because of the line
    assert (panel[:, -6:] == (20, 20, 20)).all()  # nothing drawn into the right margin
    short = legend_panel(512, cmap="jet", title=["A"], low_label="0", high_label="1")
    assert 220 <= short.shape[1] < panel.shape[1]  # short lines: about the minimum (the research-use line sets it)
    assert (short[:, -6:] == (20, 20, 20)).all()

"""The lookup-table blend (engine.render.blend_heatmap) gives the bytes of the per-pixel formula."""

from __future__ import annotations

import numpy as np
import pytest

from engine.render import blend_heatmap, colormap_lut, lut_index, to_rgb


def _formula(display: np.ndarray, heat: np.ndarray, cmap: str, alpha: float, floor: float | None) -> np.ndarray:
    """The blend written per pixel in float32 (the formula the table is built from)."""
    base = to_rgb(display).astype(np.float32)
    h = np.clip(np.nan_to_num(heat, nan=0.0), 0.0, 1.0)
    colours = colormap_lut(cmap)[lut_index(h)].astype(np.float32)
    a = np.full((*h.shape, 1), alpha, np.float32) if floor is None else np.where(h > floor, alpha, 0.0)[..., None]
    return (base * (1 - a) + colours * a + 0.5).astype(np.uint8)


@pytest.mark.parametrize("rgb", [False, True])
@pytest.mark.parametrize(("cmap", "alpha", "floor"), [("jet", 0.45, None), ("inferno", 0.7, None), ("jet", 0.3, 0.2)])
def test_blend_equals_the_per_pixel_formula(rgb: bool, cmap: str, alpha: float, floor: float | None) -> None:
    rng = np.random.default_rng(3)
    display = rng.random((61, 47, 3) if rgb else (61, 47)).astype(np.float32)
    display[0, :5] = np.array([-0.2, 0.0, 1.0, 1.3, 0.5]).reshape((5,) + (1,) * (display.ndim - 2))  # clipped alike
    heat = rng.random((61, 47)).astype(np.float32) * 1.2 - 0.1
    heat[1, 0] = np.nan
    np.testing.assert_array_equal(blend_heatmap(display, heat, cmap=cmap, alpha=alpha, floor=floor),
                                  _formula(display, heat, cmap, alpha, floor))


def test_level_outline_equals_erosion_of_the_whole_image() -> None:
    from scipy import ndimage

    from engine.render import level_outline

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[:120, :90]
    for cy, cx in [(60, 45), (3, 2), (118, 88), (60, 0)]:  # inside, and touching the image edges
        m = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 800.0) + 0.05 * rng.random((120, 90))
        for level, width in [(0.3, 1), (0.5, 3), (0.9, 2), (2.0, 1)]:
            region = m >= level
            expected = region & ~ndimage.binary_erosion(region, iterations=width, border_value=0)
            np.testing.assert_array_equal(level_outline(m, level, width), expected)


def test_palettes_give_the_rgba_layers() -> None:
    from engine.render import (
        OUTLINE_LEVELS,
        heat_palette,
        heatmap_rgba,
        level_outline,
        outline_index,
        outline_palette,
        outline_rgba,
        outline_width,
    )

    rng = np.random.default_rng(6)
    m = rng.random((64, 80)).astype(np.float32)
    np.testing.assert_array_equal(heat_palette("inferno", 0.3)[lut_index(m)], heatmap_rgba(m, "inferno", 0.3))
    yy, xx = np.mgrid[:64, :80]
    smooth = np.exp(-((yy - 30.0) ** 2 + (xx - 40.0) ** 2) / 300.0).astype(np.float32)
    rgba = outline_palette("jet", 0.9)[outline_index(smooth)]
    # Drawn the direct way: each level's line in its colour, higher levels on top.
    expected = np.zeros((64, 80, 4), np.uint8)
    for level in sorted(OUTLINE_LEVELS):
        colour = colormap_lut("jet")[int(level * 255)]
        expected[level_outline(smooth, level, outline_width(smooth.shape))] = (*colour, round(0.9 * 255))
    np.testing.assert_array_equal(rgba, expected)
    np.testing.assert_array_equal(outline_rgba(smooth, "jet", 0.9), expected)
    assert (rgba[..., 3] > 0).sum() > 0


@pytest.mark.parametrize("floor", [None, 0.5])
def test_blend_in_blocks_equals_the_formula(floor: float | None) -> None:
    rng = np.random.default_rng(8)
    display = rng.random((45, 40_000)).astype(np.float32)  # wide: the blend runs in several row blocks
    heat = rng.random((45, 40_000)).astype(np.float32)
    got = blend_heatmap(display, heat, floor=floor)
    np.testing.assert_array_equal(got, _formula(display, heat, "jet", 0.45, floor))

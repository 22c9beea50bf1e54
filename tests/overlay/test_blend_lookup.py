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

"""Pure rendering and scoring helpers of the overlay, on synthetic maps with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from engine.analysis import ClassLocalisation
from engine.localise import score_boxes
from engine.render import blend_heatmap, colormap_lut, to_rgb
from plugins.explain_overlay.rendering import (
    ColourScale,
    heatmap_rgba,
    level_outline,
    outline_rgba,
    overlay_rgba,
)
from plugins.explain_overlay.scores import score_rows


def _square(n: int = 64, lo: int = 20, hi: int = 40) -> np.ndarray:
    m = np.zeros((n, n), np.float32)
    m[lo:hi, lo:hi] = 1.0
    return m


def test_level_outline_is_the_inner_border_of_the_region():
    m = _square()
    line = level_outline(m, 0.5, width=1)
    expected = np.zeros_like(line)
    expected[20:40, 20:40] = True
    expected[21:39, 21:39] = False
    assert np.array_equal(line, expected)
    thick = level_outline(m, 0.5, width=3)
    assert thick.sum() == 20 * 20 - 14 * 14
    assert not level_outline(m, 1.5).any()


def test_outline_colours_each_level_by_the_colour_map():
    yy, xx = np.mgrid[0:128, 0:128]
    cone = np.clip(1 - np.hypot(xx - 64, yy - 64) / 64, 0, 1).astype(np.float32)
    rgba = outline_rgba(cone, "viridis", 1.0, levels=(0.25, 0.75))
    lut = colormap_lut("viridis")
    colours = {tuple(c) for c in rgba[rgba[..., 3] > 0][:, :3]}
    assert colours == {tuple(lut[63]), tuple(lut[191])}
    assert (rgba[..., 3] > 0).mean() < 0.1  # lines, not areas


def test_heatmap_and_both_modes():
    heat = np.linspace(0, 1, 256, dtype=np.float32).reshape(16, 16)
    rgba = heatmap_rgba(heat, "jet", 0.5)
    assert np.array_equal(rgba[..., :3].reshape(-1, 3), colormap_lut("jet"))
    assert (rgba[..., 3] == 128).all()
    both = overlay_rgba(_square(), "both", "jet", 0.3)
    lines = level_outline(_square(), 0.5, 1)
    assert np.array_equal(both[lines, :3], np.repeat(colormap_lut("jet")[191][None], lines.sum(), 0))  # 0.75 on top
    assert (both[lines, 3] == round(0.6 * 255)).all() and (both[~lines, 3] == round(0.3 * 255)).all()
    with pytest.raises(ValueError):
        overlay_rgba(heat, "sparkles", "jet", 0.5)  # type: ignore[arg-type]


def test_heatmap_composited_over_the_image_matches_the_cli_rendering():
    """The app's RGBA layer, alpha-composited over the image, looks like ``radlens explain``'s PNG."""
    rng = np.random.default_rng(3)
    display = rng.random((40, 50)).astype(np.float32)
    heat = rng.random((40, 50)).astype(np.float32)
    rgba = heatmap_rgba(heat, "jet", 0.45).astype(np.float32)
    base = to_rgb(display).astype(np.float32)
    a = rgba[..., 3:] / 255.0
    composite = base * (1 - a) + rgba[..., :3] * a
    reference = blend_heatmap(display, heat, cmap="jet", alpha=0.45).astype(np.float32)
    assert np.abs(composite - reference).max() <= 1.0  # alpha is quantised to 1/255


def test_colour_scale_states_mode_and_range():
    text = ColourScale("per_map", 0.0, 1.93).describe()
    assert "per-map min-max" in text and "0" in text and "1.93" in text
    assert "raw values" in ColourScale("raw", -0.5, 2.0).describe()


def test_score_rows_lay_out_every_annotator_and_the_user():
    pred = np.array([[0, 0, 10, 10]], float)
    gt = score_boxes(pred, {"R1": [[0, 0, 10, 10]], "R2": [[5, 0, 15, 10]]})
    user = score_boxes(pred, {"me": [[0, 0, 10, 20]]})
    loc = ClassLocalisation("X", "top:0.05", pred, gt=gt, user=user, pointing_hit=True, energy=0.8, diff=0.1)
    rows = {r.key: r for r in score_rows(loc)}
    assert rows["gt:R1"].value == pytest.approx(1.0)
    assert rows["gt:R2"].value == pytest.approx(50 / 150)  # overlap 5x10, union 150
    assert rows["gt:mean"].value == pytest.approx((1.0 + 50 / 150) / 2)
    assert rows["gt:best"].value == pytest.approx(1.0)
    assert rows["user:mean"].value == pytest.approx(0.5)
    assert rows["pointing"].text == "hit" and rows["energy"].text == "0.800"
    assert "call" not in rows
    empty = {r.key: r for r in score_rows(ClassLocalisation("X", "otsu", np.zeros((0, 4))), positive=False)}
    assert empty["call"].text == "negative"
    assert empty["gt:none"].value is None and empty["user:mean"].text == "no box of this class"
    assert empty["boxes"].value == 0

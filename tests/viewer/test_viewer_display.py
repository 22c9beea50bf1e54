"""Pure display maths against independent references: windowing fast path, orientation, ruler."""

from __future__ import annotations

import numpy as np
import pytest

from engine.io import SpacingSource, Window, apply_window
from viewer.annotation_layer import clamp_box
from viewer.display import (
    Orientation,
    drag_window,
    linear_levels,
    orientation_matrix,
    quantise,
    window_table,
)
from viewer.measure import measure


def _levels_display(q, levels):
    """What pyqtgraph draws for integer data and linear levels (0..1): its documented mapping."""
    lo, hi = levels
    return np.clip((q.index.astype(np.float64) - lo) / (hi - lo), 0, 1)


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT"])
def test_linear_levels_match_the_dicom_window(function):
    rng = np.random.default_rng(0)
    raw = rng.integers(-1024, 3072, (64, 64)).astype(np.float32)  # CT-like HU
    q = quantise(raw)
    assert q.step == 1.0 and np.array_equal(q.offset + q.index.astype(np.float32), raw)  # exact
    window = Window(40.0, 400.0, function)
    expected = apply_window(raw, 40.0, 400.0, function)
    got = _levels_display(q, linear_levels(window, q))
    assert np.abs(got - expected).max() < 1e-5
    assert linear_levels(Window(0, 10, "SIGMOID"), q) is None


def test_window_table_is_the_engines_window_for_every_value():
    raw = np.arange(0, 4096, dtype=np.float32).reshape(64, 64)
    q = quantise(raw)
    window = Window(1000.0, 600.0, "SIGMOID")
    table = window_table(window, q, invert=False)
    expected = np.rint(apply_window(raw, 1000.0, 600.0, "SIGMOID") * 255).astype(np.uint8)
    assert np.array_equal(table[q.index], expected)
    inverted = window_table(window, q, invert=True)
    assert np.abs(inverted[q.index].astype(int) - (255 - expected.astype(int))).max() <= 1


def test_quantise_non_integer_data_keeps_order_and_range():
    raw = np.linspace(-0.5, 0.75, 1000, dtype=np.float32).reshape(10, 100)
    q = quantise(raw)
    restored = q.offset + q.index * q.step
    assert np.abs(restored - raw).max() <= q.step / 2 + 1e-6
    assert np.all(np.diff(q.index.ravel().astype(int)) >= 0)


def test_drag_window_directions():
    w = Window(100.0, 200.0, "LINEAR")
    right = drag_window(w, 10, 0, (0, 1000))
    down = drag_window(w, 0, 10, (0, 1000))
    assert right.width > w.width and right.center == w.center
    assert down.center > w.center and down.width == w.width
    assert drag_window(w, -1e6, 0, (0, 1000)).width == 1.0


@pytest.mark.parametrize("rotation", [0, 1, 2, 3])
@pytest.mark.parametrize("flip_h", [False, True])
@pytest.mark.parametrize("flip_v", [False, True])
def test_orientation_matrix_matches_numpy_rot90_and_flips(rotation, flip_h, flip_v):
    h, w = 3, 5
    image = np.arange(h * w).reshape(h, w)
    ref = np.rot90(image, k=-rotation)  # clockwise
    if flip_h:
        ref = ref[:, ::-1]
    if flip_v:
        ref = ref[::-1, :]
    m = orientation_matrix(Orientation(rotation, flip_h, flip_v), w, h)
    for r in range(h):
        for c in range(w):
            x, y, _ = m @ np.array([c + 0.5, r + 0.5, 1.0])  # pixel centre
            assert ref[int(np.floor(y)), int(np.floor(x))] == image[r, c]


def test_measure_uses_row_column_spacing_and_names_the_source():
    m = measure((0, 0), (30, 40), (0.5, 0.2), SpacingSource.PIXEL_SPACING)
    assert m.unit == "mm" and m.value == pytest.approx(np.hypot(30 * 0.2, 40 * 0.5))
    assert m.label().endswith("(PixelSpacing)")
    px = measure((0, 0), (3, 4), None)
    assert (px.value, px.unit, px.source) == (5.0, "px", "no spacing")


def test_clamp_box_orders_and_clips():
    assert clamp_box((120, 50), (-5, 10), (100, 100)) == (0.0, 10.0, 100.0, 50.0)

"""Pure pipeline functions against the DICOM formulas and pydicom's reference implementation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_windowing

from engine.io import (
    apply_presentation,
    apply_rescale,
    apply_voi_lut_table,
    apply_window,
    auto_window,
)


def _pydicom_window(values: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """pydicom's apply_windowing on a 16-bit unsigned dataset, scaled to [0, 1]."""
    ds = Dataset()
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelRepresentation = 0
    ds.BitsStored = 16
    ds.WindowCenter = center
    ds.WindowWidth = width
    ds.VOILUTFunction = function
    with np.errstate(over="ignore"):
        return apply_windowing(values.astype(np.float64), ds) / 65535.0


@pytest.mark.parametrize("function", ["LINEAR", "LINEAR_EXACT", "SIGMOID"])
@pytest.mark.parametrize(("center", "width"), [(40, 400), (1024.5, 1), (-600, 1500), (7, 2.5)])
def test_io_window_matches_pydicom(function: str, center: float, width: float) -> None:
    if function != "LINEAR" and width == 1:
        width = 0.5
    values = np.linspace(-2000, 3000, 2001)
    ours = apply_window(values, center, width, function)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, _pydicom_window(values, center, width, function), atol=2e-6)


def test_io_linear_formula_by_hand() -> None:
    # C.11.2.1.2.1 with c = 200, w = 201: c - 0.5 = 199.5, w - 1 = 200
    out = apply_window(np.array([0, 99.5, 100, 200, 299.5, 300]), 200, 201, "LINEAR")
    np.testing.assert_allclose(out, [0, 0, 0.0025, 0.5025, 1, 1], atol=1e-6)


def test_io_sigmoid_formula_by_hand() -> None:
    xs = [0.0, 25.0, 50.0, 100.0]
    expected = [1 / (1 + math.exp(-4 * (x - 50) / 100)) for x in xs]
    np.testing.assert_allclose(apply_window(np.array(xs), 50, 100, "sigmoid"), expected, rtol=1e-6)


def test_io_window_bad_function_and_nan() -> None:
    with pytest.raises(ValueError, match="VOI LUT function"):
        apply_window(np.zeros(2), 0, 1, "CUBIC")
    out = apply_window(np.array([np.nan, 5.0]), 0, 10, "LINEAR_EXACT")
    assert out[0] == 0.0 and out[1] == 1.0


def test_io_voi_lut_table_lookup() -> None:
    table = np.array([0, 85, 170, 255])
    out = apply_voi_lut_table(np.array([5, 10, 11, 11.4, 12, 13, 99]), table, 10, 8)
    np.testing.assert_allclose(out, [0, 0, 1 / 3, 1 / 3, 2 / 3, 1, 1], atol=1e-6)


def test_io_rescale_presentation_auto() -> None:
    np.testing.assert_allclose(apply_rescale(np.array([0, 10], np.int16), 2, -1024), [-1024, -1004])
    np.testing.assert_allclose(apply_presentation(np.array([0.0, 0.25], np.float32), True), [1, 0.75])
    assert auto_window(np.array([-10.0, 30.0])) == (10.0, 40.0)
    assert auto_window(np.full(3, 7.0)) == (7.0, 1.0)

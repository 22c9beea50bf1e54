"""engine.localise.runs against SciPy: the same labels, boxes and pixel counts on masks of every kind."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.localise.runs import components


def _scipy(mask: np.ndarray, connectivity: int) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    labels, n = ndimage.label(mask, structure=ndimage.generate_binary_structure(2, connectivity))
    boxes = np.array([(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels, n)],
                     dtype=np.float64).reshape(-1, 4)
    return labels, n, boxes, np.bincount(labels.ravel(), minlength=n + 1)[1:]


def _masks() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    out = [np.zeros((5, 7), bool), np.ones((6, 4), bool), np.ones((1, 1), bool), np.zeros((1, 9), bool),
           np.eye(6, dtype=bool), np.eye(6, dtype=bool)[::-1], np.tile([[1, 0], [0, 1]], (5, 6)).astype(bool)]
    snake = np.zeros((40, 30), bool)  # one long path: many rounds of joining for a naive propagation
    snake[::2] = True
    snake[1::4, -1] = True
    snake[3::4, 0] = True
    out.append(snake)
    for _ in range(150):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        p = float(rng.choice([0.03, 0.2, 0.45, 0.6, 0.85]))
        out.append(rng.random((h, w)) < p)
        blobs = ndimage.uniform_filter(rng.random((h, w)), 5)
        out.append(blobs > np.quantile(blobs, rng.uniform(0.3, 0.8)))
    return out


@pytest.mark.parametrize("connectivity", [1, 2])
def test_components_equal_scipy_label_and_find_objects(connectivity):
    for mask in _masks():
        labels, n, boxes, areas = _scipy(mask, connectivity)
        got = components(mask, connectivity, paint=True)
        assert got.n == n
        np.testing.assert_array_equal(got.labels, labels)
        np.testing.assert_array_equal(got.boxes, boxes)
        np.testing.assert_array_equal(got.areas, areas)
        assert got.boxes.dtype == np.float64 and got.areas.dtype == np.int64
        assert components(mask, connectivity).labels is None


def test_connectivity_matters_on_diagonals_and_non_bool_masks_are_thresholded_at_zero():
    diagonal = np.eye(4, dtype=np.uint8) * 3
    assert components(diagonal, 2).n == 1 and components(diagonal, 1).n == 4
    np.testing.assert_array_equal(components(diagonal, 2).boxes, [[0, 0, 4, 4]])
    with pytest.raises(ValueError, match="connectivity"):
        components(diagonal, 3)
    with pytest.raises(ValueError, match="2-D"):
        components(np.ones(3, bool))

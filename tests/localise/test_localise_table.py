"""Per-class localisation table over images (mean IoU by top fraction)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import ShapeError
from engine.localise import RESEARCH_TOP_FRACTIONS, localisation_table

# 20 x 20 map increasing row-major: the top 1 % / 5 % / 10 % are the last 4 pixels, the last
# row, the last two rows -> boxes (16,19,20,20), (0,19,20,20), (0,18,20,20).
RAMP = np.arange(400, dtype=np.float64).reshape(20, 20)


def test_table_by_hand() -> None:
    maps = [RAMP, RAMP, RAMP, RAMP]
    gts: list[dict[str, list[tuple[int, int, int, int]]]] = [
        {"r1": [(0, 19, 20, 20)]},  # IoUs 4/20, 1, 20/40
        {"r1": [(0, 18, 20, 20)], "r2": []},  # IoUs 4/40, 20/40, 1
        {"r1": []},  # class absent: skipped
        {"r1": [(0, 0, 1, 1)]},  # excluded by the caller
    ]
    table = localisation_table(maps, gts, fractions=(0.01, 0.05, 0.1), include=[True, True, True, False])
    assert table.image_indices == (0, 1)
    assert table.n_images == 2
    np.testing.assert_allclose(table.per_image, [[0.2, 1.0, 0.5], [0.1, 0.5, 1.0]])
    assert table.mean_iou == pytest.approx((0.15, 0.75, 0.75))
    assert table.as_dict() == pytest.approx({"top:0.01": 0.15, "top:0.05": 0.75, "top:0.1": 0.75})


def test_table_defaults_and_empty() -> None:
    table = localisation_table([RAMP], [{"r1": [(0, 19, 20, 20)]}])
    assert table.fractions == RESEARCH_TOP_FRACTIONS
    assert table.per_image.shape == (1, len(RESEARCH_TOP_FRACTIONS))
    assert (table.policy, table.mode) == ("mean", "all")
    empty = localisation_table([RAMP], [{"r1": []}], fractions=(0.05,))
    assert empty.n_images == 0 and empty.per_image.shape == (0, 1)
    assert math.isnan(empty.mean_iou[0])


def test_table_length_mismatch() -> None:
    with pytest.raises(ShapeError):
        localisation_table([RAMP], [])
    with pytest.raises(ShapeError):
        localisation_table([RAMP], [{"r1": []}], include=[True, False])

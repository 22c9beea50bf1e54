"""The research's Δp table over a data set, against answers worked out by hand on the region model.

Class A's logit is ``2 * mean((x - 0.5) / 0.25)`` over REGION (80 pixels), class B's the same over
OTHER; saliency puts A's map exactly on REGION (ties inside it), so the top k <= 80 pixels of A's
map are k pixels of REGION and nothing else.
"""

from __future__ import annotations

import numpy as np
import pytest
from perturb_models import OTHER, REGION, SIZE, region_image, region_model, sigmoid

from engine.errors import RadLensError
from engine.perturb.dataset import delta_table, table_document
from engine.perturb.replace import Replacement

AREA = 80
FRACTIONS = (20 / SIZE**2, AREA / SIZE**2)  # 20 pixels of REGION, then all of it


def p_after_zeroing(value: float, k: int) -> float:
    """A's probability when k of REGION's 80 pixels (all at ``value``) become 0."""
    mean = value * (AREA - k) / AREA
    return sigmoid(2.0 * (mean - 0.5) / 0.25)


def images() -> list[tuple[str, np.ndarray, list[str] | None]]:
    both = region_image(0)  # REGION and OTHER at 0.9: A and B predicted
    only_a = region_image(1)
    only_a[REGION] = 0.8
    only_a[OTHER] = 0.1  # B's logit -3.2, p 0.04: not predicted
    return [("both", both, ["A", "B"]), ("only_a", only_a, ["A"])]


@pytest.fixture(scope="module")
def table():
    return delta_table(region_model(), images(), method="saliency", replacement=Replacement.make("zero"),
                       fractions=FRACTIONS)


def test_rows_are_the_predicted_classes_and_average_over_their_images(table) -> None:
    assert table.images == {"A": ["both", "only_a"], "B": ["both"]}
    d = table.to_dict()
    assert d["A"]["n"] == 2 and d["B"]["n"] == 1
    for j, (f, k) in enumerate(zip(FRACTIONS, (20, AREA), strict=True)):
        key = f"{f:g}"
        per_image = [sigmoid(2.0 * (0.9 - 0.5) / 0.25) - p_after_zeroing(0.9, k),
                     sigmoid(2.0 * (0.8 - 0.5) / 0.25) - p_after_zeroing(0.8, k)]
        assert d["A"]["delta_p"][key]["A"] == pytest.approx(np.mean(per_image), abs=1e-6)
        assert d["A"]["delta_p_sd"][key]["A"] == pytest.approx(np.std(per_image, ddof=1), abs=1e-6)
        # B does not look at REGION: replacing A's pixels leaves it exactly where it was
        assert d["A"]["delta_p"][key]["B"] == pytest.approx(0.0, abs=1e-7)
        # and the other way round: B's row moves B only
        assert d["B"]["delta_p"][key]["A"] == pytest.approx(0.0, abs=1e-7)
        assert d["B"]["delta_p"][key]["B"] == pytest.approx(per_image[0], abs=1e-6)
        assert table.mean("A")[j, 0] == pytest.approx(np.mean(per_image), abs=1e-6)


def test_the_random_control_takes_the_same_number_of_pixels_and_moves_less(table) -> None:
    d = table.to_dict()
    for f in FRACTIONS:
        key = f"{f:g}"
        assert 0.0 <= d["A"]["random_control"][key] < d["A"]["delta_p"][key]["A"]


def test_row_policies_and_the_document(table) -> None:
    model = region_model()
    gt = delta_table(model, images(), method="saliency", replacement=Replacement.make("zero"), fractions=FRACTIONS,
                     rows="ground_truth")
    assert gt.images == table.images
    correct = delta_table(model, [(n, img, ["B"]) for n, img, _ in images()], method="saliency",
                          replacement=Replacement.make("zero"), fractions=FRACTIONS, rows="correct")
    assert correct.images == {"B": ["both"]}  # B is in both ground truths but predicted in one image
    with pytest.raises(RadLensError, match="needs ground truth"):
        delta_table(model, [("x", region_image(), None)], method="saliency", rows="ground_truth")
    doc = table_document(table, model, method="saliency", replacement=Replacement.make("zero"), order="morf",
                         rows="predicted", resolution="model", seed=0, data="somewhere")
    assert doc["format"] == "radlens.perturbation-table" and set(doc["table"]) == {"A", "B"}
    lines = table.to_csv().splitlines()
    assert lines[0].startswith("row_class,fraction,n,delta_p[A],delta_p[B]") and len(lines) == 1 + 2 * 2
    assert "random" in table.to_text()


def test_images_may_be_a_generator() -> None:
    """The CLI streams the data set (one image in memory at a time)."""
    gen = (item for item in images())
    t = delta_table(region_model(), gen, method="saliency", replacement=Replacement.make("zero"),
                    fractions=FRACTIONS[:1])
    assert t.images["A"] == ["both", "only_a"]


def test_control_seeds_average_the_single_seed_controls_and_keep_the_ranked_delta() -> None:
    """One call with ``control_seeds`` equals the mean of one call per seed (the image is explained once)."""
    model, zero = region_model(), Replacement.make("zero")
    seeds = (3, 4, 5)
    together = delta_table(model, images(), method="saliency", replacement=zero, fractions=FRACTIONS,
                           seed=seeds[0], control_seeds=seeds)
    apart = [delta_table(model, images(), method="saliency", replacement=zero, fractions=FRACTIONS, seed=s)
             for s in seeds]
    for c in together.rows:
        np.testing.assert_allclose(together.rows[c], apart[0].rows[c], atol=1e-6)
        np.testing.assert_allclose(together.control[c], np.mean([t.control[c] for t in apart], axis=0), atol=1e-6)
    assert not np.allclose(apart[0].control["A"], apart[1].control["A"])  # the seeds really differ

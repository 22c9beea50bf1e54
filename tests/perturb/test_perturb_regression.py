"""Perturbation of a regression model: the predicted VALUE moves, by an amount known in advance.

The synthetic model (:class:`perturb_models.RegionNet`, bundled as ``task: regression``) predicts
``y_A = gain * mean(x_norm on A)`` and ``y_B = gain * mean(x_norm on B)`` with ``x_norm = (v - 0.5) /
0.25`` of the display value ``v``. Replacing A by the image mean ``m`` (computed here with numpy on the
image) moves ``y_A`` from ``gain * (0.9 - 0.5) / 0.25`` to ``gain * (m - 0.5) / 0.25`` and leaves
``y_B`` alone; no softmax or sigmoid touches the values.
"""

from __future__ import annotations

import numpy as np
import pytest
from perturb_models import OTHER, REGION, SIZE, RegionNet, region_image, region_map

from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest
from engine.perturb import PerturbationLab, PerturbationResult, Replacement, build_document
from engine.perturb.curves import run_curves

GAIN = 2.0


def _norm(v: float) -> float:
    return (v - 0.5) / 0.25


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    manifest = ModelManifest.from_dict({
        "name": "region-regressor", "version": "1", "architecture": "region", "task": "regression",
        "outputs": [{"name": "A", "unit": "mm"}, {"name": "B", "unit": "ratio"}], "in_channels": 1,
        "input_size": [SIZE, SIZE], "mean": [0.5], "std": [0.25]})
    return LoadedModel.from_module(RegionNet(GAIN), manifest)


def test_values_are_raw_outputs_and_replacing_a_moves_y_a_by_the_computed_amount(model: LoadedModel) -> None:
    img = region_image()
    lab = PerturbationLab(model, img, model_map=region_map(), resolution="model")
    y_a, y_b = GAIN * _norm(float(img[REGION].mean())), GAIN * _norm(float(img[OTHER].mean()))
    assert lab.regression and lab.units == ("mm", "ratio")
    np.testing.assert_allclose(lab.original, [y_a, y_b], rtol=1e-5)  # 3.2 each: not a probability
    m = float(img.mean())  # the "image mean" replacement fills the mean of the unperturbed image
    expected_a = GAIN * _norm(m)
    area = REGION[0].stop - REGION[0].start, REGION[1].stop - REGION[1].start
    # the region tool on A's box (pixel edges)
    box = [REGION[1].start, REGION[0].start, REGION[1].stop, REGION[0].stop]
    r = lab.region(box, Replacement.make("mean"))
    assert r.regression and r.units == ("mm", "ratio") and r.k == area[0] * area[1]
    np.testing.assert_allclose(r.values, [expected_a, y_b], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(r.delta_p, [y_a - expected_a, 0.0], atol=1e-5)  # Δvalue, A's own unit
    # the slider: the map ranks A first, so A's share of the pixels replaces exactly A
    s = lab.perturb(area[0] * area[1] / SIZE**2, "morf", Replacement.make("mean"))
    np.testing.assert_allclose(s.values, r.values, atol=1e-6)
    np.testing.assert_array_equal(s.mask, r.mask)


def test_curves_follow_the_value_with_a_random_band_and_the_document_says_regression(model: LoadedModel) -> None:
    img = region_image()
    lab = PerturbationLab(model, img, model_map=region_map(), resolution="model")
    n_a = (REGION[0].stop - REGION[0].start) * (REGION[1].stop - REGION[1].start)
    fractions = [0.0, n_a / SIZE**2, 0.5]
    curves = run_curves(lab, "A", fractions=fractions, seeds=(0, 1, 2), replacement=Replacement.make("mean"))
    assert curves.regression and curves.unit == "mm"
    d = curves.scores("deletion", "morf")
    expected_a = GAIN * _norm(float(img.mean()))
    np.testing.assert_allclose(d[:2], [lab.original[0], expected_a], rtol=1e-5)
    assert curves.random_deletion.shape == (3, 3, 2)
    # random orders replace A only in part: at A's share of the pixels they move y_A less than MoRF does
    assert np.all(curves.random_deletion[:, 1, 0] > d[1] + 1e-3)
    doc = build_document(model, image="x", target="A", order="morf", replacement=Replacement.make("mean"),
                         resolution="model", seed=0, original=lab.original, curves=curves)
    back = PerturbationResult.from_dict(doc.to_dict())
    assert back.to_dict()["task"] == "regression" and back.to_dict()["units"] == {"A": "mm", "B": "ratio"}
    assert "regression" in back.definitions and back.original["A"] == pytest.approx(lab.original[0])
    assert back.summary.aopc == pytest.approx(float(np.mean(lab.original[0] - d)))
    # the PDF report's settings table says the scores are values, in A's unit
    from engine.report.tables import perturbation_rows

    rows = {r[0]: r[1] for r in perturbation_rows(back)}
    assert rows["Output"] == "A" and rows["Scores"].startswith("predicted values in mm, not probabilities")
    assert "Class" not in rows


def test_data_set_table_has_every_output_as_a_row_and_moves_its_value(model: LoadedModel) -> None:
    """``radlens perturb --data`` with a regression model: no output is "predicted" by a threshold,
    so each one is a row; gradient × input's "raises" map of A is A, so replacing A's share of the
    pixels by the image mean moves y_A by the computed amount and leaves y_B."""
    from engine.errors import RadLensError
    from engine.perturb.dataset import delta_table, table_document

    img = region_image()
    area = (REGION[0].stop - REGION[0].start) * (REGION[1].stop - REGION[1].start)
    fraction = area / SIZE**2
    table = delta_table(model, [("synthetic", img, None)], method="gradient_x_input", fractions=[fraction],
                        resolution="model")
    assert table.score == "value" and sorted(table.rows) == ["A", "B"]
    y_a, expected_a = GAIN * _norm(float(img[REGION].mean())), GAIN * _norm(float(img.mean()))
    np.testing.assert_allclose(table.mean("A")[0], [y_a - expected_a, 0.0], atol=1e-5)
    doc = table_document(table, model, method="gradient_x_input", replacement=Replacement.make("mean"),
                         order="morf", rows="predicted", resolution="model", seed=0, data="synthetic")
    assert doc["score"] == "value" and doc["units"] == {"A": "mm", "B": "ratio"} and "raises" in doc["definition"]
    assert "value_original - value" in table.to_text()
    with pytest.raises(RadLensError, match="every output is a row"):
        delta_table(model, [("synthetic", img, ["A"])], method="gradient_x_input", fractions=[fraction],
                    rows="ground_truth")

"""pytest-qt: the Perturbation panel with a regression model shows how the predicted VALUE moves.

The model (``perturb_models.RegionNet`` as ``task: regression``) predicts ``y_A = 2 * mean((v - 0.5) / 0.25)``
over region A of the display values ``v``: replacing A by the image mean ``m`` must show
``y_A = 2 * (m - 0.5) / 0.25`` with A's unit, computed here from the PNG's pixels with PIL and numpy.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from perturb_panel_helpers import Host, open_panel
from PIL import Image
from PySide6.QtWidgets import QMainWindow

import engine
from engine.annotations import AnnotationSet, BoxAnnotation, Source
from engine.io import load_image
from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "perturb"))
from perturb_models import REGION, SIZE, RegionNet, region_image

GAIN = 2.0


@pytest.fixture()
def host(qtbot, tmp_path: Path) -> Host:
    manifest = ModelManifest.from_dict({
        "name": "region-regressor", "version": "1", "architecture": "region", "task": "regression",
        "outputs": [{"name": "A", "unit": "mm"}, {"name": "B", "unit": "ratio"}], "in_channels": 1,
        "input_size": [SIZE, SIZE], "mean": [0.5], "std": [0.25]})
    window = QMainWindow()
    qtbot.addWidget(window)
    h = Host(window)
    Image.fromarray((255 * region_image()).round().astype(np.uint8)).save(tmp_path / "x.png")
    h.state.update(model=LoadedModel.from_module(RegionNet(GAIN), manifest))
    h.state.open_image(load_image(tmp_path / "x.png"), tmp_path / "x.png", AnnotationSet(), AnnotationSet())
    return h


@pytest.fixture()
def panel(qtbot, host: Host):
    yield from open_panel(qtbot, host)


def test_region_of_the_raises_map_moves_the_value_with_its_unit(qtbot, panel, host: Host, tmp_path: Path) -> None:
    ex = engine.explain(host.state.model, host.state.image, "gradient_x_input")
    assert ex.is_regression and ex.direction == "raises"
    host.state.update(explanation=ex, selected_class="A")
    qtbot.waitUntil(lambda: panel.applied >= 1, timeout=10000)
    v = np.asarray(Image.open(tmp_path / "x.png"), np.float64) / 255.0  # the pixels as the model sees them
    y_a = GAIN * (v[REGION].mean() - 0.5) / 0.25
    label = panel.source_label.text()
    assert "Output <b>A</b>" in label and "<b>raises</b>" in label and f"value = {y_a:.3f} mm" in label
    bars = panel.bars
    assert bars.is_values and bars.units == ("mm", "ratio")
    np.testing.assert_allclose(bars.original[0], y_a, rtol=1e-5)  # the value, not a probability (softmax: 1.0)
    axis = bars.getPlotItem().getAxis("left" if not bars.horizontal else "bottom")
    assert axis.labelText == "value" and not axis.autoSIPrefix  # two units: no unit in the label; 0.66 not "660 m"
    # replace A (its box, pixel edges) by the image mean
    box = (float(REGION[1].start), float(REGION[0].start), float(REGION[1].stop), float(REGION[0].stop))
    host.state.edit_user_boxes(AnnotationSet(boxes=(BoxAnnotation("user", *box, annotator="me",
                                                                  source=Source.USER),)), "draw box")
    panel.mode.setCurrentText("Image mean")
    qtbot.waitUntil(lambda: not panel.runner.is_busy(), timeout=10000)
    assert panel.replace_region() is not None
    qtbot.waitUntil(lambda: host.state.perturbation is not None and "region" in host.state.perturbation,
                    timeout=10000)
    expected = GAIN * (v.mean() - 0.5) / 0.25
    np.testing.assert_allclose(bars.perturbed[0], expected, rtol=1e-5)
    np.testing.assert_allclose(bars.perturbed[1], bars.original[1], atol=1e-6)  # B untouched
    assert bars.label_texts()[0] == f"{y_a:.3f} → {expected:.3f} mm ({expected - y_a:+.3f})"
    assert f"A {y_a:.3f} → {expected:.3f} mm ({expected - y_a:+.3f})" in panel.status.text()
    doc = host.state.perturbation.to_dict()
    assert doc["task"] == "regression" and doc["units"] == {"A": "mm", "B": "ratio"}
    assert doc["region"]["delta_p"]["A"] == pytest.approx(y_a - expected, rel=1e-5)
    # the lowers map is the source when the explanation panel switches to it
    host.state.update(explanation=ex.directed("lowers"))
    assert "<b>lowers</b>" in panel.source_label.text()


def test_curves_follow_the_value_with_the_random_band(qtbot, panel, host: Host) -> None:
    ex = engine.explain(host.state.model, host.state.image, "gradient_x_input")
    host.state.update(explanation=ex, selected_class="A")
    qtbot.waitUntil(lambda: panel.applied >= 1 and not panel.runner.is_busy(), timeout=10000)
    panel.curve_fractions = [0.0, 0.25, 0.5, 1.0]
    panel.curve_seeds = (0, 1, 2)
    panel.compute_curves()
    qtbot.waitUntil(lambda: panel.curves_view.result is not None, timeout=20000)
    view = panel.curves_view
    curves = view.result
    assert curves.regression and curves.unit == "mm" and view.auc_rows() == ["morf", "lerf", "random"]
    y0 = float(curves.original[0])
    assert "value = " in view.summary.text() and "mm (predicted)" in view.summary.text()
    assert f"{y0:.3f}" in view.summary.text()
    plot = view.plots["deletion"].getPlotItem()
    assert plot.getAxis("left").labelText == "value (mm)"
    low, high = plot.viewRange()[1]
    assert low <= float(curves.scores("deletion", "morf").min()) and high >= y0  # the axis fits the values
    assert host.state.perturbation.to_dict()["task"] == "regression"

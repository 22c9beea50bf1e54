"""A PDF report of a regression model's explanation: value with unit, and both direction maps."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import torchvision
from report_helpers import demo_annotations, flat, pdf_pages_text

from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest


@pytest.fixture(scope="module")
def ctr_model() -> LoadedModel:
    torch.manual_seed(1)
    net = torchvision.models.resnet18(num_classes=1)
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    manifest = ModelManifest.from_dict({
        "name": "ctr-report", "version": "2", "architecture": "resnet18", "task": "regression",
        "outputs": [{"name": "Cardiothoracic ratio", "unit": "ratio"}], "in_channels": 1, "input_size": [96, 96],
        "mean": [0.5], "std": [0.25], "target_layer": "layer3"})
    return LoadedModel.from_module(net, manifest)


def test_report_carries_value_unit_and_both_directions(tmp_path: Path, ctr_model: LoadedModel,
                                                       demo_image: Any) -> None:
    import engine
    from engine.report import build_report_input, write_report

    result = engine.explain(ctr_model, demo_image, "gradcam").directed("lowers")
    inp = build_report_input(demo_image, ctr_model, result, None, threshold="top:0.05",
                             ground_truth=demo_annotations())
    assert inp.classes == ("Cardiothoracic ratio",)
    path = tmp_path / "ctr.pdf"
    write_report(inp, path)
    text = flat(" ".join(pdf_pages_text(path)))
    value = f"{result.value(0):.4g}"
    assert "Predicted value" in text and f"{value} ratio" in text
    assert "map: what lowers it" in text and "What raises the value" in text
    assert "raises and lowers" in text and "Probability" not in text.split("Model output")[1].split("Explanation")[0]


def test_model_card_of_the_bundled_ctr_model_lists_its_held_out_figures() -> None:
    from engine.models.manifest import DEFAULT_BUNDLE_DIR
    from engine.report.model import _regression_rows

    manifest = ModelManifest.read(DEFAULT_BUNDLE_DIR / "phantom-ctr-resnet18" / "model.json")
    held = manifest.provenance["held_out"]["per_output"]["Cardiothoracic ratio"]
    rows = dict(_regression_rows(manifest.provenance))
    assert rows["Cardiothoracic ratio (held-out, n = 300)"] == (
        f"MAE {held['mae']:.4f}, R² {held['r2']:.3f}, Pearson r {held['pearson_r']:.3f}")
    assert held["n"] == 300 and held["mae"] < 0.03 and held["r2"] > 0.8
    assert "Cardiothoracic ratio (validation, n = 196)" in rows

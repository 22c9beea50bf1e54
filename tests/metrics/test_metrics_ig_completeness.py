"""Issue #14: Integrated Gradients reports its completeness gap with every result.

References: Captum's ``IntegratedGradients.compute_convergence_delta`` (the same quantity as
``attribute(..., return_convergence_delta=True)``) applied to RadLens's own attributions, and a
cubic model whose trapezoid error is known in closed form.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any, cast

import numpy as np
import pytest
import torch
from captum.attr import IntegratedGradients
from shared_models import make_manifest
from torch import nn

from engine import explain
from engine.explainers.gradients import IG_COMPLETENESS_TOLERANCE
from engine.explainers.result import ExplanationResult
from engine.models.bundle import LoadedModel
from engine.preprocess import to_model_input
from engine.report.tables import completeness_rows, method_rows


class Cubic(nn.Module):
    """``f_k(x) = scale_k * sum(x**3)``: its gradient is quadratic, so the trapezoid rule errs."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([1.0, -0.5]), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x**3).sum(dim=(1, 2, 3))[:, None] * self.scale[None, :]


class Linear(nn.Module):
    """A linear score: Integrated Gradients is exact at any number of steps."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.linspace(-1, 1, 3 * 16 * 16).reshape(1, 3, 16, 16), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = (x * self.w).sum(dim=(1, 2, 3))
        return torch.stack([s, -2 * s + 0.3], dim=1)


def _loaded(net: nn.Module, size: int = 16) -> LoadedModel:
    return LoadedModel.from_module(net, make_manifest("synthetic", 2, size))


def _baseline(model: LoadedModel, x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(model.manifest.mean)[None, :, None, None]
    std = torch.tensor(model.manifest.std)[None, :, None, None]
    return ((0 - mean) / std).expand_as(x)


def test_gap_equals_captum_convergence_delta(tiny_pair, rng) -> None:
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    result = explain(model, image, "integrated_gradients", steps=8, baseline="black", normalisation="raw")
    rows = result.diagnostics["completeness"]
    assert [r["class_index"] for r in rows] == [0, 1, 2]
    ig = IntegratedGradients(peer)
    for c, row in enumerate(rows):
        attr = torch.zeros_like(x)
        attr[0, 0] = torch.from_numpy(result.native_maps[c])  # delta only needs the total
        delta = ig.compute_convergence_delta(attr, _baseline(model, x), x, target=c)
        assert row["gap"] == pytest.approx(float(delta), rel=1e-4, abs=1e-6)
        with torch.no_grad():
            expected = float((peer(x) - peer(_baseline(model, x)))[0, c])
        assert row["expected"] == pytest.approx(expected, rel=1e-5, abs=1e-6)
        assert row["relative_gap"] == pytest.approx(abs(row["gap"]) / abs(expected), rel=1e-6)


def test_cubic_model_gap_has_its_closed_form_and_warns() -> None:
    model = _loaded(Cubic())
    rng = np.random.default_rng(4)
    image = rng.random((16, 16)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    b = _baseline(model, x)
    result = explain(model, image, "integrated_gradients", steps=2, baseline="black", normalisation="raw")
    # two trapezoid nodes: mean gradient 1.5 (b^2 + x^2); exact path integral x^2 + x b + b^2
    attr_sum = float(((x - b) * 1.5 * (b**2 + x**2)).sum().double())
    exact = float((x**3 - b**3).sum().double())
    for row, scale in zip(result.diagnostics["completeness"], (1.0, -0.5), strict=True):
        assert row["attribution_sum"] == pytest.approx(scale * attr_sum, rel=1e-4)
        assert row["expected"] == pytest.approx(scale * exact, rel=1e-4)
        assert row["gap"] == pytest.approx(scale * (attr_sum - exact), rel=1e-3)
        assert row["relative_gap"] > IG_COMPLETENESS_TOLERANCE
    warnings = [n for n in result.notes if n.startswith("WARNING")]
    assert len(warnings) == 2 and "increase steps" in warnings[0]
    # more steps close the gap below the tolerance: no warning
    fine = explain(model, image, "integrated_gradients", steps=200, baseline="black", normalisation="raw")
    assert max(r["relative_gap"] for r in fine.diagnostics["completeness"]) < IG_COMPLETENESS_TOLERANCE
    assert not [n for n in fine.notes if n.startswith("WARNING")]


def test_linear_model_is_complete_and_quiet() -> None:
    model = _loaded(Linear())
    image = np.random.default_rng(2).random((16, 16)).astype(np.float32)
    result = explain(model, image, "integrated_gradients", steps=3, baseline="mean", normalisation="raw")
    for row in result.diagnostics["completeness"]:
        assert abs(row["gap"]) < 1e-4 * max(1.0, abs(row["expected"]))
    assert result.diagnostics["completeness_tolerance"] == IG_COMPLETENESS_TOLERANCE
    assert any(n.startswith("completeness") for n in result.notes)
    assert not [n for n in result.notes if n.startswith("WARNING")]


def test_gap_travels_through_json_and_into_the_report_rows() -> None:
    model = _loaded(Cubic())
    image = np.random.default_rng(4).random((16, 16)).astype(np.float32)
    result = explain(model, image, "integrated_gradients", steps=2, normalisation="raw")
    doc = json.loads(result.to_json())
    assert doc["diagnostics"]["completeness"][0]["gap"] == pytest.approx(result.diagnostics["completeness"][0]["gap"])
    back = ExplanationResult.from_json(json.dumps(doc))
    assert back.diagnostics == doc["diagnostics"]
    rows = completeness_rows(back)
    assert [r[0] for r in rows] == ["Completeness gap, class0", "Completeness gap, class1"]
    assert all("WARNING" in r[1] for r in rows)
    # other methods carry no completeness row
    assert completeness_rows(explain(model, image, "saliency")) == []
    # and the report's method table shows them
    inp = cast(Any, SimpleNamespace(explanation=back, localisation={}, threshold="top:0.05"))
    table = dict((r[0], r[1]) for r in method_rows(inp))
    assert "WARNING" in table["Completeness gap, class0"]


def test_cli_json_carries_the_gap_and_stderr_warns(tmp_path, capsys) -> None:
    import torchvision
    from PIL import Image

    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest
    from viewer.cli import main

    torch.manual_seed(0)
    save_bundle(tmp_path / "b", torchvision.models.resnet18(num_classes=2),
                ModelManifest(name="ig-cli", version="1", architecture="resnet18", class_names=("A", "B"),
                              input_size=(32, 32)), overwrite=True)
    Image.fromarray((np.random.default_rng(0).random((40, 40)) * 255).astype(np.uint8)).save(tmp_path / "x.png")
    code = main(["explain", str(tmp_path / "x.png"), "--model", str(tmp_path / "b"), "--method",
                 "integrated_gradients", "--param", "steps=2", "--out", str(tmp_path / "out"), "--device", "cpu"])
    assert code == 0
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    rows = doc["images"][0]["explanation"]["diagnostics"]["completeness"]
    above = [r for r in rows if r["relative_gap"] is None or r["relative_gap"] > IG_COMPLETENESS_TOLERANCE]
    assert above  # two path nodes on a ResNet: far from complete
    assert capsys.readouterr().err.count("WARNING: class") == len(above)

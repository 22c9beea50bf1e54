"""Regression directions on a model whose answer is known: y = mean(x on A) - mean(x on B).

The tapped layer ``regions`` outputs channel 0 = x on region A and channel 1 = x on region B, so
Grad-CAM's weights are +1/|A| and -1/|B| and gradient x input is x (1_A/|A| - 1_B/|B|): the
"raises" map must sit on A, the "lowers" map on B, for both families.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from engine.errors import BundleManifestError, ExplainError
from engine.explainers import explain
from engine.explainers.direction import CONVENTION, explain_directions
from engine.explainers.result import ExplanationResult
from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest

SIZE = 32
A = (slice(2, 12), slice(3, 13))  # rows, cols of region A (top left)
B = (slice(18, 30), slice(16, 28))  # region B (bottom right)


class Regions(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        masks = torch.zeros(2, SIZE, SIZE)
        masks[0][A] = 1.0
        masks[1][B] = 1.0
        self.masks: torch.Tensor
        self.register_buffer("masks", masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.masks[None]


class TwoRegionModel(nn.Module):
    """Linear: output 0 = mean over A - mean over B; output 1 = its negation."""

    def __init__(self) -> None:
        super().__init__()
        self.regions = Regions()
        self.forwards = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.forwards += 1
        r = self.regions(x)
        masks = self.regions.masks
        y = r[:, 0].sum(dim=(1, 2)) / float(masks[0].sum()) - r[:, 1].sum(dim=(1, 2)) / float(masks[1].sum())
        return torch.stack([y, -y], dim=1)


def _manifest() -> ModelManifest:
    return ModelManifest.from_dict({
        "name": "two-region", "version": "1", "architecture": "test", "task": "regression",
        "outputs": [{"name": "A minus B", "unit": "a.u."}, {"name": "B minus A"}],
        "in_channels": 1, "input_size": [SIZE, SIZE], "mean": [0.0], "std": [1.0], "target_layer": "regions",
    })


@pytest.fixture(scope="module")
def model() -> LoadedModel:
    return LoadedModel.from_module(TwoRegionModel(), _manifest())


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(60, 250, (SIZE, SIZE)).astype(np.uint8)


def _mass(m: np.ndarray, region: tuple[slice, slice]) -> float:
    return float(m[region].sum() / max(m.sum(), 1e-12))


@pytest.mark.parametrize("method", ["gradcam", "gradient_x_input", "integrated_gradients"])
def test_raises_on_the_plus_region_lowers_on_the_minus_region(model: LoadedModel, image: np.ndarray,
                                                                method: str) -> None:
    r = explain(model, image, method, alignment="resize")
    x = image.astype(np.float64) / 255.0
    expected = x[A].mean() - x[B].mean()
    assert r.is_regression and r.values[0] == pytest.approx(expected, abs=1e-5)
    assert r.values[1] == pytest.approx(-expected, abs=1e-5)
    assert r.unit("A minus B") == "a.u." and r.unit(1) == ""
    assert r.thresholds == () and r.predicted() == ()
    up = r.map("A minus B", "model", "raw", direction="raises")
    down = r.map("A minus B", "model", "raw", direction="lowers")
    assert _mass(up, A) > 0.99 and _mass(down, B) > 0.99
    # the negated output swaps the directions
    assert _mass(r.map("B minus A", "model", "raw", direction="raises"), B) > 0.99
    assert _mass(r.map("B minus A", "model", "raw", direction="lowers"), A) > 0.99
    assert CONVENTION in r.notes


def test_gradient_x_input_values_are_the_signed_linear_attribution(model: LoadedModel, image: np.ndarray) -> None:
    r = explain(model, image, "gradient_x_input", classes="A minus B")
    x = image.astype(np.float64) / 255.0
    weight = np.zeros((SIZE, SIZE))
    weight[A] = 1.0 / x[A].size
    weight[B] = -1.0 / x[B].size
    attribution = weight * x  # dy/dx * (x - black): exact for a linear model
    np.testing.assert_allclose(r.direction_maps["raises"][0], np.maximum(attribution, 0), atol=1e-7)
    np.testing.assert_allclose(r.direction_maps["lowers"][0], np.maximum(-attribution, 0), atol=1e-7)
    # completeness of the linear model: raises - lowers sums to y(x) - y(black)
    total = r.direction_maps["raises"][0].sum() - r.direction_maps["lowers"][0].sum()
    assert total == pytest.approx(r.value(0), abs=1e-5)


def test_gradcam_directions_equal_the_hand_computed_cam(model: LoadedModel, image: np.ndarray) -> None:
    r = explain(model, image, "gradcam", classes=[0], alignment="resize")
    x = image.astype(np.float64) / 255.0
    cam = np.zeros((SIZE, SIZE))
    cam[A] = x[A] / x[A].size  # w_A A^A, w_A = mean gradient = 1/|A|
    cam[B] = -x[B] / x[B].size
    np.testing.assert_allclose(r.direction_maps["raises"][0], np.maximum(cam, 0), rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(r.direction_maps["lowers"][0], np.maximum(-cam, 0), rtol=1e-5, atol=1e-9)


def test_both_directions_come_from_one_forward(model: LoadedModel, image: np.ndarray) -> None:
    explain(model, image, "gradcam", alignment="resize")  # warm: head check, layer probe
    net = model.module
    assert isinstance(net, TwoRegionModel)
    before = net.forwards
    r = explain(model, image, "gradcam", alignment="resize")
    assert net.forwards - before == 1
    assert set(r.directions) == {"raises", "lowers"}
    assert tuple(np.asarray(net(torch.zeros(1, 1, SIZE, SIZE))).shape) == (1, 2)  # the mirror hook is gone


def test_directed_result_and_json_round_trip(model: LoadedModel, image: np.ndarray) -> None:
    r = explain(model, image, "gradcam", alignment="resize")
    low = r.directed("lowers")
    assert low.direction == "lowers" and r.direction == "raises"
    np.testing.assert_array_equal(low.native_maps, r.direction_maps["lowers"])
    np.testing.assert_array_equal(low.map("A minus B"), r.map("A minus B", direction="lowers"))
    back = ExplanationResult.from_json(r.to_json())
    assert back.units == r.units and back.direction == "raises" and back.is_regression
    np.testing.assert_array_equal(back.direction_maps["lowers"], r.direction_maps["lowers"])
    data = json.loads(r.to_json())
    assert data["model"]["task"] == "regression" and data["units"] == ["a.u.", ""]
    with pytest.raises(Exception, match="no 'sideways' maps"):
        r.directed("sideways")


def test_absolute_gradients_are_refused(model: LoadedModel, image: np.ndarray) -> None:
    with pytest.raises(ExplainError, match="no direction"):
        explain_directions(model, image, "saliency", abs=True)
    r = explain(model, image, "saliency")  # run signed
    assert _mass(r.map(0, "model", "raw", direction="raises"), A) > 0.99


def test_classifier_logit_directions(tiny_pair: tuple[LoadedModel, nn.Module]) -> None:
    tiny, _ = tiny_pair
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (64, 64, 3)).astype(np.uint8)
    r = explain_directions(tiny, img, "gradcam", classes=[0], alignment="resize")
    plain = explain(tiny, img, "gradcam", classes=[0], alignment="resize")
    np.testing.assert_allclose(r.direction_maps["raises"], plain.native_maps, rtol=1e-5, atol=1e-7)
    assert not r.is_regression and r.probabilities.shape == plain.probabilities.shape


@pytest.mark.parametrize(("patch", "message"), [
    ({"outputs": []}, "non-empty list"),
    ({"outputs": [{"unit": "mm"}]}, "non-empty string 'name'"),
    ({"outputs": [{"name": "x", "units": "mm"}]}, "unknown keys"),
    ({"outputs": [{"name": "x"}, {"name": "x"}]}, "duplicate"),
    ({"thresholds": [0.5]}, "no decision thresholds"),
    ({"class_names": ["y"]}, "must equal the outputs' names"),
])
def test_manifest_rejects_bad_regression_outputs(patch: dict[str, object], message: str) -> None:
    base: dict[str, object] = {"name": "m", "version": "1", "architecture": "resnet18", "task": "regression",
                               "outputs": [{"name": "x", "unit": "mm"}]}
    with pytest.raises(BundleManifestError, match=message):
        ModelManifest.from_dict({**base, **patch})


def test_manifest_regression_round_trip_and_classifier_unchanged() -> None:
    m = ModelManifest.from_dict({"name": "m", "version": "1", "architecture": "resnet18", "task": "regression",
                                 "outputs": [{"name": "Cardiothoracic ratio", "unit": "ratio"}]})
    assert m.class_names == ("Cardiothoracic ratio",) and m.unit(0) == "ratio" and m.is_regression
    assert ModelManifest.from_dict(m.to_dict()) == m
    c = ModelManifest.from_dict({"name": "c", "version": "1", "architecture": "resnet18", "class_names": ["a"]})
    assert "outputs" not in c.to_dict() and not c.is_regression
    with pytest.raises(BundleManifestError, match="only for task 'regression'"):
        ModelManifest.from_dict({**c.to_dict(), "outputs": [{"name": "a"}]})
    with pytest.raises(BundleManifestError, match="missing required key 'outputs'"):
        ModelManifest.from_dict({"name": "m", "version": "1", "architecture": "resnet18", "task": "regression"})

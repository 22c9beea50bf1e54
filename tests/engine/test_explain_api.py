"""The explain() door: classes, layers, normalisation modes, provenance, safety of the model."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine import ExplanationResult, explain, list_layers, list_methods
from engine.errors import CancelledError, ExplainError, UnknownClassError, UnknownLayerError, UnknownMethodError
from engine.localise import iou, map_to_boxes
from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest
from engine.preprocess import to_model_input


def test_registry_lists_every_method_with_research_defaults():
    methods = {m.name: m for m in list_methods()}
    assert {"gradcam", "gradcampp", "xgradcam", "layercam", "scorecam", "saliency", "smoothgrad",
            "smoothgrad-cam", "integrated_gradients"} <= set(methods)
    sg = {p["name"]: p["default"] for p in methods["smoothgrad"].params}
    assert sg["n"] == 50 and sg["noise"] == 0.1


def test_result_carries_provenance_and_round_trips_json(resnet_pair, chest_like, tmp_path):
    model, _ = resnet_pair
    r = explain(model, chest_like, "gradcam", classes=["class1", 3])
    assert r.explained == ("class1", "class3")
    assert r.model["weights_sha256"] == model.weights_sha256 and r.model["name"] == "test-resnet18"
    assert r.versions["torch"] and r.target == "logit (pre-sigmoid)" and r.layers == ("layer4",)
    np.testing.assert_allclose(r.probabilities, 1 / (1 + np.exp(-r.logits)), rtol=1e-6)
    r.to_json(tmp_path / "r.json")
    back = ExplanationResult.from_json(tmp_path / "r.json")
    np.testing.assert_array_equal(back.native_maps, r.native_maps)
    np.testing.assert_array_equal(back.map("class3"), r.map("class3"))
    assert back.params == r.params and back.geometry == r.geometry


def test_normalisation_modes(resnet_pair, chest_like):
    model, _ = resnet_pair
    raw = explain(model, chest_like, "gradcam", normalisation="raw")
    shared = explain(model, chest_like, "gradcam", normalisation="shared")
    per = explain(model, chest_like, "gradcam", normalisation="per_map")
    peak = max(v[1] for v in raw.value_ranges.values())
    for c in raw.explained:
        native = raw.map(c, "native")
        np.testing.assert_allclose(shared.map(c, "native"), native / peak, rtol=1e-5, atol=1e-7)
        lo, hi = raw.value_ranges[c]
        if hi > lo:
            np.testing.assert_allclose(per.map(c, "native"), (native - lo) / (hi - lo), rtol=1e-5, atol=1e-6)
    # shared keeps strengths comparable: the strongest class alone reaches 1
    assert sum(float(shared.map(c, "native").max()) > 0.999 for c in shared.explained) == 1


def test_model_is_not_mutated_and_no_hook_is_left(resnet_pair, chest_like):
    model, _ = resnet_pair
    before = {k: v.clone() for k, v in model.module.state_dict().items()}
    for method in ("gradcam", "layercam", "scorecam", "smoothgrad-cam"):
        kwargs = {"n": 2} if method == "smoothgrad-cam" else {"batch_size": 256} if method == "scorecam" else {}
        explain(model, chest_like, method, classes=[0], layers=["layer3", "layer4"], **kwargs)
    for m in model.module.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert not model.module.training
    assert all(not p.requires_grad and p.grad is None for p in model.module.parameters())
    for k, v in model.module.state_dict().items():
        torch.testing.assert_close(v, before[k])


def test_hooks_are_removed_when_the_method_fails(resnet_pair, chest_like):
    model, _ = resnet_pair
    with pytest.raises(CancelledError):
        explain(model, chest_like, "scorecam", cancel=lambda: True)
    assert all(not m._forward_hooks for m in model.module.modules())


def test_progress_is_reported_and_cancel_stops(resnet_pair, chest_like):
    model, _ = resnet_pair
    seen = []
    explain(model, chest_like, "smoothgrad", classes=[0], n=6, batch_size=2, progress=lambda f, msg: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and len(seen) >= 4
    calls = iter([False, False, True])
    with pytest.raises(CancelledError):
        explain(model, chest_like, "smoothgrad", classes=[0], n=6, batch_size=2, cancel=lambda: next(calls))


def test_errors_name_the_problem(resnet_pair, chest_like):
    model, _ = resnet_pair
    with pytest.raises(UnknownMethodError, match="gradcam"):
        explain(model, chest_like, "gradkam")
    with pytest.raises(UnknownClassError, match="class0"):
        explain(model, chest_like, classes=["pneumonia"])
    with pytest.raises(UnknownLayerError, match="layer4"):
        explain(model, chest_like, layers="layer5")
    with pytest.raises(UnknownLayerError, match="CAM methods need"):
        explain(model, chest_like, layers="fc")
    with pytest.raises(ExplainError, match="valid"):
        explain(model, chest_like, "gradcam", sigma=3)
    with pytest.raises(ExplainError, match=">= 1"):
        explain(model, chest_like, "smoothgrad", n=0)


def test_layers_listed_in_forward_order_with_default(resnet_pair):
    model, _ = resnet_pair
    layers = list_layers(model)
    names = [la.name for la in layers]
    assert names.index("layer1") < names.index("layer4")
    assert [la.name for la in layers if la.is_default] == ["layer4"]
    assert dict((la.name, la.output_shape) for la in layers)["layer4"] == (512, 4, 4)


def test_inplace_op_after_the_tapped_layer(resnet_pair, chest_like):
    """layer4.1.bn2's output is modified in place (out += identity): the tap must not break.

    Reference: the last block written out by hand with bn2's output as an autograd leaf, so the
    activation is the pre-addition one and the gradient flows through ``relu(a + identity)``.
    """
    model, peer = resnet_pair
    r = explain(model, chest_like, "gradcam", layers="layer4.1.bn2", normalisation="raw")
    assert np.isfinite(r.native_maps).all()
    x, _, _ = to_model_input(chest_like, model.manifest)
    with torch.no_grad():
        stem = peer.maxpool(peer.relu(peer.bn1(peer.conv1(x))))
        identity = peer.layer4[0](peer.layer3(peer.layer2(peer.layer1(stem))))
        blk = peer.layer4[1]
        a = blk.bn2(blk.conv2(blk.relu(blk.bn1(blk.conv1(identity)))))
    a = a.detach().requires_grad_(True)
    logits = peer.fc(torch.flatten(peer.avgpool(torch.relu(a + identity)), 1))[0]
    nonzero = 0
    for c in range(4):
        (g,) = torch.autograd.grad(logits[c], a, retain_graph=True)
        ref = torch.relu((g[0].mean(dim=(1, 2))[:, None, None] * a[0]).sum(0)).detach().numpy()
        np.testing.assert_allclose(r.map(c, space="native"), ref, rtol=1e-4, atol=1e-6 * max(ref.max(), 1e-3))
        nonzero += int(ref.max() > 0)
    assert nonzero >= 2  # the comparison is not between two all-zero maps


class PoolNet(nn.Module):
    """Class 0's Grad-CAM is ReLU of the 8x8-pooled, normalised input: bright means relevant."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.AvgPool2d(8)
        self.fc = nn.Linear(1, 2)
        with torch.no_grad():
            self.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
            self.fc.bias.zero_()

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


@pytest.mark.parametrize("policy", ["stretch", "letterbox"])
def test_maps_and_boxes_land_on_the_original_pixels(policy):
    manifest = ModelManifest(name="pool", version="1", architecture="custom", class_names=("bright", "dark"),
                             in_channels=1, input_size=(128, 128), resize=policy, mean=(0.5,), std=(0.25,))
    model = LoadedModel.from_module(PoolNet(), manifest)
    image = np.full((300, 480), 0.2, np.float32)
    image[90:150, 300:420] = 1.0  # the truth: box (300, 90, 420, 150)
    r = explain(model, image, "gradcam", classes=["bright"], layers="features")
    heat = r.map("bright")
    assert heat.shape == (300, 480)
    row, col = np.unravel_index(np.argmax(heat), heat.shape)
    assert 90 <= row < 150 and 300 <= col < 420
    boxes = map_to_boxes(heat, "max:0.5")
    assert len(boxes) == 1 and iou(boxes[0], (300, 90, 420, 150)) > 0.8

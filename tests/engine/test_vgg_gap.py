"""VGG-GAP bundles (``"head": "gap"`` in model.json): build, load, validation, default layer, Grad-CAM.

Known answers: the GAP head's output equals ``Linear(mean over H, W of features(x))`` computed by
hand; the parameter count equals torchvision's VGG-11-BN feature extractor plus one 512 x K linear
layer; Grad-CAM on a random VGG-GAP equals pytorch-grad-cam's after the same normalisation.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM, LayerCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from shared_models import make_manifest
from torch import nn

from engine import explain
from engine.errors import BundleManifestError, WeightsMismatchError
from engine.explainers.api import conv_block_default_layer, default_layer, list_layers
from engine.models.architectures import build_architecture
from engine.models.bundle import LoadedModel, load_model, save_bundle
from engine.models.check import check_bundle
from engine.models.manifest import ModelManifest
from engine.preprocess import resample_maps, to_model_input
from training.config import TrainConfigError, config_from_dict
from training.export import manifest_from_config

SIZE = 64
CLASSES = 3


def gap_manifest(**kw: object) -> ModelManifest:
    return make_manifest("vgg11_bn", CLASSES, SIZE, in_channels=1, mean=(0.5,), std=(0.25,), head="gap", **kw)


@pytest.fixture(scope="module")
def vgg_gap() -> nn.Module:
    """A random VGG-11-BN with the GAP head, one channel, non-trivial BatchNorm statistics."""
    torch.manual_seed(3)
    net = build_architecture(gap_manifest())
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    return net.eval()


@pytest.fixture(scope="module")
def saved(vgg_gap: nn.Module, tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("vgg-gap") / "bundle"
    save_bundle(folder, vgg_gap, gap_manifest(), weights_dtype=torch.float16)
    return folder


def test_gap_head_is_global_average_pooling_and_one_linear_layer(vgg_gap):
    assert isinstance(vgg_gap.avgpool, nn.AdaptiveAvgPool2d)
    assert isinstance(vgg_gap.classifier, nn.Linear)
    assert (vgg_gap.classifier.in_features, vgg_gap.classifier.out_features) == (512, CLASSES)
    x = torch.rand(2, 1, SIZE, SIZE)
    with torch.no_grad():
        out = vgg_gap(x)
        by_hand = vgg_gap.features(x).mean(dim=(2, 3)) @ vgg_gap.classifier.weight.T + vgg_gap.classifier.bias
    assert out.shape == (2, CLASSES)
    torch.testing.assert_close(out, by_hand, rtol=1e-5, atol=1e-5)
    reference = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["A"], batch_norm=True)
    features = sum(p.numel() for p in reference.parameters()) - 64 * 3 * 9 + 64 * 1 * 9  # 1-channel first conv
    assert sum(p.numel() for p in vgg_gap.parameters()) == features + 512 * CLASSES + CLASSES


def test_round_trip_float16_loads_strictly_and_checks_clean(vgg_gap, saved):
    data = json.loads((saved / "model.json").read_text(encoding="utf-8"))
    assert data["head"] == "gap"
    loaded = load_model(saved)
    assert loaded.manifest.head == "gap"
    x = torch.rand(1, 1, SIZE, SIZE)
    with torch.no_grad():
        torch.testing.assert_close(loaded.module(x), vgg_gap(x), rtol=2e-2, atol=2e-2)  # float16 weights
    report = check_bundle(saved)
    assert report.ok, report.problems
    assert (saved / "weights.safetensors").stat().st_size < 20e6
    # bundles without a head keep their model.json as it was: no 'head' key
    assert "head" not in make_manifest("resnet18", 2, 64).to_dict()


def test_unknown_head_is_refused_naming_model_json(saved, tmp_path):
    data = json.loads((saved / "model.json").read_text(encoding="utf-8"))
    (tmp_path / "model.json").write_text(json.dumps({**data, "head": "fc"}), encoding="utf-8")
    with pytest.raises(BundleManifestError, match="head must be one of") as err:
        ModelManifest.read(tmp_path / "model.json")
    assert err.value.path == tmp_path / "model.json"


def test_gap_head_on_an_architecture_without_it_is_refused(tmp_path):
    manifest = make_manifest("resnet18", 2, 64, head="gap")
    with pytest.raises(BundleManifestError, match="VGG and AlexNet") as err:
        build_architecture(manifest, path=tmp_path)
    assert err.value.path == tmp_path / "model.json"
    assert "remove 'head'" in (err.value.fix or "")


def test_weights_of_the_other_head_name_the_fix(saved, tmp_path):
    data = json.loads((saved / "model.json").read_text(encoding="utf-8"))
    del data["head"]
    (tmp_path / "model.json").write_text(json.dumps(data), encoding="utf-8")
    (tmp_path / "weights.safetensors").write_bytes((saved / "weights.safetensors").read_bytes())
    with pytest.raises(WeightsMismatchError) as err:
        load_model(tmp_path)
    assert '"head": "gap"' in (err.value.fix or "")
    assert any('"head": "gap"' in p.fix for p in check_bundle(tmp_path).problems)


def test_default_layer_is_the_last_conv_block_not_the_pooled_features(vgg_gap):
    model = LoadedModel.from_module(vgg_gap, gap_manifest())
    assert default_layer(model) == "features.27"  # the last ReLU, before the final max-pool
    assert isinstance(vgg_gap.features[27], nn.ReLU) and isinstance(vgg_gap.features[28], nn.MaxPool2d)
    rows = {la.name: la for la in list_layers(model)}
    assert rows["features.27"].is_default and rows["features.27"].output_shape[-2:] == (SIZE // 16, SIZE // 16)
    assert conv_block_default_layer(torchvision.models.alexnet()) == "features.11"
    assert conv_block_default_layer(torchvision.models.resnet18()) is None
    assert conv_block_default_layer(torchvision.models.densenet121()) is None  # features ends in norm5


@pytest.mark.parametrize(("method", "peer_cls"), [("gradcam", GradCAM), ("layercam", LayerCAM)])
def test_cam_on_vgg_gap_matches_pytorch_grad_cam(vgg_gap, method, peer_cls):
    peer = build_architecture(gap_manifest()).eval()
    peer.load_state_dict(vgg_gap.state_dict())
    model = LoadedModel.from_module(vgg_gap, gap_manifest())
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    image = (0.5 + 0.1 * rng.standard_normal((SIZE, SIZE)) + 0.4 * np.exp(-((xx - 0.6) ** 2 + (yy - 0.4) ** 2) / 0.01))
    image = np.clip(image, 0, 1).astype(np.float32)
    result = explain(model, image, method, normalisation="raw")
    assert list(result.layers) == ["features.27"]  # the default layer
    x, _, _ = to_model_input(image, model.manifest)
    def minmax(a: np.ndarray) -> np.ndarray:
        a = a - a.min()
        return a / (a.max() + 1e-7)

    compared = 0
    with peer_cls(model=peer, target_layers=[peer.get_submodule("features.27")]) as cam:
        for c in range(CLASSES):
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(c)])[0]
            if ref.max() == 0:
                continue
            first = minmax(result.map(c, space="native"))
            ours = minmax(resample_maps(torch.from_numpy(first)[None], (SIZE, SIZE))[0].numpy())
            np.testing.assert_allclose(ours, ref, atol=1e-4, err_msg=f"{method} class {c}")
            compared += 1
    assert compared >= 1


def test_training_config_accepts_model_head_and_writes_it():
    cfg = config_from_dict({"model": {"architecture": "vgg11_bn", "head": "gap", "target_layer": "features.27"}})
    manifest = manifest_from_config(cfg, ["a", "b"])
    assert manifest.head == "gap"
    net = build_architecture(dataclasses.replace(manifest, input_size=(32, 32)))
    assert net(torch.rand(1, 1, 32, 32)).shape == (1, 2)
    assert manifest_from_config(config_from_dict({}), ["a"]).head is None
    with pytest.raises(TrainConfigError, match=r"model\.head"):
        config_from_dict({"model": {"head": "fc"}})

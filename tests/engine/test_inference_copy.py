"""The gradient-free copy of a model (engine.models.inference): same outputs, or the original."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from shared_models import TinyNet, make_manifest
from torch import nn

from engine.models import inference
from engine.models.bundle import LoadedModel
from engine.models.inference import inference_copy
from engine.perturb.frame import make_frame


def _with_random_bn(module: nn.Module, seed: int) -> nn.Module:
    """Batch-norm statistics and affine far from the identity, so folding them changes weights."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.5)
            m.running_var.copy_(torch.rand(n, generator=g) * 2 + 0.1)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return module


@pytest.fixture(scope="module")
def resnet() -> LoadedModel:
    torch.manual_seed(0)
    net = _with_random_bn(torchvision.models.resnet18(weights=None, num_classes=4), 1)
    return LoadedModel.from_module(net, make_manifest("resnet18", 4, 96, task="multilabel"))


def test_folded_channels_last_copy_computes_the_same_function(resnet: LoadedModel) -> None:
    copy = inference_copy(resnet)
    assert copy.fused and copy.channels_last and copy.module is not resnet.module
    assert not any(isinstance(m, nn.BatchNorm2d) for m in copy.module.modules())  # folded away
    x = torch.rand(3, 3, 96, 112, generator=torch.Generator().manual_seed(5))  # another size than the check's
    with torch.no_grad():
        want, got = resnet.module(x), copy.module(x)
    assert torch.allclose(got, want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))
    assert inference_copy(resnet) is copy  # built once per model
    assert all(not p.requires_grad for p in copy.module.parameters())


def test_perturbation_probabilities_are_those_of_the_original_network(resnet: LoadedModel) -> None:
    image = np.random.default_rng(2).random((150, 130)).astype(np.float32)
    frame = make_frame(resnet, image, "image")
    x = frame.to_model(torch.from_numpy(image[None]))
    with torch.no_grad():
        want = torch.sigmoid(resnet.module(x).double()).numpy()
    assert np.allclose(frame.probabilities(torch.from_numpy(image[None])), want, atol=1e-5)


class _Branchy(nn.Module):
    """Control flow on a tensor value: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(*[nn.Sequential(nn.Conv2d(3, 3, 3, padding=1), nn.BatchNorm2d(3), nn.ReLU())
                                    for _ in range(4)])
        self.fc = nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        if float(y.mean()) > 1e9:  # never true, but a value-dependent branch
            y = y * 2
        return self.fc(y.mean((2, 3)))


def test_untraceable_network_keeps_its_batch_norm_but_gets_the_layout() -> None:
    torch.manual_seed(3)
    model = LoadedModel.from_module(_with_random_bn(_Branchy(), 4), make_manifest("x", 2, 32))
    copy = inference_copy(model)
    assert not copy.fused and copy.channels_last and "not traceable" in copy.note
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(copy.module(x), model.module(x), atol=1e-5)


def test_a_copy_that_differs_is_refused(resnet: LoadedModel, monkeypatch: pytest.MonkeyPatch) -> None:
    def wrong_fuse(module: torchvision.models.ResNet) -> nn.Module:
        module.fc.bias.data += 1.0  # a folding bug: outputs shift
        return module

    monkeypatch.setattr("torch.fx.experimental.optimization.fuse", wrong_fuse)
    model = LoadedModel.from_module(_with_random_bn(torchvision.models.resnet18(weights=None, num_classes=4), 1),
                                    make_manifest("resnet18", 4, 64))
    copy = inference._build(model)
    assert copy.module is model.module and not copy.fused and "did not match" in copy.note


def test_small_networks_are_used_as_they_are() -> None:
    model = LoadedModel.from_module(TinyNet(), make_manifest("tiny", 3, 32))
    assert inference_copy(model).module is model.module


def test_the_copy_follows_in_place_changes_of_the_weights() -> None:
    """Weights changed in place (the sanity cascade, a training step, ``load_state_dict``) or replaced
    give a new copy that computes the changed network, not the one first copied."""
    torch.manual_seed(7)
    net = torchvision.models.resnet18(weights=None, num_classes=3)
    model = LoadedModel.from_module(_with_random_bn(net, 2), make_manifest("resnet18", 3, 64))
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(9))
    first = inference_copy(model)
    assert inference_copy(model) is first  # nothing changed: the same copy
    original = {k: v.clone() for k, v in model.module.state_dict().items()}

    def agrees(copy: inference.InferenceCopy) -> bool:
        with torch.no_grad():
            want = model.module(x)
            return torch.allclose(copy.module(x), want, rtol=1e-4, atol=1e-4 * float(want.abs().max()))

    with torch.no_grad():
        net.layer4[1].conv2.weight.mul_(-3.0)  # in place, as the cascade's randomise_ does
    assert not agrees(first)
    second = inference_copy(model)
    assert second is not first and agrees(second)

    model.module.load_state_dict(original)  # back to the first weights (copy_ into the same tensors)
    third = inference_copy(model)
    assert third is not second and agrees(third)

    net.fc.bias = nn.Parameter(torch.full((3,), 5.0), requires_grad=False)  # replaced, not changed
    assert agrees(inference_copy(model)) and inference_copy(model) is inference_copy(model)

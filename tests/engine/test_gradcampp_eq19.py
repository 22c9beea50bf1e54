"""Grad-CAM++ against the paper's general formula with explicit higher-order autograd.

The network's explained output is Y = exp(S): the reference computes dY/dA, the diagonal of
d2Y/dA2 and of d3Y/dA3 with nested torch.func jacobians, then
alpha = d2 / (2 d2 + sum_ab A_ab d3) and w_k = sum_ij alpha ReLU(dY) (Chattopadhyay et al.,
Eq. 10 and 19). RadLens computes the closed form on S; exp(S) cancels after normalisation.
"""

from __future__ import annotations

import numpy as np
import torch
import torchvision
from pytorch_grad_cam import GradCAMPlusPlus
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from shared_models import make_manifest
from torch import nn
from torch.func import jacfwd, jacrev
from torchvision.models import ResNet

from engine import explain
from engine.models.bundle import LoadedModel
from engine.preprocess import resample_maps, to_model_input


def reference_gradcampp(peer, x: torch.Tensor, cls: int) -> np.ndarray:
    a = peer.relu(peer.features(peer.act(peer.stem(x))))[0].detach()  # (K, h, w)
    shape = a.shape

    def y(flat: torch.Tensor) -> torch.Tensor:
        act = flat.reshape(shape)
        s = peer.fc(act.mean(dim=(1, 2)))[cls]
        return torch.exp(s)

    flat = a.reshape(-1)
    d1 = jacrev(y)(flat)
    d2 = torch.diagonal(jacfwd(jacrev(y))(flat))
    d3_full = jacfwd(jacfwd(jacrev(y)))(flat)
    n = flat.numel()
    d3 = d3_full[torch.arange(n), torch.arange(n), torch.arange(n)]
    d1, d2, d3 = (t.reshape(shape) for t in (d1, d2, d3))
    sum_a = a.sum(dim=(1, 2), keepdim=True)
    denom = 2 * d2 + sum_a * d3
    alpha = torch.where(denom != 0, d2 / torch.where(denom != 0, denom, torch.ones_like(denom)), 0.0)
    w = (alpha * torch.relu(d1)).sum(dim=(1, 2))
    return torch.relu((w[:, None, None] * a).sum(0)).detach().numpy()


def test_gradcampp_equals_eq19_with_higher_order_autograd(tiny_pair, rng):
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    result = explain(model, image, "gradcam++", layers="relu", normalisation="raw")
    for c in range(3):
        ref = reference_gradcampp(peer, x, c)
        ours = result.map(c, space="native")
        if ref.max() == 0:
            assert ours.max() == 0
            continue
        np.testing.assert_allclose(ours / ours.max(), ref / ref.max(), atol=1e-5)


def test_gradcampp_is_not_the_epsilon_variant(tiny_pair, rng):
    """An epsilon of 1e-6 in the denominator (seen in public code) changes the result here."""
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    a = peer.relu(peer.features(peer.act(peer.stem(x))))[0].detach()
    w_fc = peer.fc.weight.detach()
    g = (w_fc[0] / a[0].numel())[:, None, None].expand_as(a)
    g2, g3 = g**2, g**3
    alpha_eps = torch.where(g != 0, g2 / (2 * g2 + a.sum(dim=(1, 2), keepdim=True) * g3 + 1e-6), 0.0)
    eps_map = torch.relu(((alpha_eps * torch.relu(g)).sum(dim=(1, 2))[:, None, None] * a).sum(0)).detach().numpy()
    ours = explain(model, image, "gradcam++", classes=[0], layers="relu", normalisation="raw").native_maps[0]
    ref = reference_gradcampp(peer, x, 0)
    np.testing.assert_allclose(ours / ours.max(), ref / ref.max(), atol=1e-5)
    assert not np.allclose(eps_map / eps_map.max(), ref / ref.max(), atol=1e-3)


# --- inner layer: ResNet-18 layer3 (the default model's target layer) -----------------------------
# Behind layer3 sit layer4 (convolutions, ReLUs), average pooling and the head, so the gradient
# varies from pixel to pixel: a Grad-CAM++ that used each channel's mean gradient would differ.


def _minmax(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / (a.max() + 1e-7)


def peer_normalised(result, c: int, size: tuple[int, int]) -> np.ndarray:
    """pytorch-grad-cam's n(resize(n(cam))), n(a) = (a - min) / (max + 1e-7), on our raw native map."""
    first = _minmax(result.map(c, space="native"))
    return _minmax(resample_maps(torch.from_numpy(first)[None], size)[0].numpy())


def _seeded_resnet18(classes: int, head_scale: float = 1.0) -> ResNet:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=classes)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):  # non-trivial statistics so maps are not degenerate
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    with torch.no_grad():
        net.fc.weight.mul_(head_scale)
        net.fc.bias.mul_(head_scale)
    return net.eval()


def _copy(net: ResNet) -> ResNet:
    twin = torchvision.models.resnet18(num_classes=net.fc.out_features).eval()
    twin.load_state_dict(net.state_dict())
    return twin


def _layer3(net: ResNet, x: torch.Tensor) -> torch.Tensor:
    return net.layer3(net.layer2(net.layer1(net.maxpool(net.relu(net.bn1(net.conv1(x)))))))


def reference_gradcampp_layer3(net: ResNet, x: torch.Tensor, cls: int) -> np.ndarray:
    """Eq. 10/19 at layer3 with Y = exp(S), every derivative taken by nested autograd.

    Each activation element i gets its own scalar t_i (a batch of n copies of A, copy i moved
    by t_i along element i); the copies are independent, so the gradient of sum_i Y_i with
    respect to t is the diagonal dY/dA_ii, and differentiating again (create_graph) gives the
    diagonals of the second and third derivatives. No closed form and no gradient of the
    engine is used.
    """
    for p in net.parameters():
        p.requires_grad_(False)
    a = _layer3(net, x)[0].detach()
    shape, n = a.shape, a.numel()
    t = torch.zeros(n, requires_grad=True)
    moved = a[None].expand(n, *shape) + (torch.eye(n) * t[:, None]).reshape(n, *shape)
    y = torch.exp(net.fc(torch.flatten(net.avgpool(net.layer4(moved)), 1))[:, cls])
    (d1,) = torch.autograd.grad(y.sum(), t, create_graph=True)
    (d2,) = torch.autograd.grad(d1.sum(), t, create_graph=True)
    (d3,) = torch.autograd.grad(d2.sum(), t)
    d1, d2, d3 = (d.detach().reshape(shape) for d in (d1, d2, d3))
    denom = 2 * d2 + a.sum(dim=(1, 2), keepdim=True) * d3
    alpha = torch.where(denom != 0, d2 / torch.where(denom != 0, denom, torch.ones_like(denom)), 0.0)
    w = (alpha * torch.relu(d1)).sum(dim=(1, 2))
    return torch.relu((w[:, None, None] * a).sum(0)).numpy()


def test_gradcampp_at_layer3_equals_higher_order_autograd(chest_like):
    """ResNet-18 at 32 px (layer3 is 256 x 2 x 2, so the nested autograd reference takes ~2 s)."""
    net = _seeded_resnet18(4)
    model = LoadedModel.from_module(_copy(net), make_manifest("resnet18", 4, 32))
    x, _, _ = to_model_input(chest_like, model.manifest)
    g = torch.func.grad(lambda act: net.fc(torch.flatten(net.avgpool(net.layer4(act[None])), 1))[0, 1])(
        _layer3(net, x)[0].detach())
    # the case is one where a channel-mean gradient is a different method
    assert (g - g.mean(dim=(1, 2), keepdim=True)).abs().max() > 0.5 * g.abs().max()
    ours = explain(model, chest_like, "gradcam++", classes=[1], layers="layer3", normalisation="raw").native_maps[0]
    ref = reference_gradcampp_layer3(net, x, 1)
    assert ref.max() > 0
    np.testing.assert_allclose(ours / ours.max(), ref / ref.max(), atol=1e-4)


def test_gradcampp_at_layer3_matches_pytorch_grad_cam(chest_like):
    """Against pytorch-grad-cam's GradCAMPlusPlus, whose alpha has ``+ 1e-6`` in the denominator.

    The epsilon is made negligible, not ignored: the head is scaled by 1e4, so at layer3 of a
    128 px ResNet-18 the gradients are ~10 and 2 g^2 (~100) dwarfs 1e-6 wherever g is not ~0
    (where g ~ 0 the term alpha * ReLU(g) is ~0 with or without epsilon). Both libraries explain
    the same scaled network; the comparison uses the peer's normalisation (see test_explain_peers).
    """
    net = _seeded_resnet18(4, head_scale=1e4)
    model = LoadedModel.from_module(_copy(net), make_manifest("resnet18", 4, 128))
    result = explain(model, chest_like, "gradcam++", layers="layer3", normalisation="raw")
    x, _, _ = to_model_input(chest_like, model.manifest)
    compared = 0
    with GradCAMPlusPlus(model=net, target_layers=[net.layer3]) as cam:
        for c in range(4):
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(c)])[0]
            if ref.max() == 0:
                assert result.value_ranges[f"class{c}"][1] == 0
                continue
            np.testing.assert_allclose(peer_normalised(result, c, (128, 128)), ref, atol=1e-3, err_msg=f"class {c}")
            compared += 1
    assert compared >= 2

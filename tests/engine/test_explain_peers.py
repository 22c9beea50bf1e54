"""Known answers: RadLens CAMs against pytorch-grad-cam on seeded models, after the same normalisation.

pytorch-grad-cam returns n(resize(n(cam))) with n(a) = (a - min) / (max + 1e-7). We apply exactly
that to RadLens's raw native map, resizing with RadLens's own bilinear resampling.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision
from pytorch_grad_cam import GradCAM, LayerCAM, ScoreCAM, XGradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

from engine import explain
from engine.preprocess import to_model_input


def minmax(a: np.ndarray) -> np.ndarray:
    a = a - a.min()
    return a / (a.max() + 1e-7)


def peer_normalised(result, c, size):
    from engine.preprocess import resample_maps

    first = minmax(result.map(c, space="native"))
    return minmax(resample_maps(torch.from_numpy(first)[None], size)[0].numpy())


PEERS = {"gradcam": GradCAM, "xgradcam": XGradCAM, "layercam": LayerCAM}


@pytest.mark.parametrize("method", sorted(PEERS))
@pytest.mark.parametrize("layer", ["layer4", "layer3", "layer2.1.conv2"])
def test_cam_matches_pytorch_grad_cam(resnet_pair, chest_like, method, layer):
    model, peer = resnet_pair
    result = explain(model, chest_like, method, layers=layer, normalisation="raw")
    x, _, _ = to_model_input(chest_like, model.manifest)
    with PEERS[method](model=peer, target_layers=[peer.get_submodule(layer)]) as cam:
        for c in range(4):
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(c)])[0]
            ours = peer_normalised(result, c, (128, 128))
            if ref.max() == 0:  # the peer's map is all zero (ReLU): ours must be too
                assert result.value_ranges[f"class{c}"][1] == 0
                continue
            np.testing.assert_allclose(ours, ref, atol=1e-4, err_msg=f"{method} {layer} class {c}")


def test_all_classes_from_one_call_equal_one_class_at_a_time(resnet_pair, chest_like):
    model, _ = resnet_pair
    together = explain(model, chest_like, "gradcam", normalisation="raw")
    for c in model.class_names:
        alone = explain(model, chest_like, "gradcam", classes=[c], normalisation="raw")
        np.testing.assert_allclose(alone.native_maps[0], together.native_maps[together.index(c)], rtol=1e-5, atol=1e-7)


def test_scorecam_matches_pytorch_grad_cam(tiny_pair, rng):
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    result = explain(model, image, "scorecam", layers="features", normalisation="raw", align_corners=True)
    x, _, _ = to_model_input(image, model.manifest)
    with ScoreCAM(model=peer, target_layers=[peer.features]) as cam:
        cam.batch_size = 4
        for c in range(3):
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(c)])[0]
            np.testing.assert_allclose(peer_normalised(result, c, (32, 32)), ref, atol=1e-4)


def test_scorecam_masked_forwards_on_the_folded_copy_match_pytorch_grad_cam(chest_like):
    """Score-CAM's masked forwards run on the gradient-free copy (BN folded, channels_last); the
    peer runs them on the plain network. Same maps after the peer's normalisation."""
    from shared_models import make_manifest

    from engine.models.bundle import LoadedModel
    from engine.models.inference import inference_copy

    torch.manual_seed(2)
    net = torchvision.models.resnet18(num_classes=4)
    for m in net.modules():  # batch norm far from the identity, so folding it changes the weights
        if isinstance(m, torch.nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.3, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
    peer = torchvision.models.resnet18(num_classes=4).eval()
    peer.load_state_dict(net.state_dict())
    model = LoadedModel.from_module(net.eval(), make_manifest("resnet18", 4, 64))
    copy = inference_copy(model)
    assert copy.fused
    batches: list[int] = []
    hook = copy.module.register_forward_hook(lambda _m, args, _out: batches.append(args[0].shape[0]))
    try:
        result = explain(model, chest_like, "scorecam", layers="layer1", normalisation="raw", align_corners=True)
    finally:
        hook.remove()
    assert sum(batches) == 64  # every masked input (one per layer1 channel) went through the copy
    x, _, _ = to_model_input(chest_like, model.manifest)
    with ScoreCAM(model=peer, target_layers=[peer.layer1]) as cam:
        cam.batch_size = 64
        for c in (0, 3):
            ref = cam(input_tensor=x.clone(), targets=[ClassifierOutputTarget(c)])[0]
            np.testing.assert_allclose(peer_normalised(result, c, (64, 64)), ref, atol=1e-4, err_msg=f"class {c}")


def test_scorecam_default_masks_differ_only_by_upsampling_convention(tiny_pair, rng):
    """Our default (align_corners=False) is a different, documented convention: close, not equal."""
    model, _ = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    a = explain(model, image, "scorecam", layers="features").native_maps
    b = explain(model, image, "scorecam", layers="features", align_corners=True).native_maps
    assert not np.allclose(a, b, atol=1e-6)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.9


def test_grads_of_cut_graph_equal_full_graph(resnet_pair, chest_like):
    """The trunk-detached VJP gives exactly the gradients of a full-graph backward."""
    model, peer = resnet_pair
    from engine.explainers.base import Context
    from engine.explainers.cam import layer_gradients

    x, _, _ = to_model_input(chest_like, model.manifest)
    ctx = Context(module=model.module, x=x, device=torch.device("cpu"))
    _, acts, grads = layer_gradients(ctx, x, ["layer3"], [0, 2])
    store: dict[str, torch.Tensor] = {}
    h = peer.layer3.register_forward_hook(lambda m, i, o: store.setdefault("a", o))
    xr = x.clone().requires_grad_(True)
    out = peer(xr)
    h.remove()
    for k, c in enumerate([0, 2]):
        (g,) = torch.autograd.grad(out[0, c], store["a"], retain_graph=True)
        torch.testing.assert_close(grads[0][k], g, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(acts[0], store["a"].detach())

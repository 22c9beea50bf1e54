"""Known answers: RadLens CAMs against pytorch-grad-cam on seeded models, after the same normalisation.

pytorch-grad-cam returns n(resize(n(cam))) with n(a) = (a - min) / (max + 1e-7). We apply exactly
that to RadLens's raw native map, resizing with RadLens's own bilinear resampling.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
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

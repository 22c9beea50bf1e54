"""SmoothGrad, saliency and Integrated Gradients against Captum given the same noise / path."""

from __future__ import annotations

import numpy as np
import torch
from captum.attr import IntegratedGradients, NoiseTunnel, Saliency

from engine import explain
from engine.explainers.base import Context
from engine.explainers.gradients import smoothgrad_sum
from engine.preprocess import to_model_input


def _ctx(model, x):
    return Context(module=model.module, x=x, device=torch.device("cpu"))


def test_smoothgrad_equals_captum_noise_tunnel_with_same_noise(tiny_pair, rng):
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    n, sigma = 12, 0.3
    for c in range(3):
        torch.manual_seed(7)
        ref = NoiseTunnel(Saliency(peer)).attribute(
            x.clone(), nt_type="smoothgrad", nt_samples=n, stdevs=sigma, target=c, abs=True
        )
        torch.manual_seed(7)
        noise = torch.normal(0, torch.full((n, *x.shape[1:]), sigma))
        ours = smoothgrad_sum(_ctx(model, x), [c], [noise[:5], noise[5:]], absolute=True, total=n, label="t") / n
        torch.testing.assert_close(ours[0], ref[0], rtol=1e-4, atol=1e-7)


def test_smoothgrad_chunking_does_not_change_the_map(tiny_pair, rng):
    model, _ = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    a = explain(model, image, "smoothgrad", n=10, batch_size=10, normalisation="raw").native_maps
    b = explain(model, image, "smoothgrad", n=10, batch_size=3, normalisation="raw").native_maps
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-9)
    c = explain(model, image, "smoothgrad", n=10, seed=1, normalisation="raw").native_maps
    assert not np.allclose(a, c)


def test_saliency_equals_captum(tiny_pair, rng):
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    result = explain(model, image, "saliency", normalisation="raw")
    for c in range(3):
        ref = Saliency(peer).attribute(x.clone(), target=c, abs=True)[0].amax(0).numpy()
        np.testing.assert_allclose(result.native_maps[c], ref, rtol=1e-5, atol=1e-9)


def test_integrated_gradients_equals_captum_trapezoid(tiny_pair, rng):
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    result = explain(model, image, "integrated_gradients", steps=16, baseline="black", normalisation="raw")
    mean = torch.tensor(model.manifest.mean)[None, :, None, None]
    std = torch.tensor(model.manifest.std)[None, :, None, None]
    baseline = ((0 - mean) / std).expand_as(x)
    # Captum's "riemann_trapezoid" puts its 16 nodes on linspace(0, 1, 16) but weights them 1/16
    # (halved at the ends), so its weights sum to 15/16, not 1; RadLens uses the trapezoid rule
    # (weights 1/15). The two differ exactly by that factor.
    for c in range(3):
        ref = IntegratedGradients(peer).attribute(
            x.clone(), baselines=baseline, target=c, n_steps=16, method="riemann_trapezoid"
        )[0].sum(0).numpy()
        np.testing.assert_allclose(result.native_maps[c] * 15 / 16, ref, rtol=1e-4, atol=1e-7)
    # completeness: attributions sum to f(x) - f(baseline) up to the discretisation error
    with torch.no_grad():
        gap = (peer(x) - peer(baseline))[0].numpy()
    np.testing.assert_allclose(result.native_maps.sum(axis=(1, 2)), gap, rtol=0.1, atol=0.02)


def test_smoothgrad_cam_with_zero_noise_is_the_base_cam(resnet_pair, chest_like):
    model, _ = resnet_pair
    smooth = explain(model, chest_like, "smoothgrad-cam", noise=0.0, n=3, normalisation="raw").native_maps
    plain = explain(model, chest_like, "gradcam", normalisation="raw").native_maps
    np.testing.assert_allclose(smooth, plain, rtol=1e-4, atol=1e-7)

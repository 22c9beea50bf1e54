"""Issue #14: conventions by name: SmoothGrad aggregation (public `explain` path), Grad-CAM++ and alignment notes.

Reference: a per-copy autograd loop on an independent copy of the network with the same noise
draws (``torch.randn`` from a generator seeded with ``seed``, times sigma = noise x input range).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from engine import explain
from engine.preprocess import to_model_input


def _reference(
    peer: torch.nn.Module, x: torch.Tensor, c: int, n: int, noise: float, seed: int, aggregate: str
) -> np.ndarray:
    sigma = noise * float(x.max() - x.min())
    gen = torch.Generator().manual_seed(seed)
    draws = torch.randn((n, *x.shape[1:]), generator=gen) * sigma
    grads = []
    for i in range(n):
        xi = (x + draws[i]).detach().requires_grad_(True)
        (g,) = torch.autograd.grad(peer(xi)[0, c], xi)
        grads.append(g[0])
    g = torch.stack(grads)
    per_channel = g.mean(0).abs() if aggregate == "abs_mean" else g.abs().mean(0)
    return per_channel.amax(0).numpy()


@pytest.mark.parametrize("aggregate", ["abs_mean", "mean_abs"])
def test_explain_smoothgrad_matches_reference_loop(tiny_pair, rng, aggregate: str) -> None:
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    result = explain(model, image, "smoothgrad", n=12, noise=0.2, seed=5, aggregate=aggregate, normalisation="raw")
    assert result.params["aggregate"] == aggregate
    assert any(f"'{aggregate}'" in note for note in result.notes)
    for c in range(3):
        ref = _reference(peer, x, c, 12, 0.2, 5, aggregate)
        np.testing.assert_allclose(result.native_maps[c], ref, rtol=1e-4, atol=1e-8)


def test_default_is_smilkovs_abs_of_the_mean_and_differs_from_mean_abs(tiny_pair, rng) -> None:
    model, _ = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    default = explain(model, image, "smoothgrad", n=16, noise=0.3, normalisation="raw")
    assert default.params["aggregate"] == "abs_mean"
    assert any("Smilkov" in note and "'abs_mean'" in note for note in default.notes)
    other = explain(model, image, "smoothgrad", n=16, noise=0.3, aggregate="mean_abs", normalisation="raw")
    # |mean g| <= mean |g| everywhere (triangle inequality), strictly somewhere with this much noise
    assert np.all(default.native_maps <= other.native_maps + 1e-7)
    assert np.mean(default.native_maps < other.native_maps - 1e-6) > 0.1


def test_signed_smoothgrad_states_its_convention(tiny_pair, rng) -> None:
    model, _ = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    signed = explain(model, image, "smoothgrad", n=6, noise=0.2, normalisation="raw", abs=False)
    absolute = explain(model, image, "smoothgrad", n=6, noise=0.2, normalisation="raw")
    assert signed.signed and signed.native_maps.min() < 0
    assert any("signed mean" in note for note in signed.notes)
    # same noise: max over channels of |mean| >= |max over channels of mean|, equal where one channel leads
    assert np.all(absolute.native_maps >= np.abs(signed.native_maps) - 1e-6)
    assert np.mean(np.isclose(absolute.native_maps, np.abs(signed.native_maps), atol=1e-7)) > 0.2


def test_gradcampp_and_alignment_conventions_are_stated(resnet_pair, chest_like) -> None:
    model, _ = resnet_pair
    result = explain(model, chest_like, "gradcampp", classes=[0])
    assert any("Eq. 19" in n and "no epsilon" in n for n in result.notes)
    assert any("receptive-field centres" in n and "alignment='resize'" in n for n in result.notes)
    assert result.to_dict()["notes"] == list(result.notes)  # the CLI JSON carries them
    plain = explain(model, chest_like, "gradcam", classes=[0], alignment="resize")
    assert not any("Eq. 19" in n for n in plain.notes)
    assert any("tile" in n for n in plain.notes)

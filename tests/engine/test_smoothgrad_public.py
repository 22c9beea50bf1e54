"""SmoothGrad through the public ``engine.explain(..., method="smoothgrad")`` path.

Two independent checks:

- the map equals a reference written here: the mean over the seeded noisy copies of Captum's
  ``Saliency`` (absolute or signed), with sigma = noise x (max - min) of the normalised input
  (SPEC section 3, Smilkov et al.), then the maximum over input channels;
- sigma itself is seen through models whose SmoothGrad map has a closed form in sigma:
  for y = sum x^2 / 2 the averaged |gradient| at a pixel where x = 0 is E|sigma z| =
  sigma sqrt(2 / pi); for y = sum |x| the averaged signed gradient where x = v is
  E sign(v + sigma z) = erf(v / (sigma sqrt 2)).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from captum.attr import Saliency
from shared_models import make_manifest
from torch import nn

from engine import explain
from engine.models.bundle import LoadedModel
from engine.preprocess import to_model_input


def reference_smoothgrad(peer: nn.Module, x: torch.Tensor, cls: int, *, noise: float, n: int, seed: int,
                         aggregate: str) -> np.ndarray:
    """Captum's saliency at x + sigma z over n copies (z from the documented seeded generator), reduced as
    ``aggregate`` names: ``mean_abs`` = mean of |g| (Captum's NoiseTunnel over Saliency(abs=True)),
    ``abs_mean`` = |mean of g| (Smilkov et al. 2017), ``signed`` = mean of g."""
    sigma = noise * float(x.max() - x.min())
    z = torch.randn((n, *x.shape[1:]), generator=torch.Generator().manual_seed(seed))
    copies = [(x[0] + sigma * z[i])[None].requires_grad_(True) for i in range(n)]
    grads = torch.stack([Saliency(peer).attribute(xi, target=cls, abs=aggregate == "mean_abs")[0] for xi in copies])
    mean = grads.mean(0)
    if aggregate == "abs_mean":
        mean = mean.abs()
    return mean.amax(0).numpy()


@pytest.mark.parametrize(("params", "aggregate"), [
    ({"abs": True}, "abs_mean"),  # the default: Smilkov et al.
    ({"abs": True, "aggregate": "abs_mean"}, "abs_mean"),
    ({"abs": True, "aggregate": "mean_abs"}, "mean_abs"),
    ({"abs": False}, "signed"),
])
def test_public_smoothgrad_equals_mean_of_captum_saliency_over_seeded_copies(tiny_pair, rng, params, aggregate):
    model, peer = tiny_pair
    image = rng.random((32, 32)).astype(np.float32)
    x, _, _ = to_model_input(image, model.manifest)
    assert float(x.max() - x.min()) > 3  # ImageNet normalisation: sigma = noise would be another method
    result = explain(model, image, "smoothgrad", noise=0.2, n=8, seed=3, batch_size=3, normalisation="raw", **params)
    for c in range(3):
        ref = reference_smoothgrad(peer, x, c, noise=0.2, n=8, seed=3, aggregate=aggregate)
        np.testing.assert_allclose(result.map(c, space="native"), ref, rtol=1e-4, atol=1e-6, err_msg=f"class {c}")


class ClosedForm(nn.Module):
    """Class 0: y = sum x^2 / 2 (gradient x); class 1: y = sum |x| (gradient sign x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([0.5 * (x**2).sum(dim=(1, 2, 3)), x.abs().sum(dim=(1, 2, 3))], dim=1)


def _closed_form_case() -> tuple[LoadedModel, np.ndarray, np.ndarray, np.ndarray, float]:
    """One-channel 16 x 16 model input (mean 0.5, std 0.25): pixel p -> x = 4 (p - 0.5).

    Left half: p = 0.5 (x = 0). Right half: p = 0.55 / 0.45 in a checkerboard (x = +-0.2).
    Two corner pixels p = 1 and p = 0 make the normalised range x_max - x_min = 4.
    """
    manifest = make_manifest("closed-form", 2, 16, in_channels=1, mean=(0.5,), std=(0.25,))
    image = np.full((16, 16), 0.5, np.float32)
    yy, xx = np.mgrid[0:16, 8:16]
    image[:, 8:] = np.where((yy + xx) % 2 == 0, 0.55, 0.45)
    image[0, 0], image[15, 0] = 1.0, 0.0
    zero = np.zeros((16, 16), bool)
    zero[1:15, :8] = True
    plus = np.zeros((16, 16), bool)
    plus[:, 8:] = image[:, 8:] > 0.5
    minus = np.zeros((16, 16), bool)
    minus[:, 8:] = image[:, 8:] < 0.5
    return LoadedModel.from_module(ClosedForm(), manifest), image, zero, plus | minus, 4.0


@pytest.mark.parametrize("noise", [0.1, 0.2])
def test_sigma_is_noise_times_input_range(noise):
    model, image, zero, moved, value_range = _closed_form_case()
    x, _, _ = to_model_input(image, model.manifest)
    assert float(x.max() - x.min()) == pytest.approx(value_range)  # the case is what it claims
    # sigma = noise x range is 4x sigma = noise here: E|sigma z| differs 4-fold, and
    # erf(0.2 / (sigma sqrt 2)) is 0.383 at sigma 0.4 but 0.954 at sigma 0.1
    sigma = noise * value_range
    n = 200
    absolute = explain(model, image, "smoothgrad", classes=[0], noise=noise, n=n, seed=5, abs=True,
                       aggregate="mean_abs", normalisation="raw").native_maps[0]
    # 14 x 8 pixels x 200 copies of |sigma z|: standard error 0.5 % of the mean
    assert absolute[zero].mean() == pytest.approx(sigma * math.sqrt(2 / math.pi), rel=0.03)
    signed = explain(model, image, "smoothgrad", classes=[1], noise=noise, n=n, seed=5, abs=False,
                     normalisation="raw").native_maps[0]
    xs = x[0, 0].numpy()
    expected = np.vectorize(math.erf)(xs / (sigma * math.sqrt(2)))
    # 128 pixels x 200 copies of sign(+-0.2 + sigma z): standard error < 0.01
    folded = np.where(xs > 0, signed, -signed)[moved].mean()
    assert folded == pytest.approx(np.abs(expected)[moved].mean(), abs=0.03)


"""Grad-CAM++ against the paper's general formula with explicit higher-order autograd.

The network's explained output is Y = exp(S): the reference computes dY/dA, the diagonal of
d2Y/dA2 and of d3Y/dA3 with nested torch.func jacobians, then
alpha = d2 / (2 d2 + sum_ab A_ab d3) and w_k = sum_ij alpha ReLU(dY) (Chattopadhyay et al.,
Eq. 10 and 19). RadLens computes the closed form on S; exp(S) cancels after normalisation.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.func import jacfwd, jacrev

from engine import explain
from engine.preprocess import to_model_input


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

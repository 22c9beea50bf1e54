"""The cheaper paths of a process's first explanation (issue #19): they give what the former ones gave."""

from __future__ import annotations

import torch
from shared_models import TinyNet

from engine.explainers.hooks import class_vjp


def test_class_vjp_equals_torchs_batched_one_hot_vjp_bit_for_bit():
    torch.manual_seed(3)
    net = TinyNet(classes=4).eval()
    x = torch.randn(2, 3, 16, 16)
    a = net.act(net.stem(x)).detach().requires_grad_(True)  # two inputs in the graph: a leaf and a later node
    b = net.features(a)
    scores = net.fc(net.pool(net.relu(b)).flatten(1))
    unused = torch.zeros(5, requires_grad=True)
    classes = [2, 0, 3]
    onehot = torch.zeros(len(classes), *scores.shape)
    for i, c in enumerate(classes):
        onehot[i, :, c] = 1
    ref_a, ref_b = torch.autograd.grad(scores, [a, b], onehot, is_grads_batched=True, retain_graph=True)
    ga, gb, gu = class_vjp(scores, [a, b, unused], classes)
    assert ga.shape == (3, 2, 8, 8, 8) and gb.shape == (3, 2, 8, 4, 4)
    assert torch.equal(ga, ref_a) and torch.equal(gb, ref_b)
    assert torch.equal(gu, torch.zeros(3, 5))
    assert ga.abs().sum() > 0

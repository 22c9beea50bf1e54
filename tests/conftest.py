"""Shared fixtures: small seeded models and images, offscreen Qt."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# caches the engine keeps under the user's cache folder (measured CAM alignments) go to a temporary folder
os.environ.setdefault("RADLENS_CACHE_DIR", __import__("tempfile").mkdtemp(prefix="radlens-test-cache-"))

import numpy as np
import pytest
import torch
import torchvision
from shared_models import TinyNet, make_manifest
from torch import nn

from engine.models.bundle import LoadedModel

# one thread per xdist worker (the suite runs with -n 2 on 2-core machines), else up to 2
torch.set_num_threads(1 if os.environ.get("PYTEST_XDIST_WORKER") else max(1, min(2, torch.get_num_threads())))


@pytest.fixture(scope="session")
def resnet_pair() -> tuple[LoadedModel, nn.Module]:
    """(RadLens model, an independent unfrozen copy for peer libraries): ResNet-18, 4 classes, 128 px."""
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=4)
    # make BatchNorm statistics non-trivial so maps are not degenerate
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            assert m.running_mean is not None and m.running_var is not None  # track_running_stats=True
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    net.eval()
    peer = torchvision.models.resnet18(num_classes=4).eval()
    peer.load_state_dict(net.state_dict())
    return LoadedModel.from_module(net, make_manifest("resnet18", 4, 128)), peer


@pytest.fixture(scope="session")
def tiny_pair() -> tuple[LoadedModel, nn.Module]:
    torch.manual_seed(1)
    net = TinyNet().eval()
    peer = TinyNet().eval()
    peer.load_state_dict(net.state_dict())
    return LoadedModel.from_module(net, make_manifest("tiny", 3, 32)), peer


@pytest.fixture()
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture()
def chest_like(rng: np.random.Generator) -> np.ndarray:
    """A 128 x 128 float image in [0, 1] with structure (two dark 'lungs', a bright blob)."""
    yy, xx = np.mgrid[0:128, 0:128] / 128.0
    img = 0.6 + 0.1 * rng.standard_normal((128, 128))
    lungs = np.exp(-((xx - 0.3) ** 2 + (yy - 0.5) ** 2) / 0.02) + np.exp(-((xx - 0.7) ** 2 + (yy - 0.5) ** 2) / 0.02)
    img -= 0.35 * lungs
    img += 0.4 * np.exp(-((xx - 0.62) ** 2 + (yy - 0.35) ** 2) / 0.002)
    return np.clip(img, 0, 1).astype(np.float32)

"""The fast receptive-field probe gives the original probe's answers; answers are cached on disk per weights.

Reference: the original probe (``fast=False``: two backward passes per input size and no shortcut),
run on the same networks and layers. Equal alignments mean equal maps and boxes, since the
alignment is the only thing the probe feeds into a result.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from shared_models import TinyNet
from torch import nn

from engine.explainers import alignment as al


class ResidualNet(nn.Module):
    """A ResNet-like trunk in miniature: a strided residual block with a 1x1 shortcut, one ReLU module
    called three times (as torchvision's Bottleneck does), dilation, global pooling, a linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 7, stride=2, padding=3)
        self.conv1 = nn.Conv2d(8, 8, 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=2, dilation=2)
        self.down = nn.Conv2d(8, 8, 1, stride=2)
        self.relu = nn.ReLU()
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.relu(self.stem(x))
        out = self.relu(self.conv2(self.relu(self.conv1(s)))) + self.down(s)
        return self.head(out.mean((2, 3)))


def _nets():
    torch.manual_seed(0)
    return {
        "tiny": (TinyNet().eval(), 32, ["stem", "features", "relu"]),
        # relu runs three times per forward: the probe must read its last call, as before
        "residual": (ResidualNet().eval(), 32, ["stem", "relu", "conv2"]),
        "efficientnet": (timm.create_model("test_efficientnet", num_classes=2).eval(), 32, ["conv_head"]),
        "convnext": (timm.create_model("test_convnext", num_classes=2).eval(), 32, ["stages.1"]),
    }


NETS = _nets()


@pytest.mark.parametrize("net", sorted(NETS))
def test_fast_probe_equals_original_probe(net):
    module, size, layers = NETS[net]
    x = torch.zeros(1, 3, size, size + 16)  # non-square
    for layer in layers:
        fast = al._probe(module, layer, x, 0, fast=True)
        slow = al._probe(module, layer, x, 0, fast=False)
        assert fast == slow, f"{net} {layer}: {fast} != {slow}"


def test_squeeze_excitation_gets_tile_centres_at_once():
    module, size, _ = NETS["efficientnet"]
    a = al._probe(module, "conv_head", torch.zeros(1, 3, size, size), 0)
    assert a is not None and a.source == "resize"


def test_disk_cache_second_start_pays_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path))
    x = torch.zeros(1, 3, 32, 32)
    first = al.measure_alignment(TinyNet().eval(), "features", x, disk_key="ab" * 32)
    files = list((tmp_path / "alignment").glob("*.json"))
    assert len(files) == 1 and first is not None and first.source == "receptive_field"
    record = json.loads(files[0].read_text())
    assert record["weights_sha256"] == "ab" * 32 and record["layer"] == "features"
    assert record["input_shape"] == [3, 32, 32]

    def no_probe(*_a, **_k):
        raise AssertionError("the second start must read the cache")

    with monkeypatch.context() as m:
        m.setattr(al, "_measure", no_probe)
        fresh = TinyNet().eval()  # a new process would hold a new module
        assert al.measure_alignment(fresh, "features", x, disk_key="ab" * 32) == first
    # another input size or other weights are other entries; a damaged file is measured again
    files[0].write_text("{not json")
    again = al.measure_alignment(TinyNet().eval(), "features", x, disk_key="ab" * 32)
    assert again == first and json.loads(files[0].read_text())["alignment"] == first.to_dict()
    al.measure_alignment(TinyNet().eval(), "features", torch.zeros(1, 3, 48, 32), disk_key="ab" * 32)
    assert len(list((tmp_path / "alignment").glob("*.json"))) == 2


def test_shipped_alignment_is_read_before_probing(tmp_path, monkeypatch):
    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path / "user-cache"))
    x = torch.zeros(1, 3, 32, 32)
    measured = al.measure_alignment(TinyNet().eval(), "features", x)  # no disk key: nothing written
    shipped = tmp_path / "bundle" / al.BUNDLE_ALIGNMENT_DIR
    al.write_shipped(shipped, "cd" * 32, "features", (3, 32, 32), measured)

    def no_probe(*_a, **_k):
        raise AssertionError("a shipped alignment must be used as it is")

    with monkeypatch.context() as m:
        m.setattr(al, "_measure", no_probe)
        got = al.measure_alignment(TinyNet().eval(), "features", x, disk_key="cd" * 32, shipped=shipped)
    assert got == measured
    assert not (tmp_path / "user-cache").exists()  # read from the bundle, nothing copied to the user's cache


def test_bundled_models_ship_their_default_layers_alignment(monkeypatch, tmp_path):
    """The bundled models explain on a new machine without a probe (issue #19: first explanation)."""
    import engine
    from engine.explainers.api import default_layer
    from engine.models.manifest import DEFAULT_BUNDLE_DIR

    monkeypatch.setenv("RADLENS_CACHE_DIR", str(tmp_path))

    def no_probe(*_a, **_k):
        raise AssertionError("the bundle's shipped alignment must be used")

    monkeypatch.setattr(al, "_measure", no_probe)
    bundles = sorted(p.parent for p in DEFAULT_BUNDLE_DIR.glob("*/model.json"))
    assert len(bundles) >= 3
    for bundle in bundles:
        model = engine.load_model(bundle)
        size = tuple(model.manifest.input_size)
        result = engine.explain(model, np.zeros(size, np.float32), "gradcam", classes=[0],
                                layers=[default_layer(model)])
        assert result.explained, bundle.name  # explained without a probe (no_probe would have raised)
        if bundle.name == "phantom-resnet18":
            assert result.alignment is not None and result.alignment.source == "receptive_field"

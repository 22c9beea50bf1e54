"""Receptive fields by layer arithmetic give the gradient probe's alignments, in milliseconds.

References: (1) the probe's answers on seven untrained torchvision networks, several stage outputs,
at 224 x 224, 192 x 256 and (some) 200 x 232, written by ``scripts/alignment_reference.py`` into
``data/alignment_probe_reference.json`` (the probe takes minutes there); (2) the original probe
(two backward passes per size) run here on small networks that exercise each rule of the
arithmetic: asymmetric and reflection padding, ceil-mode and padded pooling, dilation, groups,
channels-last LayerNorm + Linear, residual sums and channel concatenations of unequal fields, a
global gate, nearest and bilinear upsampling, an in-place sum into a slice, a 1-cell grid. Equal
means equal floats: the same alignment, so the same maps.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision
from shared_models import make_manifest
from torch import nn

from engine import explain
from engine.explainers import alignment as al
from engine.models.bundle import LoadedModel
from engine.sampling import GridAlignment

REFERENCE = json.loads((Path(__file__).parent / "data" / "alignment_probe_reference.json").read_text())


@pytest.mark.parametrize("net", sorted({r["net"] for r in REFERENCE}))
def test_arithmetic_equals_the_probe_on_torchvision_networks(net):
    with torch.device("meta"):  # the arithmetic needs no weights: built without any, in milliseconds
        module = torchvision.models.get_model(net, weights=None, num_classes=2).eval()
    records = [r for r in REFERENCE if r["net"] == net]
    assert len(records) >= 8 and {tuple(r["size"]) for r in records} >= {(224, 224), (192, 256)}
    for r in records:
        got = al._measure(module, r["layer"], torch.zeros(1, 3, *r["size"]), 0)
        want = GridAlignment.from_dict(r["alignment"])
        assert got == want, f"{net} {r['layer']} {r['size']}: {got} != probe {want}"
        assert got.how == "layer arithmetic"


class PaddedNet(nn.Module):
    """TF-style asymmetric padding, ceil-mode max-pool, dilated grouped conv, padded avg-pool, reflection pad."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, stride=2)
        self.pool = nn.MaxPool2d(3, 2, ceil_mode=True)
        self.b = nn.Conv2d(6, 6, 3, padding=2, dilation=2, groups=3)
        self.avg = nn.AvgPool2d(3, 2, padding=1)
        self.c = nn.Sequential(nn.ReflectionPad2d((2, 1, 1, 2)), nn.Conv2d(6, 4, 3))
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.a(F.pad(x, (0, 1, 0, 1)))
        x = self.avg(self.b(self.pool(F.relu(x))))
        return self.fc(self.c(x).mean((2, 3)))


class SameNet(nn.Module):
    """``padding='same'`` with an even kernel (padded more on one side) and with dilation; a max-reduced head."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 4, padding="same")
        self.b = nn.Conv2d(4, 4, 3, stride=2)
        self.c = nn.Conv2d(4, 4, 2, padding="same", dilation=3)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.c(self.b(self.a(x))).amax((2, 3)))


class ChannelsLastNet(nn.Module):
    """ConvNeXt in miniature: patchify stem, depthwise 7x7, permute, LayerNorm + MLP on channels, residual."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 4, stride=4)
        self.dw = nn.Conv2d(8, 8, 7, padding=3, groups=8)
        self.norm = nn.LayerNorm(8)
        self.mlp = nn.Sequential(nn.Linear(8, 16), nn.GELU(), nn.Linear(16, 8))
        self.block = nn.Identity()
        self.down = nn.Conv2d(8, 8, 2, stride=2)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.block(x + self.mlp(self.norm(self.dw(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2))
        return self.fc(self.down(x).flatten(2).mean(-1))


class ConcatNet(nn.Module):
    """Branches of unequal fields and centres joined by a channel concat and a residual sum; a gate."""

    def __init__(self, gate: bool = False) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.narrow = nn.Conv2d(4, 4, 1, stride=2)
        self.wide = nn.Sequential(nn.ReplicationPad2d(2), nn.Conv2d(4, 4, 5, stride=2))
        self.merge = nn.Identity()
        self.gate = gate
        self.out = nn.Conv2d(8, 8, 3, padding=1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        m = self.merge(torch.cat([self.narrow(s), self.wide(s)], 1))
        if self.gate:  # squeeze-and-excitation: every cell sees the whole image
            m = m * torch.sigmoid(m.mean((2, 3), keepdim=True))
        y = self.out(m) + m
        return self.fc(y.mean((2, 3)))


class PyramidNet(nn.Module):
    """A feature pyramid in miniature: a coarse map upsampled onto a finer one and added to it."""

    def __init__(self, mode: str = "nearest", align_corners: bool | None = None, by_size: bool = True) -> None:
        super().__init__()
        self.fine = nn.Conv2d(3, 4, 3, stride=2, padding=1)
        self.coarse = nn.Conv2d(4, 4, 3, stride=2, padding=1)
        self.merge = nn.Identity()
        self.out = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)
        self.mode, self.align, self.by_size = mode, align_corners, by_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = torch.relu(self.fine(x))
        c = self.coarse(f)
        if self.by_size:
            up = F.interpolate(c, size=f.shape[-2:], mode=self.mode, align_corners=self.align)
        else:
            up = F.interpolate(c, scale_factor=2.0, mode=self.mode, align_corners=self.align)
            up = up[..., :f.shape[-2], :f.shape[-1]]
        return self.fc(self.out(self.merge(f + up)).mean((2, 3)))


class SliceAddNet(ConcatNet):
    """GhostNet's pattern: a sum written in place into a slice of a concat that is not read again."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        y = torch.cat([self.narrow(s), self.wide(s)], 1)[:, :4]
        y += self.narrow(s)
        return self.fc(self.out(self.merge(torch.cat([y, y], 1))).mean((2, 3)))


class TransposedNet(ConcatNet):
    """An op the arithmetic does not know (a transposed convolution) on the way to ``out``."""

    def __init__(self) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(8, 8, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        m = self.merge(torch.cat([self.narrow(s), self.wide(s)], 1))
        return self.fc(self.out(F.avg_pool2d(self.up(m), 2)).mean((2, 3)))


class HeadUpsampleNet(ConcatNet):
    """The same unknown op after the target layer: it does not matter there."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        m = self.out(self.merge(torch.cat([self.narrow(s), self.wide(s)], 1)))
        return self.fc(F.interpolate(m, scale_factor=0.5, mode="bilinear").mean((2, 3)))


class ViewWriteNet(ConcatNet):
    """An in-place sum into a slice (a view) of a tensor that is read again: the arithmetic does not follow it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        m = torch.cat([self.narrow(s), self.wide(s)], 1)
        m[:, :4] += self.wide(s)
        return self.fc(self.out(self.merge(m)).mean((2, 3)))


class BufferWriteNet(ConcatNet):
    """Features copied into a slice of a zero buffer (a constant until then)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.relu(self.stem(x))
        buf = torch.zeros(s.shape[0], 8, (s.shape[2] + 1) // 2, (s.shape[3] + 1) // 2, device=s.device)
        buf[:, :4] = self.narrow(s)
        return self.fc(self.out(self.merge(buf)).mean((2, 3)))


CASES = [
    (PaddedNet, ["a", "pool", "b", "avg", "c"]),
    (SameNet, ["a", "b", "c"]),
    (ChannelsLastNet, ["stem", "block", "down"]),
    (ConcatNet, ["stem", "merge", "out"]),
    (lambda: ConcatNet(gate=True), ["merge", "out"]),
    (SliceAddNet, ["merge", "out"]),
    (PyramidNet, ["merge", "out"]),
    (lambda: PyramidNet("bilinear", align_corners=False), ["merge"]),
    (lambda: PyramidNet("bilinear", align_corners=True), ["merge"]),
    (lambda: PyramidNet("nearest-exact"), ["merge"]),
    (lambda: PyramidNet("bilinear", align_corners=False, by_size=False), ["merge"]),
]
IDS = ["padded", "same", "channels_last", "concat", "gate", "slice_add", "nearest", "bilinear", "bilinear_corners",
       "nearest_exact", "bilinear_x2"]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")  # torch's note on a copy
@pytest.mark.parametrize(("make", "layers"), CASES, ids=IDS)
@pytest.mark.parametrize("size", [(40, 56), (37, 50)], ids=["even", "odd"])
def test_arithmetic_equals_the_original_probe(make, layers, size):
    torch.manual_seed(0)
    module = make().eval()
    x = torch.zeros(1, 3, *size)
    for layer in layers:
        got = al._measure(module, layer, x, 0)
        assert got == al._probe(module, layer, x, 0, fast=False), layer
        assert got is not None and got.how == "layer arithmetic"


def test_a_global_gate_gives_tile_centres_a_one_cell_grid_is_understood_no_grid_is_none():
    torch.manual_seed(0)
    gated = ConcatNet(gate=True).eval()
    a = al._measure(gated, "out", torch.zeros(1, 3, 32, 48), 0)
    assert a is not None and a.source == "resize" and a.how == "layer arithmetic"
    tiny = al._measure(ConcatNet().eval(), "out", torch.zeros(1, 3, 4, 4), 0)  # 1x1 grid
    assert tiny == al._probe(ConcatNet().eval(), "out", torch.zeros(1, 3, 4, 4), 0, fast=False)
    assert tiny is not None and tiny.grid == (1, 1)
    assert al._measure(ConcatNet().eval(), "fc", torch.zeros(1, 3, 32, 48), 0) is None  # no grid, as the probe
    assert al._probe(ConcatNet().eval(), "fc", torch.zeros(1, 3, 32, 48), 0, fast=False) is None


@pytest.mark.parametrize(("make", "why"), [(TransposedNet, "convolution (transposed)"),
                                         (ViewWriteNet, "add_ through a view"),
                                         (BufferWriteNet, "copy_ through a view")])
def test_an_unknown_op_falls_back_to_the_probe_and_says_so(make, why):
    torch.manual_seed(0)
    module = make().eval()
    x = torch.zeros(1, 3, 32, 48)
    got = al._measure(module, "out", x, 0)
    assert got == al._probe(module, "out", x, 0)
    assert got is not None and got.how.startswith("gradient probe") and why in got.how
    model = LoadedModel.from_module(module, make_manifest("tiny", 2, 32, mean=(0.5,) * 3, std=(0.25,) * 3))
    result = explain(model, np.zeros((32, 32), np.float32), "gradcam", classes=[0], layers=["out"])
    assert any("gradient probe" in note and why in note for note in result.notes), result.notes


def test_an_unknown_op_after_the_layer_does_not_matter():
    torch.manual_seed(0)
    module = HeadUpsampleNet().eval()
    x = torch.zeros(1, 3, 32, 48)
    got = al._measure(module, "out", x, 0)
    assert got == al._probe(module, "out", x, 0, fast=False) and got is not None and got.how == "layer arithmetic"


def test_the_arithmetic_leaves_the_model_as_it_was():
    torch.manual_seed(0)
    module = nn.Sequential(ChannelsLastNet().stem, nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3)).train()
    before = {k: v.clone() for k, v in module.state_dict().items()}  # running stats, num_batches_tracked
    got = al._measure(module, "3", torch.zeros(1, 3, 32, 32), 0)
    assert got is not None and got.how == "layer arithmetic"
    assert module.training and all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in module.modules())


def test_how_is_kept_on_disk_and_ignored_by_equality():
    a = GridAlignment(4.0, 0.0, 4.0, 0.0, (8, 8), how="layer arithmetic")
    assert GridAlignment.from_dict(a.to_dict()).how == "layer arithmetic"
    assert a == GridAlignment(4.0, 0.0, 4.0, 0.0, (8, 8))


def test_arithmetic_equals_the_probe_answers_shipped_with_the_trained_bundles():
    """The bundled models ship the probe's answers, measured on their trained weights (scripts/ship_alignment.py)."""
    import engine
    from engine.models.manifest import DEFAULT_BUNDLE_DIR

    checked, seen = 0, set()
    for bundle in sorted(p.parent for p in DEFAULT_BUNDLE_DIR.glob("*/model.json")):
        arch = json.loads((bundle / "model.json").read_text())["architecture"]
        if arch in seen:  # one bundle per architecture: the others add no rule
            continue
        seen.add(arch)
        module = engine.load_model(bundle).module
        for f in sorted((bundle / al.BUNDLE_ALIGNMENT_DIR).glob("*.json")):
            record = json.loads(f.read_text())
            want = GridAlignment.from_dict(record["alignment"]) if record["alignment"] else None
            got = al._measure(module, record["layer"], torch.zeros(1, *record["input_shape"]), 0)
            assert got == want, f"{bundle.name} {record['layer']}: {got} != shipped {want}"
            checked += 1
    assert checked >= 25 and len(seen) >= 2

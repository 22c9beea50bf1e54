"""Receptive-field alignment of CAM grids: measured centres against hand-derived ones."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_models import make_manifest
from torch import nn

from engine import explain
from engine.explainers.alignment import GridAlignment, measure_alignment, regrid, resize_alignment
from engine.explainers.result import ExplanationResult
from engine.models.bundle import LoadedModel


class StridedNet(nn.Module):
    """Two 3x3 stride-2 convolutions with padding 1: output i is centred on input 2*(2*i) = 4*i."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, 2, 1), nn.ReLU())
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class PooledNet(nn.Module):
    """conv 3x3 (pad 1) + 2x2 max-pool, twice: output i covers input 4i..4i+3, centre 4*i + 1.5."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Conv2d(4, 4, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).mean((2, 3)))


class GlobalGateNet(StridedNet):
    """Every cell depends on every pixel (a squeeze-excitation-like global gate)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x * torch.sigmoid(x.mean()))


def _model(net: nn.Module, size: int = 64) -> LoadedModel:
    torch.manual_seed(0)
    return LoadedModel.from_module(net, make_manifest("tiny", 2, size, in_channels=1, mean=(0.5,), std=(0.25,)))


@pytest.mark.parametrize(("net", "offset"), [(StridedNet, 0.0), (PooledNet, 1.5)])
def test_measured_centres_equal_the_hand_derived_ones(net: type[nn.Module], offset: float) -> None:
    torch.manual_seed(0)
    a = measure_alignment(net().eval(), "features", torch.zeros(1, 1, 64, 48))
    assert a == GridAlignment(4.0, offset, 4.0, offset, (16, 12))


def test_plain_resizing_is_the_tile_centre_convention() -> None:
    assert resize_alignment((16, 12), (64, 48)) == GridAlignment(4.0, 1.5, 4.0, 1.5, (16, 12), "resize")


def test_fields_wider_than_the_input_fall_back_to_tile_centres_and_say_so() -> None:
    model = _model(GlobalGateNet())
    a = measure_alignment(model.module, "features", torch.zeros(1, 1, 64, 64))
    assert a is not None and a.source == "resize"
    r = explain(model, np.random.default_rng(0).random((64, 64)), "gradcam", layers="features")
    assert r.alignment is None
    assert any("wider than the input" in n for n in r.notes)


def test_aligned_maps_put_each_cell_value_on_its_centre_pixel() -> None:
    model = _model(StridedNet())
    img = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    r = explain(model, img, "gradcam", layers="features", normalisation="raw")
    assert r.alignment == GridAlignment(4.0, 0.0, 4.0, 0.0, (16, 16))
    full = r.map(0, space="model")
    native = r.native_maps[0]
    # cell (i, j) is centred on input pixel (4i, 4j): the resampled map takes its value exactly there
    np.testing.assert_allclose(full[4:60:4, 4:60:4], native[1:15, 1:15], rtol=1e-5, atol=1e-6)
    # plain resizing puts it 1.5 px lower and further right, so those pixels differ
    resized = explain(model, img, "gradcam", layers="features", normalisation="raw", alignment="resize")
    assert resized.alignment is None
    assert not np.allclose(full[4:60:4, 4:60:4], resized.map(0, space="model")[4:60:4, 4:60:4])


def test_image_space_follows_the_geometry_for_stretched_images() -> None:
    model = _model(StridedNet())
    img = np.random.default_rng(2).random((192, 64)).astype(np.float32)  # rows squeezed 3x, cols 1x
    r = explain(model, img, "gradcam", layers="features", normalisation="raw")
    native = r.native_maps[0]
    # image row k (centre k + 0.5) lands on model (k + 0.5) / 3, the centre 4i + 0.5 of cell i for k = 12i + 1
    image = r.map(0, space="image")
    np.testing.assert_allclose(image[13:180:12, 4:60:4], native[1:15, 1:15], rtol=1e-4, atol=1e-5)


def test_alignment_survives_json() -> None:
    model = _model(StridedNet())
    r = explain(model, np.random.default_rng(3).random((64, 64)), "gradcam", layers="features")
    back = ExplanationResult.from_json(r.to_json())
    assert back.alignment == r.alignment
    np.testing.assert_array_equal(back.map(0), r.map(0))


def test_fused_layers_are_regridded_on_receptive_field_centres() -> None:
    coarse = GridAlignment(4.0, 0.0, 4.0, 0.0, (4, 4))
    fine = GridAlignment(2.0, 0.0, 2.0, 0.0, (8, 8))
    maps = torch.arange(16, dtype=torch.float32).reshape(1, 4, 4)
    out = regrid(maps, coarse, fine)[0]
    # fine cell 2k sits on coarse cell k's centre; fine cell 2k+1 halfway to the next one
    np.testing.assert_allclose(out[0:8:2, 0:8:2].numpy(), maps[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(out[1, 1].item(), maps[0, :2, :2].mean().item(), atol=1e-5)
    assert out[7, 7].item() == pytest.approx(15.0)  # beyond the last centre: the border cell

"""scripts/ctr_map_location.py: the map-location figures docs/regression.md reports, on known answers.

The regions are checked against an independent construction (Euclidean distance transforms instead
of dilations by a disk); the re-rendered anatomy against the ratio ``radlens phantom`` wrote; and the
whole measurement on a model whose evidence is known: ``y = mean(x on the lateral heart band) -
mean(x on the widest thorax margins)``, so every "raises" pixel lies in the heart's lateral band and
every "lowers" pixel at the thorax's widest margins, for a gradient and a CAM method.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from engine.models.bundle import LoadedModel
from engine.models.manifest import ModelManifest
from training.phantom import PhantomConfig
from training.phantom.dataset import generate_dataset
from training.phantom.geometry import cardiothoracic_ratio

REPO = Path(__file__).resolve().parents[2]
SIZE = 128


@pytest.fixture(scope="module")
def loc() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ctr_map_location", REPO / "scripts" / "ctr_map_location.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two 128 px phantoms (seed 4), as `radlens phantom` writes them."""
    out = tmp_path_factory.mktemp("ctr-phantom")
    generate_dataset(out, 2, 4, PhantomConfig(size=SIZE))
    return out


def _near(points: np.ndarray, band: int) -> np.ndarray:
    """Pixels whose Euclidean distance to a ``points`` pixel is at most ``band`` (independent of dilation)."""
    if not points.any():
        return np.zeros_like(points)
    return ndimage.distance_transform_edt(~points) <= band


def _reference(heart: np.ndarray, cavity: np.ndarray, band: int) -> dict[str, np.ndarray]:
    """The regions written out another way: outline = heart pixels with a 4-neighbour outside it."""
    padded = np.pad(heart, 1)
    inner = (padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:])
    outline = heart & ~inner
    cols = np.flatnonzero(heart.any(axis=0))
    x = np.arange(heart.shape[1])[None, :]
    lateral = outline & ((x - cols[0] <= band) | (cols[-1] - x <= band))
    edges = np.zeros_like(cavity)
    for y in range(cavity.shape[0]):
        xs = np.flatnonzero(cavity[y])
        if xs.size:
            edges[y, [xs.min(), xs.max()]] = True
    tcols = np.flatnonzero(cavity.any(axis=0))
    widest = edges & ((x - tcols[0] <= band) | (tcols[-1] - x <= band))
    border = _near(outline, band)
    heart_all = border | heart
    return {"heart_border": border, "heart_lateral": _near(lateral, band), "heart_interior": heart & ~border,
            "thorax_lateral": _near(edges, band) & ~heart_all, "thorax_widest": _near(widest, band) & ~heart_all}


def test_band_width_follows_the_map_resolution(loc: ModuleType) -> None:
    """12 px on a 512 px film, or half a grid cell when that is wider (layer3 of a 192 px input: 512/12/2)."""
    assert loc.band_px(None) == 12
    assert loc.band_px(24) == 12  # 10.7 px half-cells: the 12 px floor
    assert loc.band_px(12) == 21
    assert loc.band_px(16, 512, 256) == 16
    assert loc.band_px(None, 128) == 3


def test_anatomy_is_the_case_the_generator_drew(loc: ModuleType, phantoms: Path) -> None:
    with (phantoms / "targets.csv").open(encoding="utf-8") as f:
        rows = {r["image_id"]: float(r["cardiothoracic_ratio"]) for r in csv.DictReader(f)}
    assert len(rows) == 2
    for image_id, ratio in rows.items():
        heart, cavity = loc.anatomy(4, int(image_id.split("_")[1]), SIZE)
        assert cardiothoracic_ratio(heart, cavity) == pytest.approx(ratio, abs=1e-6)


def test_regions_match_an_independent_construction(loc: ModuleType, phantoms: Path) -> None:
    heart, cavity = loc.anatomy(4, 0, SIZE)
    for band in (2, 5):
        got = loc.regions(heart, cavity, band)
        want = _reference(heart, cavity, band)
        for name in loc.REGIONS:
            assert np.array_equal(got[name], want[name]), (name, band)
        assert not (got["heart_lateral"] & ~got["heart_border"]).any()
        assert not (got["thorax_widest"] & ~got["thorax_lateral"]).any()
        assert not (got["heart_border"] & got["heart_interior"]).any()
        # the lateral band holds the heart's extreme columns and not its top centre
        cols = np.flatnonzero(heart.any(axis=0))
        assert got["heart_lateral"][:, cols[0]].any() and got["heart_lateral"][:, cols[-1]].any()
        top = int(np.flatnonzero(heart.any(axis=1))[0])
        assert not got["heart_lateral"][top, (cols[0] + cols[-1]) // 2]


def test_top_shares_count_the_top_pixels(loc: ModuleType) -> None:
    heat = np.zeros((20, 20))
    heat[0, :20] = np.linspace(1.0, 2.0, 20)  # 20 of 400 pixels = exactly the top 5 %
    masks = {"first": np.zeros((20, 20), bool), "other": np.zeros((20, 20), bool)}
    masks["first"][0, :5] = True
    masks["other"][1:] = True
    assert loc.top_shares(heat, masks) == {"first": 0.25, "other": 0.0}
    sparse = np.zeros((20, 20))
    sparse[5, 5] = 1.0  # one non-zero pixel: the zeros are no evidence
    masks["other"][5, 5] = True
    assert loc.top_shares(sparse, masks) == {"first": 0.0, "other": 1.0}
    assert loc.top_shares(np.ones((20, 20)), masks) == {"first": 0.0, "other": 0.0}


class _Bands(nn.Module):
    def __init__(self, masks: torch.Tensor) -> None:
        super().__init__()
        self.masks: torch.Tensor
        self.register_buffer("masks", masks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.masks[None]


class _BandModel(nn.Module):
    """y = mean(x on the lateral heart band) - mean(x on the widest thorax margins), linear."""

    def __init__(self, raises: np.ndarray, lowers: np.ndarray) -> None:
        super().__init__()
        self.bands = _Bands(torch.from_numpy(np.stack([raises, lowers]).astype(np.float32)))
        self.n = (float(raises.sum()), float(lowers.sum()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.bands(x)
        return (r[:, 0].sum(dim=(1, 2)) / self.n[0] - r[:, 1].sum(dim=(1, 2)) / self.n[1])[:, None]


def test_measure_finds_evidence_placed_on_the_bands(loc: ModuleType, phantoms: Path) -> None:
    cases = loc.load_cases(phantoms, 2)
    assert len(cases) == 2
    heart, cavity = cases[0][1]
    band = loc.band_px(None, SIZE, SIZE)
    want = _reference(heart, cavity, band)
    model = LoadedModel.from_module(_BandModel(want["heart_lateral"], want["thorax_widest"]), ModelManifest.from_dict({
        "name": "bands", "version": "1", "architecture": "test", "task": "regression",
        "outputs": [{"name": "Cardiothoracic ratio", "unit": "ratio"}], "in_channels": 1,
        "input_size": [SIZE, SIZE], "mean": [0.0], "std": [1.0], "target_layer": "bands"}))
    specs = [loc.Spec("gradient_x_input"), loc.Spec("gradcam", "bands")]
    table = loc.measure(model, cases[:1], specs)
    for label in ("gradient_x_input", "gradcam@bands"):
        row = table[label]
        assert row["band_px"] == band
        t = row["top5_share"]
        assert t["raises"]["heart_lateral"] == 1.0 and t["raises"]["heart_border"] == 1.0
        assert t["raises"]["heart_interior"] == 0.0 and t["raises"]["thorax_lateral"] == 0.0
        assert t["lowers"]["thorax_widest"] == 1.0 and t["lowers"]["heart_border"] == 0.0
        assert row["chance"]["heart_lateral"] == pytest.approx(want["heart_lateral"].mean())
        assert row["chance"]["thorax_widest"] == pytest.approx(want["thorax_widest"].mean())
    # the other case's bands are elsewhere: the same model's evidence is then off them
    other = loc.measure(model, cases[1:], specs[:1])["gradient_x_input"]["top5_share"]["raises"]["heart_lateral"]
    assert other < 1.0
    text = loc.markdown(table)
    assert "| gradient_x_input (3 px) | 100.0 % (" in text
    json.dumps(table)  # serialisable as written by --json

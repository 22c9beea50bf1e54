"""The shipped phantom ViT (``resources/models/phantom-vit-micro``): loads from its own weights, passes
``radlens bundle check``, is explained at a token layer by default, and is one of the models of the
``architectures`` study preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shipped_bundle_helpers import assert_bundle_check_passes, assert_held_out_figures, safetensors_header

from engine import explain, load_model
from engine.explainers import list_layers
from engine.explainers.api import default_layer, layer_layout
from engine.models.bundle import file_sha256
from training.phantom import CLASSES
from training.study import load_study

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "resources" / "models" / "phantom-vit-micro"


@pytest.fixture(scope="module")
def vit():
    return load_model(BUNDLE)


def test_bundle_is_a_small_float16_timm_vit_with_its_held_out_figures(vit) -> None:
    weights = BUNDLE / "weights.safetensors"
    assert weights.stat().st_size <= 25 * 2**20
    assert {v["dtype"] for v in safetensors_header(weights).values()} == {"F16"}
    m = vit.manifest
    assert m.architecture == "timm:test_vit" and m.class_names == tuple(CLASSES)
    assert (m.in_channels, tuple(m.input_size)) == (1, (192, 192)) and not m.target_layer
    assert vit.weights_sha256 == file_sha256(weights)
    assert_held_out_figures(m)


def test_bundle_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert_bundle_check_passes(BUNDLE, "timm:test_vit", capsys)


def test_default_layer_is_the_last_blocks_token_layer_and_maps_are_patch_grids(vit) -> None:
    layer = default_layer(vit)
    assert layer == "blocks.5.norm1"  # 6 blocks: the pytorch-grad-cam convention, blocks[-1].norm1
    lay = layer_layout(vit, layer)
    assert lay is not None and lay.kind == "tokens" and lay.grid == (12, 12) and lay.prefix == 1
    assert lay.patch == (16, 16)
    info = {la.name: la for la in list_layers(vit)}
    assert info[layer].is_default and info[layer].layout == "tokens 1+144 \u2192 12\u00d712 grid (class token dropped)"
    image = np.random.default_rng(0).random((256, 256))
    for method in ("gradcam", "rollout"):
        result = explain(vit, image, method, classes=["Cardiomegaly"])
        assert result.native_maps.shape == (1, 12, 12), method
        assert np.isfinite(result.native_maps).all() and np.ptp(result.native_maps) > 0, method


def test_architectures_preset_includes_the_vit() -> None:
    models = load_study("preset:architectures").models
    assert "resources/models/phantom-vit-micro" in models

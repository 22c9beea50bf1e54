"""The shipped phantom VGG (``resources/models/phantom-vgg11``): a float16 VGG-11-BN with the GAP head,
loads strictly from its own weights, passes ``radlens bundle check``, is explained at its last conv
block (12 x 12 at 192 px) by default, and is one of the models of the ``architectures`` study preset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shipped_bundle_helpers import assert_bundle_check_passes, assert_held_out_figures, safetensors_header
from torch import nn

from engine import explain, load_model
from engine.explainers.api import default_layer, layer_layout
from engine.models.bundle import file_sha256
from training.phantom import CLASSES, PhantomConfig, generate_case
from training.phantom.dataset import case_seed
from training.study import load_study

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "resources" / "models" / "phantom-vgg11"


@pytest.fixture(scope="module")
def vgg():
    return load_model(BUNDLE)


def test_bundle_is_a_small_float16_vgg_gap_with_its_held_out_figures(vgg) -> None:
    weights = BUNDLE / "weights.safetensors"
    assert weights.stat().st_size < 20e6
    header = safetensors_header(weights)
    assert {v["dtype"] for v in header.values()} <= {"F16", "I64"}  # I64: BatchNorm's num_batches_tracked
    assert header["classifier.weight"]["shape"] == [len(CLASSES), 512]  # one linear layer after the GAP
    m = vgg.manifest
    assert (m.architecture, m.head, m.class_names) == ("vgg11_bn", "gap", tuple(CLASSES))
    assert (m.in_channels, tuple(m.input_size), m.target_layer) == (1, (192, 192), "features.27")
    assert isinstance(vgg.module.avgpool, nn.AdaptiveAvgPool2d) and isinstance(vgg.module.classifier, nn.Linear)
    assert vgg.weights_sha256 == file_sha256(weights)
    assert_held_out_figures(m)


def test_bundle_check_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert_bundle_check_passes(BUNDLE, "vgg11_bn", capsys)


def test_default_layer_is_the_last_conv_block_at_12x12(vgg) -> None:
    layer = default_layer(vgg)
    assert layer == "features.27" and isinstance(vgg.module.get_submodule(layer), nn.ReLU)
    lay = layer_layout(vgg, layer)
    assert lay is not None and lay.grid == (12, 12)
    case = generate_case(case_seed(977, 0), PhantomConfig())  # a fresh phantom with cardiomegaly
    assert "Cardiomegaly" in case.class_names
    result = explain(vgg, case.image, "gradcam", classes=["Cardiomegaly"])
    assert result.native_maps.shape == (1, 12, 12)
    assert np.isfinite(result.native_maps).all() and np.ptp(result.native_maps) > 0


def test_architectures_preset_includes_the_vgg() -> None:
    models = load_study("preset:architectures").models
    assert "resources/models/phantom-vgg11" in models

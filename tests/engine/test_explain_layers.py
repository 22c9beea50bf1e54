"""``explain_layers``: one run over several layers equals one ``explain`` per layer."""

from __future__ import annotations

import numpy as np
import pytest

from engine import explain, explain_layers
from engine.explainers.base import get_method

LAYERS = ["layer1.0", "layer2.1", "layer3.0", "layer4.1"]


@pytest.mark.parametrize("method", ["gradcam", "gradcampp", "xgradcam", "layercam", "scorecam"])
def test_each_layer_equals_its_own_run(resnet_pair, chest_like, method):
    model, _ = resnet_pair
    params = {"batch_size": 64} if method == "scorecam" else {}
    together = explain_layers(model, chest_like, method, LAYERS, **params)
    assert list(together) == LAYERS
    for name in LAYERS:
        alone = explain(model, chest_like, method, layers=[name], **params)
        got = together[name]
        assert got.layers == (name,) and got.layer_maps == {}
        assert got.notes == alone.notes
        assert got.alignment == alone.alignment
        assert list(got.value_ranges) == list(alone.value_ranges)
        for c, (lo, hi) in alone.value_ranges.items():
            assert got.value_ranges[c] == pytest.approx((lo, hi), rel=1e-5, abs=1e-9)
        np.testing.assert_allclose(got.probabilities, alone.probabilities, rtol=1e-6)
        for c in alone.explained:
            # each result's maps are its own (dataclasses.replace would otherwise share the map cache)
            a, b = alone.map(c, "image"), got.map(c, "image")
            np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
            raw_a, raw_b = alone.map(c, "model", normalisation="raw"), got.map(c, "model", normalisation="raw")
            np.testing.assert_allclose(raw_b, raw_a, rtol=1e-5, atol=1e-7 * max(1.0, float(np.abs(raw_a).max())))


def test_layers_of_one_run_are_not_the_fused_map(resnet_pair, chest_like):
    """The split results hold each layer's own map, not the multi-layer fusion explain() returns."""
    model, _ = resnet_pair
    fused = explain(model, chest_like, "gradcam", layers=LAYERS[2:])
    split = explain_layers(model, chest_like, "gradcam", LAYERS[2:])
    c = fused.explained[0]
    assert split["layer3.0"].native_maps.shape == fused.layer_maps["layer3.0"].shape
    assert not np.allclose(split["layer4.1"].map(c, "model"), fused.map(c, "model"))


def test_methods_with_joint_layers_run_once_per_layer(resnet_pair, chest_like, monkeypatch):
    """A method not marked ``independent_layers`` (SmoothGrad-CAM) is explained layer by layer."""
    import engine.explainers.api as api

    assert not get_method("smoothgradcam").independent_layers
    calls = []
    real = api.explain

    def counting(*args, **kwargs):
        calls.append(kwargs.get("layers", args[4] if len(args) > 4 else None))
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "explain", counting)
    out = api.explain_layers(model := resnet_pair[0], chest_like, "smoothgradcam", LAYERS[2:], n=2)
    assert calls == [[LAYERS[2]], [LAYERS[3]]]
    assert out[LAYERS[3]].layers == (LAYERS[3],) and model is resnet_pair[0]

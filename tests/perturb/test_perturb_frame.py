"""The perturbation frame feeds the model exactly what the engine's preprocessing would."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from shared_models import make_manifest

from engine.models.bundle import LoadedModel
from engine.perturb.frame import make_frame
from engine.preprocess import to_model_input


@pytest.mark.parametrize("resolution", ["image", "model"])
@pytest.mark.parametrize("resize", ["stretch", "letterbox"])
@pytest.mark.parametrize("colour", [False, True])
def test_frame_batches_equal_to_model_input(tiny_pair, resolution: str, resize: str, colour: bool) -> None:
    model, _ = tiny_pair
    model = LoadedModel.from_module(model.module, make_manifest("tiny", 3, 32, resize=resize))
    rng = np.random.default_rng(2)
    img = rng.random((48, 40, 3) if colour else (48, 40)).astype(np.float32)
    frame = make_frame(model, img, resolution)
    ref, geometry, _ = to_model_input(img, model.manifest)
    got = frame.to_model(torch.from_numpy(np.stack([frame.base, frame.base])))
    assert got.shape == (2, *ref.shape[1:])
    assert torch.allclose(got[0], ref[0], atol=1e-5) and torch.allclose(got[1], ref[0], atol=1e-5)
    if resolution == "model" and resize == "letterbox":
        x0, y0, x1, y1 = geometry.content_box
        assert frame.valid.sum() == (x1 - x0) * (y1 - y0)


def test_relevance_is_resampled_onto_the_model_frame(tiny_pair) -> None:
    model, _ = tiny_pair
    frame = make_frame(model, np.zeros((64, 64), np.float32), "model")
    rel = np.zeros((64, 64), np.float32)
    rel[:32] = 1.0
    out = frame.relevance_to_frame(rel)
    assert out.shape == (32, 32) and np.allclose(out[:15], 1.0) and np.allclose(out[17:], 0.0)


def test_chunked_prediction_equals_one_forward(tiny_pair) -> None:
    model, _ = tiny_pair
    frame = make_frame(model, np.random.default_rng(0).random((32, 32)).astype(np.float32), "image")
    imgs = torch.from_numpy(np.random.default_rng(1).random((9, 32, 32)).astype(np.float32))
    whole = frame.probabilities(imgs)
    chunked = frame.predict_batches(lambda a, b: imgs[a:b], 9, chunk=2)
    assert np.allclose(whole, chunked, atol=1e-6)
    assert frame.chunk_size(100) >= 1

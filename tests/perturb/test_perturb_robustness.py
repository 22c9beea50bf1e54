"""Corruptions follow their tables; robustness records Δp and heatmap movement per layer."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from engine.errors import RadLensError
from engine.perturb.corruptions import CORRUPTIONS, TABLES, corrupt
from engine.perturb.filters import motion_kernel
from engine.perturb.robustness import map_movement, robustness


@pytest.fixture()
def flat() -> np.ndarray:
    return np.full((224, 224), 0.5, np.float32)


def test_noise_has_the_tabled_sd_and_is_seeded(flat: np.ndarray) -> None:
    for s, sd in enumerate(TABLES["gaussian_noise"], start=1):
        out = corrupt(flat, "gaussian_noise", s, seed=1)
        assert abs((out - 0.5).std() - sd) < 0.02 + 0.15 * sd * (s >= 4)  # clipping trims the widest
    assert np.array_equal(corrupt(flat, "speckle_noise", 3, 4), corrupt(flat, "speckle_noise", 3, 4))
    speck = corrupt(flat, "speckle_noise", 1, 2)
    assert abs((speck - 0.5).std() - 0.5 * 0.15) < 0.01  # x * N(0, σ) at x = 0.5


def test_contrast_and_brightness_follow_their_formulas(chest_like: np.ndarray) -> None:
    m = chest_like.mean()
    assert np.allclose(corrupt(chest_like, "contrast", 2), (chest_like - m) * 0.3 + m, atol=1e-6)
    assert np.allclose(corrupt(chest_like, "brightness", 5), np.clip(chest_like + 0.5, 0, 1), atol=1e-6)
    assert np.array_equal(corrupt(chest_like, "brightness", 0), chest_like)
    with pytest.raises(RadLensError):
        corrupt(chest_like, "fog", 1)
    with pytest.raises(RadLensError):
        corrupt(chest_like, "contrast", 6)


def test_motion_blur_preserves_the_mean_and_smears(chest_like: np.ndarray) -> None:
    k = motion_kernel(10, 3, 0.0)
    assert k.sum() == pytest.approx(1.0) and np.count_nonzero(k) == 10
    out = corrupt(chest_like, "motion_blur", 3, seed=0)
    assert abs(out.mean() - chest_like.mean()) < 0.01
    assert np.abs(np.diff(out, axis=1)).mean() < np.abs(np.diff(chest_like, axis=1)).mean()


def test_map_movement_against_skimage() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((28, 28))
    assert map_movement(a, a) == (0.0, pytest.approx(1.0))
    b = a * 0.5
    rmse, ssim = map_movement(a, b, "clean")
    an = (a - a.min()) / (a.max() - a.min())
    bn = (b - a.min()) / (a.max() - a.min())
    assert rmse == pytest.approx(np.sqrt(np.mean((an - bn) ** 2)))
    assert ssim == pytest.approx(structural_similarity(an, bn, data_range=1.0, win_size=7))
    assert map_movement(a, b, "per_map")[0] == pytest.approx(0.0, abs=1e-12)  # same shape, fainter


def test_robustness_document(tiny_pair, chest_like: np.ndarray) -> None:
    model, _ = tiny_pair
    doc = robustness(model, chest_like, corruptions=("gaussian_noise", "contrast"), severities=(1, 5),
                     layers=["stem", "features"])
    assert doc["layers"] == ["stem", "features"] and len(doc["results"]) == 4
    for e in doc["results"]:
        assert set(e["delta_p"]) == set(model.class_names)
        for c in model.class_names:
            assert e["probabilities"][c] == pytest.approx(doc["clean"][c] - e["delta_p"][c])
            for layer in ("stem", "features"):
                assert e["maps"][layer][c]["rmse"] >= 0.0 and -1.0 <= e["maps"][layer][c]["ssim"] <= 1.0
    by = {(e["corruption"], e["severity"]): e for e in doc["results"]}
    stem = "stem"
    c0 = model.class_names[0]
    # stronger noise moves the shallow layer's map at least as much
    assert by[("gaussian_noise", 5)]["maps"][stem][c0]["rmse"] >= by[("gaussian_noise", 1)]["maps"][stem][c0]["rmse"]
    assert set(doc["severity_table"]) == set(CORRUPTIONS)

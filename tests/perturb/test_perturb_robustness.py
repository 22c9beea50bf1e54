"""Corruptions follow ImageNet-C's published constants; robustness records Δp and heatmap movement per layer.

The expected severities are ImageNet-C's own (Hendrycks & Dietterich 2019), copied from
github.com/hendrycks/robustness, ``ImageNet-C/imagenet_c/imagenet_c/corruptions.py`` (commit
20caed9) and ``ImageNet-C/create_c/make_imagenet_c.py`` (e0377d4), which agree for these five —
never from the engine's own table. The engine claims all five (``engine.perturb.corruptions``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage.color import hsv2rgb, rgb2hsv
from skimage.metrics import structural_similarity

from engine.errors import RadLensError
from engine.perturb.corruptions import CORRUPTIONS, corrupt, severity_table
from engine.perturb.filters import motion_kernel
from engine.perturb.robustness import map_movement, robustness

IMAGENET_C: dict[str, list[Any]] = {
    "gaussian_noise": [.08, .12, 0.18, 0.26, 0.38],
    "speckle_noise": [.15, .2, 0.35, 0.45, 0.6],
    "motion_blur": [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)],  # (radius, sigma), angle U(-45, 45)
    "contrast": [0.4, .3, .2, .1, .05],
    "brightness": [.1, .2, .3, .4, .5],
}


@pytest.fixture()
def flat() -> np.ndarray:
    return np.full((224, 224), 0.5, np.float32)


def _unclipped_sd(out: np.ndarray, centre: float) -> float:
    """SD of the noise from the pixels clipping did not touch, rescaled for a two-sided truncation.

    Pixels with |noise| < 0.5 (centre 0.5) are never clipped; their SD is the SD of a normal
    truncated at +-0.5, which the test inverts numerically (no table of the engine involved).
    """
    d = (out.astype(np.float64) - centre).ravel()
    d = d[np.abs(d) < 0.499]
    measured = d.std()
    grid = np.linspace(0.01, 1.0, 2000)
    z = np.linspace(-0.499, 0.499, 4001)
    truncated = np.array([np.sqrt(np.sum(z**2 * np.exp(-z**2 / (2 * s**2))) / np.sum(np.exp(-z**2 / (2 * s**2))))
                          for s in grid])
    return float(np.interp(measured, truncated, grid))


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_noise_sd_is_imagenet_c(flat: np.ndarray, severity: int) -> None:
    sd = IMAGENET_C["gaussian_noise"][severity - 1]
    # 50,176 pixels: the SD estimate is within ~1 % of the truth; neighbouring severities differ >= 30 %
    assert _unclipped_sd(corrupt(flat, "gaussian_noise", severity, seed=1), 0.5) == pytest.approx(sd, rel=0.05)
    # speckle: x + x * N(0, c^2); at x = 0.5 the added noise has SD 0.5 c
    sp = IMAGENET_C["speckle_noise"][severity - 1]
    assert _unclipped_sd(corrupt(flat, "speckle_noise", severity, seed=2), 0.5) == pytest.approx(0.5 * sp, rel=0.05)


def test_noise_is_seeded(flat: np.ndarray) -> None:
    assert np.array_equal(corrupt(flat, "speckle_noise", 3, 4), corrupt(flat, "speckle_noise", 3, 4))
    assert not np.array_equal(corrupt(flat, "gaussian_noise", 3, 4), corrupt(flat, "gaussian_noise", 3, 5))


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_contrast_and_brightness_are_imagenet_c(chest_like: np.ndarray, severity: int) -> None:
    """ImageNet-C's own operations on an RGB copy of the grayscale image (brightness through HSV, skimage)."""
    rgb = np.repeat(chest_like[..., None].astype(np.float64), 3, axis=2)
    c = IMAGENET_C["contrast"][severity - 1]
    means = np.mean(rgb, axis=(0, 1), keepdims=True)
    expected = np.clip((rgb - means) * c + means, 0, 1)[..., 0]
    np.testing.assert_allclose(corrupt(chest_like, "contrast", severity), expected, atol=1e-6)
    hsv = rgb2hsv(rgb)
    hsv[:, :, 2] = np.clip(hsv[:, :, 2] + IMAGENET_C["brightness"][severity - 1], 0, 1)
    expected = np.clip(hsv2rgb(hsv), 0, 1)[..., 0]
    np.testing.assert_allclose(corrupt(chest_like, "brightness", severity), expected, atol=1e-6)


def test_published_severity_table_is_imagenet_c() -> None:
    rows = {row["corruption"]: [row[str(s)] for s in range(1, 6)] for row in severity_table()}
    assert rows == {k: list(v) for k, v in IMAGENET_C.items()}


def test_severity_zero_and_bad_arguments(chest_like: np.ndarray) -> None:
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


def _impulse_response(severity: int) -> np.ndarray:
    """Motion blur of a single bright pixel on a 224 x 224 image: the kernel, mirrored about the pixel."""
    dot = np.zeros((224, 224), np.float32)
    dot[112, 112] = 1.0
    return corrupt(dot, "motion_blur", severity, seed=severity).astype(np.float64)


@pytest.mark.parametrize("severity", [1, 2, 3, 4, 5])
def test_motion_blur_length_and_taps_are_imagenet_c(severity: int) -> None:
    """ImageMagick's ``-motion-blur radius x sigma`` (ImageNet-C's (radius, sigma) at 224 px): ``radius`` taps
    along a line, weights exp(-t^2 / 2 sigma^2) for t = 0 .. radius - 1 px from the source, normalised. Read from
    the impulse response: the source keeps 1 / sum_t w(t), and the smear ends radius - 1 px away."""
    radius, sigma = IMAGENET_C["motion_blur"][severity - 1]
    resp = _impulse_response(severity)
    t = np.arange(radius)
    assert resp[112, 112] == pytest.approx(1.0 / np.exp(-(t**2) / (2.0 * sigma**2)).sum(), rel=1e-5)
    ys, xs = np.nonzero(resp > 1e-12)
    assert np.hypot(ys - 112, xs - 112).max() == pytest.approx(radius - 1, abs=0.75)
    assert resp.sum() == pytest.approx(1.0, abs=1e-6)


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


def test_a_flat_clean_map_has_no_movement_on_its_scale() -> None:
    from training.study.blocks.robustness import _num
    from training.study.blocks.stats import mean_std

    b = np.random.default_rng(1).random((28, 28))
    rmse, ssim = map_movement(np.zeros((28, 28)), b, "clean")  # an all-zero CAM: no range to scale by
    assert np.isnan(rmse) and np.isnan(ssim)
    bn = (b - b.min()) / np.ptp(b)
    assert map_movement(np.zeros((28, 28)), b, "per_map")[0] == pytest.approx(np.sqrt(np.mean(bn**2)))
    # stored as null and left out of the means, not averaged in raw units
    assert _num(None) is None and mean_std([0.1, _num(None), 0.3])[::2] == (pytest.approx(0.2), 2)


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

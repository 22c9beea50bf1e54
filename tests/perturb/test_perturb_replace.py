"""Replacement modes change exactly the chosen pixels, and each computes what it says."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from engine.errors import RadLensError
from engine.perturb.filters import gaussian_blur, sigma_for_kernel
from engine.perturb.replace import MODES, Replacement

PARAMS = {"dataset_mean": {"value": 0.42}}


@pytest.fixture()
def image() -> np.ndarray:
    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:40, 0:48] / 40.0
    return np.clip(0.5 + 0.3 * np.sin(6 * xx) * np.cos(4 * yy) + 0.05 * rng.standard_normal((40, 48)),
                   0, 1).astype(np.float32)


@pytest.fixture()
def mask() -> np.ndarray:
    m = np.random.default_rng(9).random((40, 48)) < 0.3
    m[0, 0] = m[-1, -1] = True
    return m


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_changes_exactly_the_chosen_pixels(mode: str, image: np.ndarray, mask: np.ndarray) -> None:
    rep = Replacement.make(mode, **PARAMS.get(mode, {}))
    out = rep.apply(image, mask, seed=3)
    assert out.shape == image.shape and out.dtype == np.float32
    assert np.array_equal(out[~mask], image[~mask])  # nothing else moved, bit for bit
    changed = out[mask] != image[mask]
    assert changed.mean() > 0.9  # the chosen pixels did change (a few may coincide by chance)


@pytest.mark.parametrize("mode", MODES)
def test_colour_images_keep_unmasked_pixels(mode: str, image: np.ndarray, mask: np.ndarray) -> None:
    rgb = np.stack([image, image[::-1], 1 - image], axis=-1)
    out = Replacement.make(mode, **PARAMS.get(mode, {})).apply(rgb, mask, seed=1)
    assert np.array_equal(out[~mask], rgb[~mask])


def test_fill_values(image: np.ndarray) -> None:
    assert np.allclose(Replacement.make("mean").fill(image), image.mean(), atol=1e-6)
    assert np.all(Replacement.make("dataset_mean", value=0.42).fill(image) == np.float32(0.42))
    assert not Replacement.make("zero").fill(image).any()
    u = Replacement.make("uniform_noise", low=0.2, high=0.4).fill(image, seed=2)
    assert u.min() >= 0.2 and u.max() < 0.4 and abs(u.mean() - 0.3) < 0.01
    g = Replacement.make("gaussian_noise", mean=0.5, sigma=0.1).fill(image, seed=2)
    assert abs(g.mean() - 0.5) < 0.01 and abs(g.std() - 0.1) < 0.01
    valid = np.zeros(image.shape, bool)
    valid[:10] = True
    assert np.allclose(Replacement.make("mean").fill(image, valid=valid), image[:10].mean(), atol=1e-6)


def test_noise_is_seeded(image: np.ndarray) -> None:
    for mode in ("gaussian_noise", "uniform_noise"):
        rep = Replacement.make(mode)
        assert np.array_equal(rep.fill(image, 7), rep.fill(image, 7))
        assert not np.array_equal(rep.fill(image, 7), rep.fill(image, 8))


@pytest.mark.parametrize("k", [11, 21])
def test_blur_by_kernel_size_equals_scipy_and_opencv(image: np.ndarray, k: int) -> None:
    """References independent of the module's kernel: scipy.ndimage.gaussian_filter with the σ that
    OpenCV documents for sigma=0 (0.3 ((k - 1) / 2 - 1) + 0.8), truncated to k taps, mirrored borders
    (= OpenCV's default BORDER_REFLECT_101); and cv2.GaussianBlur itself (the research's call)."""
    sigma = 0.3 * ((k - 1) / 2 - 1) + 0.8
    ref = ndimage.gaussian_filter(image.astype(np.float64), sigma, mode="mirror", truncate=(k // 2) / sigma)
    ours = gaussian_blur(image, ksize=k)
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    import cv2  # opencv-python comes with grad-cam (the dev extra): CI has it, the test never skips
    np.testing.assert_allclose(ours, cv2.GaussianBlur(image.astype(np.float64), (k, k), 0), atol=1e-6)
    assert sigma_for_kernel(11) == pytest.approx(2.0) and sigma_for_kernel(21) == pytest.approx(3.5)


def test_blur_by_sigma_matches_scipy(image: np.ndarray) -> None:
    ours = gaussian_blur(image, sigma=1.5)  # kernel 2 * ceil(4.5) + 1 = 11 taps
    ref = ndimage.gaussian_filter(image.astype(np.float64), 1.5, mode="mirror", truncate=5 / 1.5)
    assert np.allclose(ours, ref, atol=1e-6)


def test_inpaint_fills_a_hole_smoothly() -> None:
    _yy, xx = np.mgrid[0:32, 0:32] / 32.0
    ramp = (0.2 + 0.6 * xx).astype(np.float32)  # a linear ramp: biharmonic inpainting restores it
    hole = np.zeros((32, 32), bool)
    hole[10:20, 12:22] = True
    out = Replacement.make("inpaint").apply(np.where(hole, 0.0, ramp).astype(np.float32), hole)
    assert np.abs(out[hole] - ramp[hole]).max() < 0.02


def test_bad_modes_and_parameters_are_refused() -> None:
    with pytest.raises(RadLensError, match="unknown replacement mode"):
        Replacement.make("median")
    with pytest.raises(RadLensError, match="no parameter"):
        Replacement.make("mean", value=1)
    with pytest.raises(RadLensError, match="needs the data set"):
        Replacement.make("dataset_mean")
    with pytest.raises(RadLensError, match="odd"):
        gaussian_blur(np.zeros((5, 5)), ksize=4)
    assert Replacement.make("blur", sigma=3.5).to_dict() == {"mode": "blur", "params": {"ksize": None, "sigma": 3.5}}


@pytest.mark.parametrize("shape", [(1531, 1400), (1100, 700, 3)])
@pytest.mark.parametrize("mode", ["mean", "zero", "blur", "uniform_noise"])
def test_large_images_assembled_in_two_threads_equal_where(shape: tuple[int, ...], mode: str) -> None:
    """Above PARALLEL_MIN values the image is assembled in two row halves at once: the same float32
    numbers as ``np.where(mask, fill, image)``."""
    from engine.perturb import replace

    rng = np.random.default_rng(len(shape))
    image = rng.random(shape, dtype=np.float32)
    assert image.size >= replace.PARALLEL_MIN
    mask = rng.random(shape[:2]) < 0.4
    rep = Replacement.make(mode)
    fill = rep.fill(image, 3)
    want = np.where(mask[..., None] if image.ndim == 3 else mask, fill, image).astype(np.float32)
    got = rep.apply(image, mask, 3)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    wide = np.full(shape, 0.1)  # a float64 fill is rounded to float32 as np.where + astype does
    per_value = mask[..., None] if image.ndim == 3 else mask
    assert np.array_equal(replace._replaced(image, per_value, wide),
                          np.where(per_value, wide, image).astype(np.float32))

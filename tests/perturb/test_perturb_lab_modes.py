"""Through the lab (cached rankings and fills, both resolutions), each mode changes exactly the chosen pixels.

The chosen pixels are computed here independently (a plain stable argsort of the map), the
replacement values from the mode's definition, and the probabilities by sending the expected image
through the engine's own preprocessing and the network.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from perturb_models import region_model

from engine.perturb.filters import gaussian_blur
from engine.perturb.lab import PerturbationLab
from engine.perturb.replace import MODES, Replacement
from engine.preprocess import to_model_input

PARAMS: dict[str, dict[str, float]] = {
    "dataset_mean": {"value": 0.42}, "blur": {"ksize": 5}, "gaussian_noise": {"sigma": 0.2},
}


def picture(shape: tuple[int, int]) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]] / max(shape)
    noise = 0.05 * np.random.default_rng(3).standard_normal(shape)
    return np.clip(0.5 + 0.3 * np.sin(9 * xx) * np.cos(7 * yy) + noise, 0, 1).astype(np.float32)


def first_k(relevance: np.ndarray, fraction: float) -> np.ndarray:
    """Mask of the k = floor(f N + 0.5) highest finite values, ties by lower row-major index."""
    flat = relevance.ravel()
    idx = np.flatnonzero(np.isfinite(flat))
    k = int(np.floor(fraction * idx.size + 0.5))
    order = idx[np.argsort(-flat[idx], kind="stable")]
    mask = np.zeros(flat.size, bool)
    mask[order[:k]] = True
    return mask.reshape(relevance.shape)


def reference_probabilities(lab: PerturbationLab, image: np.ndarray) -> np.ndarray:
    if lab.frame.resolution == "image":
        x, _, _ = to_model_input(image, lab.model.manifest)
    else:
        x = torch.from_numpy((image - 0.5) / 0.25)[None, None]
    with torch.no_grad():
        return torch.sigmoid(lab.model.module(x).double())[0].numpy()


def expected_values(mode: str, base: np.ndarray, valid: np.ndarray) -> np.ndarray | None:
    """What the replaced pixels become (None: only checked to change, for the seeded noise and inpainting)."""
    if mode == "mean":
        return np.full(base.shape, base[valid].mean(), np.float32)
    if mode == "dataset_mean":
        return np.full(base.shape, 0.42, np.float32)
    if mode == "zero":
        return np.zeros(base.shape, np.float32)
    if mode == "blur":
        return gaussian_blur(base, ksize=5)
    return None


@pytest.fixture(scope="module", params=["image", "model"])
def lab(request) -> PerturbationLab:
    image = picture((48, 40))  # 48 x 40 into the 32 x 32 model: a real resize at image resolution
    rel = np.random.default_rng(11).random((48, 40)).astype(np.float32)
    return PerturbationLab(region_model(), image, rel, resolution=request.param)


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_changes_exactly_the_first_k_ranked_pixels(lab: PerturbationLab, mode: str) -> None:
    rep = Replacement.make(mode, **PARAMS.get(mode, {}))
    base = lab.frame.base
    for fraction in (0.05, 0.3):
        out = lab.perturb(fraction, "morf", rep, seed=4)
        mask = first_k(lab.relevance, fraction)
        assert np.array_equal(out.mask, mask) and out.k == mask.sum()
        assert np.array_equal(out.image[~mask], base[~mask])  # nothing else moved, bit for bit
        want = expected_values(mode, base, lab.frame.valid)
        if want is not None:
            assert np.allclose(out.image[mask], want[mask], atol=1e-6)
        else:
            assert (out.image[mask] != base[mask]).mean() > 0.9
            assert out.image.min() >= 0.0 and out.image.max() <= 1.0
        assert np.allclose(out.probabilities, reference_probabilities(lab, out.image), atol=1e-6)
        assert np.allclose(out.delta_p, lab.original - out.probabilities, atol=0)


@pytest.mark.parametrize("mode", [m for m in MODES if m != "inpaint"])
def test_a_pixel_gets_the_same_value_at_every_fraction(lab: PerturbationLab, mode: str) -> None:
    rep = Replacement.make(mode, **PARAMS.get(mode, {}))
    small, large = lab.perturb(0.1, "lerf", rep, seed=2), lab.perturb(0.6, "lerf", rep, seed=2)
    assert np.all(large.mask[small.mask])
    assert np.array_equal(small.image[small.mask], large.image[small.mask])


@pytest.mark.parametrize("mode", MODES)
def test_the_region_tool_changes_exactly_the_box(lab: PerturbationLab, mode: str) -> None:
    rep = Replacement.make(mode, **PARAMS.get(mode, {}))
    out = lab.region((8.0, 12.0, 30.0, 40.0), rep, seed=1)  # x0, y0, x1, y1 in the 40 x 48 image
    if lab.frame.resolution == "image":
        box = np.zeros((48, 40), bool)
        box[12:40, 8:30] = True
    else:  # stretched 40 -> 32 wide, 48 -> 32 high: pixel centres inside the scaled box
        sx, sy = 32 / 40, 32 / 48
        cols, rows = np.arange(32) + 0.5, np.arange(32) + 0.5
        box = ((rows >= 12 * sy) & (rows < 40 * sy))[:, None] & ((cols >= 8 * sx) & (cols < 30 * sx))[None, :]
    assert np.array_equal(out.mask, box) and out.k == box.sum()
    assert np.array_equal(out.image[~box], lab.frame.base[~box])
    assert (out.image[box] != lab.frame.base[box]).mean() > 0.9
    assert np.allclose(out.probabilities, reference_probabilities(lab, out.image), atol=1e-6)


def test_inpainting_draws_only_on_the_content_never_on_letterbox_padding() -> None:
    """A flat 0.7 image letterboxed into the model input: inpainting a band next to the black padding
    must give 0.7 back (biharmonic inpainting of a constant), not a ramp towards the black."""
    model = region_model(resize="letterbox")
    flat = np.full((16, 32), 0.7, np.float32)  # rows 8..24 of the 32 x 32 input
    rel = np.zeros((16, 32), np.float32)
    rel[:3] = 1.0  # the top rows, next to the padding, go first
    lab = PerturbationLab(model, flat, rel, resolution="model")
    out = lab.perturb(0.2, "morf", Replacement.make("inpaint"))
    assert out.mask[8:11].all() and not out.mask[:8].any()
    assert np.abs(out.image[out.mask] - 0.7).max() < 1e-3
    assert np.all(out.image[:8] == 0.0) and np.all(out.image[24:] == 0.0)


@pytest.mark.parametrize("resolution", ["image", "model"])
def test_inpainting_everything_gives_the_content_mean_and_curves_reach_100_percent(resolution: str) -> None:
    from engine.perturb.curves import run_curves

    image = picture((48, 40))
    lab = PerturbationLab(region_model(resize="letterbox"), image, np.random.default_rng(1).random((48, 40)),
                          resolution=resolution)
    out = lab.perturb(1.0, "morf", Replacement.make("inpaint"))
    valid = lab.frame.valid
    assert out.mask.sum() == valid.sum()
    assert np.allclose(out.image[valid], lab.frame.base[valid].mean(), atol=1e-6)
    assert np.array_equal(out.image[~valid], lab.frame.base[~valid])
    cr = run_curves(lab, "A", replacement=Replacement.make("inpaint"), fractions=[0.0, 0.5, 1.0], seeds=(0,))
    assert np.allclose(cr.deletion["morf"][-1], out.probabilities, atol=1e-9)

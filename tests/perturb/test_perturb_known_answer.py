"""A model that looks only at one region: replacing that region first kills its score; others don't."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from perturb_models import OTHER, REGION, SIZE, region_image, region_map, region_model, sigmoid

from engine.perturb.lab import PerturbationLab
from engine.perturb.replace import Replacement
from engine.preprocess import to_model_input

AREA = (REGION[0].stop - REGION[0].start) * (REGION[1].stop - REGION[1].start)


@pytest.fixture(scope="module")
def lab() -> PerturbationLab:
    return PerturbationLab(region_model(), region_image(), region_map(), resolution="image")


def expected_p(image: np.ndarray, region: tuple[slice, slice]) -> float:
    return sigmoid(2.0 * float(((image[region] - 0.5) / 0.25).mean()))


def test_original_probabilities_follow_the_formula(lab: PerturbationLab) -> None:
    img = region_image()
    assert lab.original[0] == pytest.approx(expected_p(img, REGION), abs=1e-6)
    assert lab.original[1] == pytest.approx(expected_p(img, OTHER), abs=1e-6)


def test_morf_replaces_the_region_first_and_the_score_falls(lab: PerturbationLab) -> None:
    fraction = AREA / SIZE**2
    out = lab.perturb(fraction, "morf", Replacement.make("zero"))
    assert out.k == AREA and out.mask[REGION].all() and out.mask.sum() == AREA
    # the region is now black: mean normalised value -2, logit -4
    assert out.probabilities[0] == pytest.approx(sigmoid(-4.0), abs=1e-6)
    assert out.delta_p[0] == pytest.approx(lab.original[0] - sigmoid(-4.0), abs=1e-6)
    assert out.delta_p[0] > 0.9
    # the other class does not see the region and keeps its score
    assert out.delta_p[1] == pytest.approx(0.0, abs=1e-7)


def test_lerf_leaves_the_score_alone_until_the_region_is_reached(lab: PerturbationLab) -> None:
    outside = (SIZE**2 - AREA) / SIZE**2
    for f in (0.1, 0.3, 0.5, outside - 0.01):
        out = lab.perturb(f, "lerf", Replacement.make("zero"))
        assert not out.mask[REGION].any()
        assert out.delta_p[0] == pytest.approx(0.0, abs=1e-7)
    # the second class's region has low relevance, so LeRF eventually removes it: its score moves
    assert lab.perturb(0.9, "lerf", Replacement.make("zero")).delta_p[1] > 0.5


def test_region_tool_replaces_only_the_box(lab: PerturbationLab) -> None:
    box = (REGION[1].start, REGION[0].start, REGION[1].stop, REGION[0].stop)  # x0, y0, x1, y1
    out = lab.region(box, Replacement.make("mean"))
    assert out.mask.sum() == AREA and out.mask[REGION].all()
    img = region_image()
    expected = np.where(out.mask, img.mean(), img)
    assert np.allclose(out.image, expected, atol=1e-6)
    assert out.probabilities[0] == pytest.approx(expected_p(expected, REGION), abs=1e-6)
    assert out.delta_p[1] == pytest.approx(0.0, abs=1e-7)
    far = lab.region((0, 0, 3, 3), Replacement.make("zero"))
    assert np.allclose(far.delta_p, 0.0, atol=1e-7)


def test_model_resolution_gives_the_same_answer_when_sizes_agree() -> None:
    lab_m = PerturbationLab(region_model(), region_image(), region_map(), resolution="model")
    lab_i = PerturbationLab(region_model(), region_image(), region_map(), resolution="image")
    a = lab_m.perturb(AREA / SIZE**2, "morf", Replacement.make("zero"))
    b = lab_i.perturb(AREA / SIZE**2, "morf", Replacement.make("zero"))
    assert np.allclose(a.probabilities, b.probabilities, atol=1e-6)


def test_image_resolution_with_a_larger_image() -> None:
    """A 64 x 64 image into the 32 x 32 model: the region covers 2x2 image pixels per model pixel."""
    big = np.kron(region_image(), np.ones((2, 2), np.float32))
    rel = np.kron(region_map(), np.ones((2, 2), np.float32))
    lab = PerturbationLab(region_model(), big, rel, resolution="image")
    out = lab.perturb(4 * AREA / (4 * SIZE**2), "morf", Replacement.make("zero"))
    big_region = (slice(2 * REGION[0].start, 2 * REGION[0].stop), slice(2 * REGION[1].start, 2 * REGION[1].stop))
    assert out.mask[big_region].all() and out.mask.sum() == 4 * AREA
    # reference: the engine's own preprocessing of the expected image, then the network
    expected = big.copy()
    expected[big_region] = 0.0
    x, _, _ = to_model_input(expected, lab.model.manifest)
    with torch.no_grad():
        ref = torch.sigmoid(lab.model.module(x)[0].double()).numpy()
    assert np.allclose(out.probabilities, ref, atol=1e-6)
    assert out.delta_p[0] > 0.9 and abs(out.delta_p[1]) < 1e-4


def test_letterbox_padding_is_never_replaced() -> None:
    model = region_model(resize="letterbox")
    wide = np.full((16, 32), 0.7, np.float32)  # sits in rows 8..24 of the 32 x 32 input
    lab = PerturbationLab(model, wide, np.ones((16, 32), np.float32), resolution="model")
    assert lab.n_pixels == 16 * 32
    out = lab.perturb(1.0, "morf", Replacement.make("mean"))
    assert out.mask[8:24].all() and not out.mask[:8].any() and not out.mask[24:].any()
    assert np.all(out.image[:8] == 0.0)  # the padding stays black

"""Deletion/insertion curves: batched equals step by step; AUC and AOPC against other computations.

Issue #14: the RISE settings by name (Petsiuk et al., BMVC 2018). Reference: RISE's
``CausalMetric`` (eclique/RISE ``evaluation.py``) re-written here on the *normalised* input tensor:
deletion moves the most salient pixels to ``torch.zeros_like`` of the normalised image, insertion
starts from a blurred substrate and restores them. The blur reference is SciPy's ``gaussian_filter``
(sigma 5, radius 5 = an 11 x 11 kernel, mirrored borders).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from perturb_models import REGION, SIZE, region_image, region_map, region_model
from scipy.ndimage import gaussian_filter

from engine.errors import RadLensError
from engine.perturb.curves import aopc, curve_settings, default_fractions, normalised_auc, run_curves
from engine.perturb.document import build_document
from engine.perturb.filters import gaussian_blur
from engine.perturb.lab import PerturbationLab
from engine.perturb.ranking import rank_pixels
from engine.perturb.replace import Replacement
from engine.report.tables import perturbation_rows

FRACTIONS = [0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0]


@pytest.fixture(scope="module")
def lab() -> PerturbationLab:
    return PerturbationLab(region_model(), region_image(), region_map(), resolution="image")


@pytest.fixture(scope="module")
def curves(lab: PerturbationLab):
    return run_curves(lab, "A", replacement=Replacement.make("zero"), baseline=Replacement.make("mean"),
                      fractions=FRACTIONS, seeds=(0, 1, 2), chunk=4)


def test_batched_curves_equal_one_step_at_a_time(lab: PerturbationLab, curves) -> None:
    for order in ("morf", "lerf"):
        steps = np.stack([lab.perturb(f, order, Replacement.make("zero")).probabilities for f in FRACTIONS])
        assert np.allclose(curves.deletion[order], steps, atol=1e-9)
    for i, seed in enumerate((0, 1, 2)):
        steps = np.stack([lab.perturb(f, "random", Replacement.make("zero"), seed).probabilities for f in FRACTIONS])
        assert np.allclose(curves.random_deletion[i], steps, atol=1e-9)
    # chunk size does not matter
    other = run_curves(lab, "A", replacement=Replacement.make("zero"), baseline=Replacement.make("mean"),
                       fractions=FRACTIONS, seeds=(0, 1, 2), chunk=1)
    assert np.allclose(other.deletion["morf"], curves.deletion["morf"], atol=1e-12)
    assert np.allclose(other.random_insertion, curves.random_insertion, atol=1e-12)


def test_insertion_restores_pixels_over_the_baseline(lab: PerturbationLab, curves) -> None:
    base = region_image()
    mean = base.mean()
    _ranking, positions = lab.ranking("morf")
    for j, f in enumerate(FRACTIONS):
        k = int(np.floor(f * SIZE**2 + 0.5))
        img = np.where(positions < k, base, mean).astype(np.float32)
        ref = PerturbationLab(region_model(), img, region_map(), resolution="image").original
        assert np.allclose(curves.insertion["morf"][j], ref, atol=1e-9)
    assert np.allclose(curves.insertion["morf"][-1], lab.original)  # everything restored
    assert np.allclose(curves.deletion["morf"][0], lab.original)  # nothing removed


def test_morf_deletion_is_below_random_and_lerf(curves) -> None:
    s = curves.summary("morf")
    r = curves.random_summary()
    assert s["deletion_auc"] < r["deletion_auc_mean"] < curves.summary("lerf")["deletion_auc"]
    assert s["insertion_auc"] > r["insertion_auc_mean"]
    assert s["aopc"] > curves.summary("lerf")["aopc"]


def test_auc_and_aopc_against_other_computations() -> None:
    f = np.array([0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0])
    s = np.exp(-3 * f)
    assert normalised_auc(f, s) == pytest.approx(np.trapezoid(s, f), rel=1e-12)
    assert normalised_auc(f[1:6], s[1:6]) == pytest.approx(np.trapezoid(s[1:6], f[1:6]) / (0.5 - 0.02), rel=1e-12)
    # on a fine grid the trapezoid approaches the integral (1 - e^-3) / 3
    fine = np.linspace(0, 1, 2001)
    assert normalised_auc(fine, np.exp(-3 * fine)) == pytest.approx((1 - np.exp(-3)) / 3, rel=1e-6)
    assert normalised_auc([0.3], [0.7]) == 0.7
    p0 = 0.9
    assert aopc(p0, s) == pytest.approx(sum(p0 - v for v in s) / len(s), rel=1e-12)
    assert aopc(p0, [p0, p0]) == 0.0


def test_summary_and_band_shapes(curves) -> None:
    s = curves.summary("morf")
    assert s["deletion"]["fractions"] == FRACTIONS and len(s["deletion"]["scores"]) == len(FRACTIONS)
    r = curves.random_summary()
    assert r["seeds"] == [0, 1, 2] and len(r["deletion_mean"]) == len(FRACTIONS)
    band = curves.random_deletion[:, :, 0]
    assert np.allclose(r["deletion_sd"], band.std(0, ddof=1))
    dp = curves.delta_p("morf")
    assert set(dp["by_class"]) == {"A", "B"}
    assert dp["by_class"]["A"][0] == pytest.approx(0.0, abs=1e-12)
    assert all(v == pytest.approx(0.0, abs=1e-7) for v in dp["by_class"]["B"][:4])  # up to 10 %: region A + bottom row


def test_random_band_reproducible_by_seed(lab: PerturbationLab) -> None:
    a = run_curves(lab, "A", fractions=FRACTIONS, seeds=(5, 6), orders=("morf",))
    b = run_curves(lab, "A", fractions=FRACTIONS, seeds=(5, 6), orders=("morf",))
    c = run_curves(lab, "A", fractions=FRACTIONS, seeds=(7, 8), orders=("morf",))
    assert np.array_equal(a.random_deletion, b.random_deletion)
    assert not np.array_equal(a.random_deletion, c.random_deletion)


def test_inpainting_curves_and_errors(lab: PerturbationLab) -> None:
    small = [0.0, 0.1, 0.3]
    cr = run_curves(lab, "A", replacement=Replacement.make("inpaint"), fractions=small, seeds=(), orders=("morf",))
    steps = np.stack([lab.perturb(f, "morf", Replacement.make("inpaint")).probabilities for f in small])
    assert np.allclose(cr.deletion["morf"], steps, atol=1e-9)
    assert cr.random_deletion.shape == (0, 3, 2)
    with pytest.raises(RadLensError, match="baseline"):
        run_curves(lab, "A", baseline=Replacement.make("inpaint"), fractions=small)
    with pytest.raises(RadLensError, match="unknown class"):
        run_curves(lab, "Z", fractions=small)


def test_default_grid() -> None:
    g = default_fractions()
    assert len(g) == 21 and g[0] == 0.0 and g[-1] == 1.0 and g[1] == 0.05


def test_region_is_replaced_first_by_morf(lab: PerturbationLab) -> None:
    ranking, _ = lab.ranking("morf")
    area = (REGION[0].stop - REGION[0].start) * (REGION[1].stop - REGION[1].start)
    rows, cols = np.unravel_index(ranking[:area], (SIZE, SIZE))
    assert np.all((rows >= REGION[0].start) & (rows < REGION[0].stop))
    assert np.all((cols >= REGION[1].start) & (cols < REGION[1].stop))


@pytest.mark.parametrize("resolution", ["image", "model"])
def test_batched_curves_equal_one_step_at_a_time_for_a_conv_net(tiny_pair, resolution: str) -> None:
    """A real CNN (batch-dependent kernels), a resize at image resolution, every job of the sweep.

    The reference builds each deletion and insertion image on its own with numpy and runs the
    model on it alone (batch of one).
    """
    model, _ = tiny_pair
    rng = np.random.default_rng(4)
    image = rng.random((40, 48)).astype(np.float32)
    rel = rng.random((40, 48)).astype(np.float32)
    lab = PerturbationLab(model, image, rel, resolution=resolution)
    rep, base_rep = Replacement.make("blur", ksize=5), Replacement.make("mean")
    fs = [0.0, 0.1, 0.35, 0.7, 1.0]
    target = model.class_names[1]
    batched = run_curves(lab, target, orders=("morf", "lerf"), replacement=rep, baseline=base_rep, fractions=fs,
                         seeds=(3, 9), chunk=3)
    auto = run_curves(lab, target, orders=("morf", "lerf"), replacement=rep, baseline=base_rep, fractions=fs,
                      seeds=(3, 9))
    base = lab.frame.base
    blurred = gaussian_blur(base, ksize=5)
    mean = np.full_like(base, base[lab.frame.valid].mean())

    def one(img: np.ndarray) -> np.ndarray:
        return lab.frame.probabilities(torch.from_numpy(img[None]))[0]

    def reference(order: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
        ranking = rank_pixels(lab.relevance, order, seed)
        dele, ins = [], []
        for f in fs:
            flat = np.zeros(base.size, bool)
            flat[ranking[:int(np.floor(f * ranking.size + 0.5))]] = True
            chosen = flat.reshape(base.shape)
            dele.append(one(np.where(chosen, blurred, base).astype(np.float32)))
            ins.append(one(np.where(chosen | ~lab.frame.valid, base, mean).astype(np.float32)))
        return np.stack(dele), np.stack(ins)

    for order in ("morf", "lerf"):
        d, i = reference(order, 0)
        for result in (batched, auto):
            assert np.allclose(result.deletion[order], d, atol=1e-6)
            assert np.allclose(result.insertion[order], i, atol=1e-6)
    for j, seed in enumerate((3, 9)):
        d, i = reference("random", seed)
        assert np.allclose(batched.random_deletion[j], d, atol=1e-6)
        assert np.allclose(batched.random_insertion[j], i, atol=1e-6)
    assert batched.deletion["morf"][0] == pytest.approx(lab.original, abs=1e-6)


# --- issue #14: named conventions ---------------------------------------------------------

RISE_FRACTIONS = [0.0, 0.01, 0.05, 0.1, 0.3, 0.6, 1.0]


def _explanation() -> np.ndarray:
    return np.random.default_rng(3).permutation(SIZE * SIZE).reshape(SIZE, SIZE).astype(np.float32)


def _rise_reference(model, image: np.ndarray, saliency: np.ndarray, substrate: np.ndarray, mode: str) -> np.ndarray:
    """Probabilities of both classes after moving the top-k pixels, for each fraction."""
    mean, std = model.manifest.mean[0], model.manifest.std[0]
    img = torch.from_numpy((image - mean) / std)[None, None].float()
    sub = torch.from_numpy(substrate)[None, None].float()
    order = np.flip(np.argsort(saliency.reshape(-1), kind="stable"))
    out = []
    for f in RISE_FRACTIONS:
        k = int(np.floor(f * SIZE * SIZE + 0.5))
        start, finish = (img.clone(), sub) if mode == "del" else (sub.clone(), img)
        start.view(-1)[order[:k].copy()] = finish.reshape(-1)[order[:k].copy()]
        with torch.no_grad():
            out.append(torch.sigmoid(model.module(start))[0].numpy())
    return np.stack(out)


@pytest.fixture(scope="module")
def rise():
    model = region_model()
    lab = PerturbationLab(model, region_image(), _explanation(), resolution="image")
    return model, run_curves(lab, "A", convention="rise", fractions=RISE_FRACTIONS, seeds=(), chunk=8)


def test_rise_deletion_equals_zeros_of_the_normalised_input(rise) -> None:
    model, curves = rise
    ref = _rise_reference(model, region_image(), _explanation(), np.zeros((SIZE, SIZE), np.float32), "del")
    np.testing.assert_allclose(curves.deletion["morf"], ref, atol=1e-6)
    assert curves.info["convention"] == "rise"


def test_rise_insertion_starts_from_an_11x11_sigma5_blur(rise) -> None:
    model, curves = rise
    mean, std = model.manifest.mean[0], model.manifest.std[0]
    blurred = gaussian_filter(region_image().astype(np.float64), sigma=5.0, truncate=1.0, mode="mirror")
    substrate = ((blurred - mean) / std).astype(np.float32)
    ref = _rise_reference(model, region_image(), _explanation(), substrate, "ins")
    np.testing.assert_allclose(curves.insertion["morf"], ref, atol=1e-5)
    assert curves.baseline.to_dict() == {"mode": "blur", "params": {"ksize": 11, "sigma": 5.0}}


def test_default_convention_is_radlens_and_is_recorded() -> None:
    lab = PerturbationLab(region_model(), region_image(), _explanation(), resolution="image")
    default = run_curves(lab, "A", fractions=RISE_FRACTIONS, seeds=(), chunk=8)
    assert default.info["convention"] == "radlens"
    assert default.replacement.mode == "mean" and default.baseline.to_dict()["params"]["ksize"] == 21
    named = run_curves(lab, "A", convention="radlens", fractions=RISE_FRACTIONS, seeds=(), chunk=8)
    np.testing.assert_array_equal(named.deletion["morf"], default.deletion["morf"])
    custom = run_curves(lab, "A", replacement=Replacement.make("zero"), fractions=RISE_FRACTIONS, seeds=(), chunk=8)
    assert custom.info["convention"] == "custom"
    # RISE's deletion fill is the normalisation mean (0.5 here), not black and not the image mean
    rise_rep, _ = curve_settings("rise", region_model().manifest.mean)
    assert rise_rep.to_dict() == {"mode": "dataset_mean", "params": {"value": 0.5}}
    with pytest.raises(RadLensError, match="convention"):
        run_curves(lab, "A", convention="rise", replacement=Replacement.make("zero"), fractions=RISE_FRACTIONS)
    with pytest.raises(RadLensError, match="unknown curve convention"):
        curve_settings("petsiuk")


def test_convention_is_in_the_document_and_the_report_rows(rise) -> None:
    model, curves = rise
    doc = build_document(model, image="x.png", target="A", order="morf", replacement=curves.replacement,
                         resolution="image", seed=0, original=curves.original, method="gradcam", curves=curves)
    assert doc["curves_convention"] == "rise"
    rows = dict((r[0], r[1]) for r in perturbation_rows(doc))
    assert "Petsiuk" in rows["Curve convention"]

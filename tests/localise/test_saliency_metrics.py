"""Saliency-vs-gaze metrics: analytic known answers and a literal transcription of the MIT code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.errors import RadLensError, ShapeError
from engine.localise import saliency as sal
from engine.localise.errors import InvalidMapError

MATLAB_EPS = 2.2204e-16


# --- the MIT saliency benchmark's MATLAB code (github.com/cvzoya/saliency), transcribed line by line ---
def ref_kldiv(saliency_map: np.ndarray, fixation_map: np.ndarray) -> float:
    map1 = saliency_map.astype(float)
    map2 = fixation_map.astype(float)
    if map1.any():
        map1 = map1 / map1.sum()
    if map2.any():
        map2 = map2 / map2.sum()
    return float(np.sum(map2 * np.log(MATLAB_EPS + map2 / (map1 + MATLAB_EPS))))


def ref_cc(m1: np.ndarray, m2: np.ndarray) -> float:
    map1 = (m1 - m1.mean()) / m1.std(ddof=1)
    map2 = (m2 - m2.mean()) / m2.std(ddof=1)
    # corr2(A, B) = sum((A - mean A)(B - mean B)) / sqrt(sum((A - mean A)^2) sum((B - mean B)^2))
    a, b = map2 - map2.mean(), map1 - map1.mean()
    return float((a * b).sum() / math.sqrt((a * a).sum() * (b * b).sum()))


def ref_similarity(m1: np.ndarray, m2: np.ndarray) -> float:
    map1, map2 = m1.astype(float), m2.astype(float)
    if map1.any():
        map1 = (map1 - map1.min()) / (map1.max() - map1.min())
        map1 = map1 / map1.sum()
    if map2.any():
        map2 = (map2 - map2.min()) / (map2.max() - map2.min())
        map2 = map2 / map2.sum()
    return float(np.minimum(map1, map2).sum())


def ref_nss(saliency_map: np.ndarray, fixation_map: np.ndarray) -> float:
    m = (saliency_map - saliency_map.mean()) / saliency_map.std(ddof=1)
    return float(m[fixation_map.astype(bool)].mean())


def ref_auc_judd(saliency_map: np.ndarray, fixation_map: np.ndarray) -> float:
    """``AUC_Judd.m`` with jitter = 0, loop for loop (MATLAB's column-major order kept)."""
    s_map = (saliency_map - saliency_map.min()) / (saliency_map.max() - saliency_map.min())
    S = s_map.ravel(order="F")
    F = fixation_map.ravel(order="F")
    Sth = S[F > 0]
    n_fix = len(Sth)
    n_pix = len(S)
    allthreshes = np.sort(Sth)[::-1]
    tp = np.zeros(n_fix + 2)
    fp = np.zeros(n_fix + 2)
    tp[-1] = 1
    fp[-1] = 1
    for i in range(1, n_fix + 1):
        thresh = allthreshes[i - 1]
        aboveth = np.sum(S >= thresh)
        tp[i] = i / n_fix
        fp[i] = (aboveth - i) / (n_pix - n_fix)
    # trapz(fp, tp)
    return float(sum((fp[k + 1] - fp[k]) * (tp[k + 1] + tp[k]) / 2 for k in range(len(fp) - 1)))


def _random_case(seed: int, shape: tuple[int, int] = (24, 31)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous maps (no ties) and a random binary fixation map."""
    rng = np.random.default_rng(seed)
    saliency = rng.gamma(2.0, 1.0, shape)
    density = rng.gamma(1.5, 1.0, shape)
    fixations = rng.random(shape) < 0.08
    fixations[rng.integers(shape[0]), rng.integers(shape[1])] = True
    return saliency, density, fixations


# --- against the transcription ---------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_every_metric_matches_the_matlab_transcription(seed: int) -> None:
    s, d, f = _random_case(seed)
    assert sal.kl_divergence(s, d) == pytest.approx(ref_kldiv(s, d), rel=1e-12)
    assert sal.correlation_coefficient(s, d) == pytest.approx(ref_cc(s, d), rel=1e-12)
    assert sal.similarity(s, d) == pytest.approx(ref_similarity(s, d), rel=1e-12)
    assert sal.nss(s, f) == pytest.approx(ref_nss(s, f), rel=1e-12)
    assert sal.auc_judd(s, f) == pytest.approx(ref_auc_judd(s, f), rel=1e-12)


def test_auc_judd_matches_matlab_on_a_relu_map_with_ties_off_the_fixations() -> None:
    # A ReLU'd CAM: most pixels tie at 0; the fixated pixels hold distinct positive values.
    rng = np.random.default_rng(11)
    s = np.maximum(rng.normal(0.0, 1.0, (30, 30)), 0.0)
    candidates = np.flatnonzero(s.ravel() > 0)
    flat = np.zeros(s.size, dtype=bool)
    flat[rng.choice(candidates, 40, replace=False)] = True
    f = flat.reshape(s.shape)
    assert (s == 0).mean() > 0.4
    assert sal.auc_judd(s, f) == pytest.approx(ref_auc_judd(s, f), rel=1e-12)
    assert sal.nss(s, f) == pytest.approx(ref_nss(s, f), rel=1e-12)


def test_random_maps_score_near_chance() -> None:
    s, d, f = _random_case(99, (120, 130))
    assert abs(sal.correlation_coefficient(s, d)) < 0.05
    assert abs(sal.nss(s, f)) < 0.15
    assert sal.auc_judd(s, f) == pytest.approx(0.5, abs=0.05)


def test_saliency_scores_returns_all_five() -> None:
    s, d, f = _random_case(3)
    scores = sal.saliency_scores(s, d, f)
    assert set(scores) == {"kl", "cc", "sim", "nss", "auc_judd"} == set(sal.HIGHER_IS_BETTER)
    assert scores["auc_judd"] == sal.auc_judd(s, f)
    assert scores["kl"] == sal.kl_divergence(s, d)


# --- analytic known answers -------------------------------------------------------------------
def test_identical_maps() -> None:
    s, _, _ = _random_case(1)
    assert sal.correlation_coefficient(s, s) == pytest.approx(1.0, abs=1e-12)
    assert sal.similarity(s, s) == pytest.approx(1.0, abs=1e-12)
    assert sal.kl_divergence(s, s) == pytest.approx(0.0, abs=1e-9)


def test_cc_is_invariant_to_affine_changes_and_flips_sign() -> None:
    s, d, _ = _random_case(2)
    assert sal.correlation_coefficient(3.0 * s + 7.0, d) == pytest.approx(sal.correlation_coefficient(s, d))
    assert sal.correlation_coefficient(-2.0 * s + 1.0, s) == pytest.approx(-1.0)


def test_kl_and_sim_on_four_pixels() -> None:
    # Q = (1/2, 1/2, 0, 0), P uniform: KL = sum Q log(Q / P) = log 2.
    density = np.array([[1.0, 1.0], [0.0, 0.0]])
    uniform = np.full((2, 2), 5.0)
    assert sal.kl_divergence(uniform, density) == pytest.approx(math.log(2.0), rel=1e-12)
    # SIM: min-max then sum to 1: (1/2, 1/2, 0, 0) vs (0, 1/2, 1/2, 0) overlap in one half.
    shifted = np.array([[0.0, 1.0], [0.0, 1.0]])
    assert sal.similarity(shifted, density) == pytest.approx(0.5)
    disjoint = np.array([[0.0, 0.0], [1.0, 1.0]])
    assert sal.similarity(disjoint, density) == 0.0


def test_uniform_map_scores_chance() -> None:
    _, d, f = _random_case(4)
    flat = np.full(d.shape, 0.3)
    assert sal.auc_judd(flat, f) == 0.5
    assert sal.nss(flat, f) == 0.0
    assert sal.correlation_coefficient(flat, d) == 0.0
    assert sal.similarity(flat, d) == 0.0  # min-max makes a constant map the zero map
    # KL treats a constant map as the uniform distribution: KL = log(N) - H(Q).
    q = d / d.sum()
    assert sal.kl_divergence(flat, d) == pytest.approx(math.log(d.size) + float(np.sum(q * np.log(q))), rel=1e-9)
    # the all-zero map (a ReLU'd CAM of an absent class; any constant map after min-max) is constant too
    zero = np.zeros(d.shape)
    assert sal.kl_divergence(zero, d) == pytest.approx(sal.kl_divergence(flat, d), rel=1e-12)
    assert sal.kl_divergence(zero, d) < math.log(d.size)  # not the eps-dominated sum(Q log(eps + Q / eps))


def test_fixation_at_the_unique_maximum() -> None:
    n = 10 * 12
    s = np.zeros((10, 12))
    s[3, 7] = 1.0
    f = np.zeros_like(s, dtype=bool)
    f[3, 7] = True
    # mean 1/N, sd (N - 1 normalisation) 1/sqrt(N): NSS = (1 - 1/N) sqrt(N).
    assert sal.nss(s, f) == pytest.approx((n - 1) / math.sqrt(n), rel=1e-12)
    assert sal.auc_judd(s, f) == 1.0


def test_fixation_at_the_unique_minimum() -> None:
    rng = np.random.default_rng(5)
    s = rng.random((9, 9)) + 1.0
    s[4, 4] = 0.0
    f = np.zeros_like(s, dtype=bool)
    f[4, 4] = True
    # Judd's curve has one point, (1, 1): the straight line from (0, 0) gives 0.5, not 0.
    assert sal.auc_judd(s, f) == pytest.approx(0.5)
    assert sal.auc_judd(s, f) == pytest.approx(ref_auc_judd(s, f))
    assert sal.nss(s, f) < -2.0


def test_auc_judd_ranks_perfectly_separated_maps() -> None:
    s = np.zeros((20, 20))
    s[5:10, 5:10] = np.arange(25).reshape(5, 5) + 10.0
    f = np.zeros_like(s, dtype=bool)
    f[5:10, 5:10] = True
    # Fixated pixels all rank above the others: fp stays 0 until tp = 1.
    assert sal.auc_judd(s, f) == pytest.approx(1.0)
    assert sal.auc_judd(-s, f) < 0.05


def test_auc_judd_ties_at_fixations_count_together() -> None:
    # Two fixated pixels share the top value with one non-fixated pixel: one ROC point
    # (tp 1, fp 1/(N-2)), instead of MATLAB's per-fixation counter that would split the tie.
    s = np.zeros((4, 4))
    s[0, 0] = s[0, 1] = s[0, 2] = 1.0
    f = np.zeros_like(s, dtype=bool)
    f[0, 0] = f[0, 1] = True
    fp = 1 / 14
    expected = 0.5 * fp * 1.0 + (1 - fp) * 1.0
    assert sal.auc_judd(s, f) == pytest.approx(expected)


# --- undefined cases and errors ---------------------------------------------------------------
def test_no_fixations_is_nan() -> None:
    s, _, _ = _random_case(6)
    empty = np.zeros(s.shape, dtype=bool)
    assert math.isnan(sal.nss(s, empty))
    assert math.isnan(sal.auc_judd(s, empty))
    assert math.isnan(sal.auc_judd(s, ~empty))


def test_shape_mismatch_and_bad_values_are_typed_errors() -> None:
    s, d, f = _random_case(7)
    with pytest.raises(ShapeError, match="resize"):
        sal.correlation_coefficient(s, d[:-1])
    with pytest.raises(ShapeError):
        sal.nss(s, f[:, :-1])
    with pytest.raises(InvalidMapError, match="negative"):
        sal.kl_divergence(s - 3.0, d)
    bad = s.copy()
    bad[0, 0] = np.nan
    with pytest.raises(RadLensError):
        sal.similarity(bad, d)


def test_fixation_map_uses_the_pixel_edge_convention() -> None:
    pts = np.array([[0.0, 0.0], [2.99, 1.5], [5.0, 3.999], [-0.1, 1.0], [6.0, 0.0], [1.0, 4.0]])
    m = sal.fixation_map(pts, (4, 6))
    expected = np.zeros((4, 6), dtype=bool)
    expected[0, 0] = expected[1, 2] = expected[3, 5] = True
    np.testing.assert_array_equal(m, expected)
    assert not sal.fixation_map(np.zeros((0, 2)), (3, 3)).any()
    with pytest.raises(ShapeError):
        sal.fixation_map(np.zeros((3, 3)), (3, 3))

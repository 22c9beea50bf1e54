"""Simulated gaze on phantoms: file format, geometry of the fixations, metric sanity, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.localise import saliency as sal
from training.gaze import (
    GAZE_SUFFIX,
    GazeFormatError,
    encode_gaze,
    find_gaze,
    gaze_density,
    gaze_path,
    gaze_scores,
    load_gaze,
)
from training.phantom import CLASSES, GazeConfig, PhantomConfig, generate_case, simulate_gaze
from training.phantom.dataset import generate_dataset
from viewer.cli import main as radlens_main

BUSY = PhantomConfig(size=256, finding_probs={c: 0.6 for c in CLASSES})


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same small PNG dataset written without and with gaze."""
    plain, gazed = tmp_path_factory.mktemp("plain"), tmp_path_factory.mktemp("gazed")
    cfg = PhantomConfig(size=128)
    generate_dataset(plain, 5, seed=5, config=cfg, fmt="png")
    generate_dataset(gazed, 5, seed=5, config=cfg, fmt="png", gaze=GazeConfig())
    return plain, gazed


def _gaussian(size: int, cx: float, cy: float, sd: float) -> np.ndarray:
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    return np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * sd * sd))


# --- the dataset stays what it was ----------------------------------------------------------
def test_gaze_changes_no_image_csv_or_truth(pair: tuple[Path, Path]) -> None:
    plain, gazed = pair
    for img in sorted((plain / "images").iterdir()):
        assert (gazed / "images" / img.name).read_bytes() == img.read_bytes()
    assert (gazed / "train.csv").read_bytes() == (plain / "train.csv").read_bytes()
    t_plain = json.loads((plain / "truth.json").read_text())
    t_gazed = json.loads((gazed / "truth.json").read_text())
    assert "gaze" not in t_plain and all("gaze_file" not in r for r in t_plain["images"])
    assert t_gazed.pop("gaze")["config"] == GazeConfig().to_dict()
    files = [r.pop("gaze_file") for r in t_gazed["images"]]
    assert t_gazed == t_plain
    assert files == [f"images/phantom_{i:05d}{GAZE_SUFFIX}" for i in range(5)]


def test_written_gaze_files_load_and_match_their_truth(pair: tuple[Path, Path]) -> None:
    _, gazed = pair
    truth = json.loads((gazed / "truth.json").read_text())
    for rec in truth["images"]:
        g = find_gaze(gazed / rec["file"])
        assert g is not None and g.size == (128, 128)
        assert ((g.x >= 0) & (g.x < 128) & (g.y >= 0) & (g.y < 128)).all()
        assert set(np.unique(g.finding)) <= {-1, *range(len(rec["findings"]))}
        for k in range(len(rec["findings"])):
            assert int((g.finding == k).sum()) == GazeConfig().dwell_fixations
        assert int((g.finding == -1).sum()) == GazeConfig().path_fixations
        assert g.density.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(g.density, gaze_density(g.x, g.y, g.size, g.sigma_px), atol=1e-9)
        assert (g.duration_ms > 0).all()


# --- known geometry ---------------------------------------------------------------------------
def test_dwell_fixations_sit_on_their_findings() -> None:
    cfg = GazeConfig()
    seen = set()
    for seed in range(8):
        case = generate_case(seed, BUSY)
        g = simulate_gaze(case, cfg)
        for k, f in enumerate(case.findings):
            seen.add(f.class_name)
            # every dwell offset is truncated at max_offset_sd * dwell_spread * sqrt(area)
            margin = 2.0 * 0.15 * np.sqrt(f.mask.sum())
            x0, y0, x1, y1 = f.box
            mine = g.finding == k
            assert ((g.x[mine] >= x0 - margin) & (g.x[mine] <= x1 + margin)).all()
            assert ((g.y[mine] >= y0 - margin) & (g.y[mine] <= y1 + margin)).all()
            # and the cluster's centre is close to the finding's centre of mass
            rows, cols = np.nonzero(f.mask)
            centre = np.array([cols.mean() + 0.5, rows.mean() + 0.5])
            spread = np.array([cols.std(), rows.std()])
            assert (np.abs(np.array([g.x[mine].mean(), g.y[mine].mean()]) - centre) < spread + margin / 2).all()
    assert seen == set(CLASSES)


def test_reading_path_stays_on_the_chest_and_covers_both_lungs() -> None:
    case = generate_case(11, PhantomConfig(size=256, finding_probs={c: 0.0 for c in CLASSES}))
    g = simulate_gaze(case)
    assert (g.finding == -1).all()
    rows = np.flatnonzero(case.thorax_mask.any(axis=1))
    cols = np.flatnonzero(case.thorax_mask.any(axis=0))
    inside = (g.x >= cols[0]) & (g.x <= cols[-1] + 1) & (g.y >= rows[0]) & (g.y <= rows[-1] + 1)
    assert inside.mean() >= 0.9
    mid = 0.5 * (cols[0] + cols[-1] + 1)
    assert (g.x < mid).sum() >= 8 and (g.x > mid).sum() >= 8
    # the right lung (image left) is read first
    assert g.x[:5].mean() < mid


def test_gaze_is_seeded_and_separate_from_the_image_stream() -> None:
    a, b = generate_case(4, BUSY), generate_case(4, BUSY)
    ga, gb = simulate_gaze(a), simulate_gaze(b)
    np.testing.assert_array_equal(ga.x, gb.x)
    np.testing.assert_array_equal(ga.duration_ms, gb.duration_ms)
    np.testing.assert_array_equal(a.image, generate_case(4, BUSY).image)
    assert not np.array_equal(simulate_gaze(generate_case(5, BUSY)).x[:5], ga.x[:5])


# --- the metrics on simulated gaze ----------------------------------------------------------
@pytest.mark.parametrize("cls", [c for c in CLASSES if c != "Cardiomegaly"])
def test_density_scores_perfectly_and_a_mirrored_map_scores_low(cls: str) -> None:
    # one finding on one side of the chest; the reading path covers both lungs
    cfg = PhantomConfig(size=256, finding_probs={c: float(c == cls) for c in CLASSES}, max_nodules=1)
    for seed in range(2):
        case = generate_case(seed, cfg)
        assert [f.class_name for f in case.findings] == [cls]
        g = simulate_gaze(case)
        d, fix = g.density_map(), g.fixation_map()
        assert sal.correlation_coefficient(d, d) == pytest.approx(1.0)
        assert sal.similarity(d, d) == pytest.approx(1.0)
        assert sal.kl_divergence(d, d) == pytest.approx(0.0, abs=1e-9)
        own_nss, own_auc = sal.nss(d, fix), sal.auc_judd(d, fix)
        assert own_nss > 3.0 and own_auc > 0.95
        # the same density mirrored left-right: the dwell lands on the healthy side
        flipped = np.fliplr(d)
        assert sal.correlation_coefficient(flipped, d) < 0.6
        assert sal.nss(flipped, fix) < own_nss - 1.5
        assert sal.auc_judd(flipped, fix) < own_auc - 0.03
        # a blob on the finding beats the same blob mirrored onto the other lung
        rows, cols = np.nonzero(case.findings[0].mask)
        cx, cy, sd = cols.mean() + 0.5, rows.mean() + 0.5, 0.5 * np.sqrt(rows.size)
        on = _gaussian(case.size, cx, cy, sd)
        off = _gaussian(case.size, case.size - cx, cy, sd)
        assert sal.nss(on, fix) > sal.nss(off, fix) + 0.3
        assert sal.correlation_coefficient(on, d) > sal.correlation_coefficient(off, d) + 0.15
        assert sal.kl_divergence(on, d) < sal.kl_divergence(off, d)


def test_maps_render_at_another_shape() -> None:
    g = simulate_gaze(generate_case(2, BUSY))
    small = g.fixation_map((64, 64))
    expected = np.zeros((64, 64), dtype=bool)
    expected[np.floor(g.y / 4).astype(int), np.floor(g.x / 4).astype(int)] = True
    np.testing.assert_array_equal(small, expected)
    d = g.density_map((64, 64))
    assert d.shape == (64, 64) and d.sum() == pytest.approx(1.0)
    # the coarse density agrees with the fine one block-averaged
    coarse = g.density_map().reshape(64, 4, 64, 4).sum(axis=(1, 3))
    assert sal.correlation_coefficient(d, coarse) > 0.98


def test_gaze_scores_render_the_truth_at_the_map_shape() -> None:
    g = simulate_gaze(generate_case(3, BUSY))
    coarse = g.density_map((32, 32))
    scores = gaze_scores(coarse, g)
    assert scores == sal.saliency_scores(coarse, coarse, g.fixation_map((32, 32)))
    assert scores["cc"] == pytest.approx(1.0) and scores["sim"] == pytest.approx(1.0)
    full = gaze_scores(g.density_map(), g)
    assert full["nss"] == pytest.approx(sal.nss(g.density, g.fixation_map()), rel=1e-6)


# --- the file format --------------------------------------------------------------------------
def test_loader_refuses_bad_files(tmp_path: Path) -> None:
    g = simulate_gaze(generate_case(1, BUSY))
    image = tmp_path / "x.png"
    assert gaze_path(image) == tmp_path / "x.gaze.npz"
    assert find_gaze(image) is None
    gaze_path(image).write_bytes(b"not a zip")
    with pytest.raises(GazeFormatError, match=r"x\.gaze\.npz"):
        find_gaze(image)
    partial = tmp_path / "partial.gaze.npz"
    np.savez(partial, x=g.x)
    with pytest.raises(GazeFormatError, match="missing"):
        load_gaze(partial)
    good = tmp_path / "good.gaze.npz"
    good.write_bytes(encode_gaze(g))
    assert load_gaze(good).n == g.n
    with np.load(good) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["schema_version"] = np.int64(99)
    np.savez(tmp_path / "future.gaze.npz", **arrays)
    with pytest.raises(GazeFormatError, match="schema version 99"):
        load_gaze(tmp_path / "future.gaze.npz")


def test_cli_gaze_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ph"
    code = radlens_main(["phantom", "--n", "2", "--out", str(out), "--seed", "2", "--size", "128",
                         "--format", "png", "--gaze", "--quiet"])
    assert code == 0
    assert sorted(p.name for p in (out / "images").glob("*" + GAZE_SUFFIX)) == [
        "phantom_00000.gaze.npz", "phantom_00001.gaze.npz"]
    assert "gaze.npz" in capsys.readouterr().out
    plain = tmp_path / "plain"
    assert radlens_main(["phantom", "--n", "1", "--out", str(plain), "--size", "128", "--format", "png",
                         "--quiet"]) == 0
    assert not list((plain / "images").glob("*" + GAZE_SUFFIX))

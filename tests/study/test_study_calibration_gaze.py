"""The ``classification`` (calibration) and ``gaze`` blocks, against references computed here."""

from __future__ import annotations

import csv
import io
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.optimize import minimize_scalar
from sklearn.metrics import brier_score_loss, roc_auc_score
from study_helpers import tables_of

from engine.annotations import image_key
from training.phantom import PhantomConfig
from training.phantom.dataset import generate_dataset
from training.phantom.gaze import GazeConfig
from training.study import load_study, parse_study, report_study, run_study
from training.study.store import read_results

N = 10
NO_GAZE = 2  # gaze files removed from this many images
SCALE = 300.0  # head weight factor of the calibration model


def _yaml(model: Path, metrics: str, split: str = "all") -> str:
    return f"""
name: calib-gaze
models: ["{model}"]
data:
  split: {split}
methods:
  - name: gradcam
metrics: {metrics}
classification:
  bins: 5
run:
  batch_size: 3
"""


@pytest.fixture(scope="module")
def gaze_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 phantom PNGs with simulated gaze, the first two without their gaze file, and a split.json."""
    out = tmp_path_factory.mktemp("gaze-phantom")
    generate_dataset(out, N, 5, PhantomConfig(size=128), fmt="png", gaze=GazeConfig())
    images = sorted((out / "images").glob("*.png"))
    for p in images[:NO_GAZE]:
        p.with_name(p.stem + ".gaze.npz").unlink()
    ids = [image_key(p.name) for p in images]
    (out / "split.json").write_text(json.dumps({"train": [], "val": ids[::2], "test": ids[1::2]}))
    return out


@pytest.fixture(scope="module")
def sharp_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The conftest's seeded MobileNetV3-small with a head scaled up so that its logits spread over units."""
    import torch
    import torchvision

    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest
    from training.phantom import CLASSES

    torch.manual_seed(0)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    net.features[0][0] = torch.nn.Conv2d(1, 16, 3, 2, 1, bias=False)
    with torch.no_grad():
        net.classifier[3].weight.mul_(SCALE)
        net.classifier[3].bias.fill_(-1.0)
    manifest = ModelManifest(name="sharp-study", version="0.1", architecture="mobilenet_v3_small",
                             class_names=tuple(CLASSES), input_size=(64, 64), in_channels=1, mean=(0.5,),
                             std=(0.25,))
    return save_bundle(tmp_path_factory.mktemp("sharp") / "sharp", net, manifest)


def _rows(out: Path) -> list[dict[str, Any]]:
    return read_results(out).to_pylist()


def _table(out: Path, name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO((out / "tables" / name).read_text(encoding="utf-8"))))


def _matrix(rows: list[dict[str, Any]], classes: list[str], key: str) -> np.ndarray:
    images = sorted({r["image"] for r in rows})
    m = np.zeros((len(images), len(classes)))
    for r in rows:
        m[images.index(r["image"]), classes.index(r["class"])] = r[key]
    return m


def _ece(p: np.ndarray, y: np.ndarray, bins: int) -> float:
    """ECE written out with a Python loop over bins (right-closed bins, the first one closed)."""
    total, n = 0.0, p.size
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = (p > lo) & (p <= hi) if b else (p >= lo) & (p <= hi)
        if inside.any():
            total += inside.sum() / n * abs(y[inside].mean() - p[inside].mean())
    return total


def test_classification_tables_match_sklearn_with_temperature_from_val(
        sharp_bundle: Path, gaze_set: Path, tmp_path: Path) -> None:
    split = "{file: split.json, subset: [val, test]}"
    cfg = parse_study(_yaml(sharp_bundle, "[classification]", split)).with_overrides(folder=str(gaze_set))
    run_study(cfg, tmp_path, workers=0, progress=False)
    rows = [r for r in _rows(tmp_path) if r["block"] == "classification"]
    classes = sorted({r["class"] for r in rows})
    assert {r["split"] for r in rows} == {"val", "test"} and len(rows) == N * len(classes)
    for r in rows:  # the stored logit is the one the probability came from
        assert r["probability"] == pytest.approx(1 / (1 + np.exp(-r["logit"])), abs=1e-6)
    val = [r for r in rows if r["split"] == "val"]
    test = [r for r in rows if r["split"] == "test"]
    zv, yv = _matrix(val, classes, "logit"), _matrix(val, classes, "label")
    zt, yt, pt = _matrix(test, classes, "logit"), _matrix(test, classes, "label"), _matrix(test, classes, "probability")

    def bce(log_t: float) -> float:
        q = np.clip(1 / (1 + np.exp(-zv / np.exp(log_t))), 1e-12, 1 - 1e-12)
        return float(-np.mean(yv * np.log(q) + (1 - yv) * np.log(1 - q)))

    t_ref = float(np.exp(minimize_scalar(bce, bounds=(-3, 3), method="bounded", options={"xatol": 1e-9}).x))
    assert 0.06 < t_ref < 19 and abs(t_ref - 1) > 0.05, f"the model's logits do not test the fit (T = {t_ref})"
    qt = 1 / (1 + np.exp(-zt / t_ref))
    table = {r["class"]: r for r in _table(tmp_path, "calibration.csv")}
    assert set(table) == {*classes, "all"}
    for j, c in enumerate(classes):
        r = table[c]
        assert r["evaluated"] == "test" and int(r["n_images"]) == N // 2 and r["bins"] == "5"
        assert int(r["positives"]) == int(yt[:, j].sum())
        if 0 < yt[:, j].sum() < len(yt):
            assert float(r["auc"]) == pytest.approx(roc_auc_score(yt[:, j], pt[:, j]), abs=1e-6)
        else:
            assert r["auc"] == ""
        assert float(r["brier"]) == pytest.approx(brier_score_loss(yt[:, j], pt[:, j]), abs=1e-6)
        assert float(r["ece"]) == pytest.approx(_ece(pt[:, j], yt[:, j], 5), abs=1e-6)
        assert float(r["temperature"]) == pytest.approx(t_ref, rel=1e-3)
        assert r["temperature_source"].startswith("fitted on the val split (5 images)")
        assert float(r["brier_calibrated"]) == pytest.approx(brier_score_loss(yt[:, j], qt[:, j]), abs=1e-5)
    pooled = table["all"]
    assert float(pooled["brier"]) == pytest.approx(brier_score_loss(yt.ravel(), pt.ravel()), abs=1e-6)
    assert float(pooled["ece"]) == pytest.approx(_ece(pt.ravel(), yt.ravel(), 5), abs=1e-6)
    assert float(pooled["ece_calibrated"]) == pytest.approx(_ece(qt.ravel(), yt.ravel(), 5), abs=1e-5)
    reliability = [r for r in _table(tmp_path, "reliability.csv") if r["class"] == "all"]
    assert {r["scaling"] for r in reliability} == {"raw", "temperature"} and len(reliability) == 10
    raw_counts = [int(r["count"]) for r in reliability if r["scaling"] == "raw"]
    flat = pt.ravel()
    assert raw_counts == [int(((flat > b / 5) & (flat <= (b + 1) / 5)).sum() if b else (flat <= 0.2).sum())
                          for b in range(5)]
    assert (tmp_path / "figures" / "reliability.png").is_file()


@pytest.mark.parametrize("split, source", [
    ("all", "none: the study's data has no split file"),
    ("{file: split.json, subset: test}", "none: no validation rows in the store"),
])
def test_no_temperature_without_split_or_validation_rows(
        tiny_bundle: Path, gaze_set: Path, tmp_path: Path, split: str, source: str) -> None:
    cfg = parse_study(_yaml(tiny_bundle, "[classification]", split)).with_overrides(folder=str(gaze_set))
    run_study(cfg, tmp_path, workers=0, progress=False)
    table = _table(tmp_path, "calibration.csv")
    assert table and all(r["temperature"] == "" and r["temperature_source"].startswith(source) for r in table)
    assert all(r["ece_calibrated"] == "" for r in table)
    expected = N if split == "all" else N // 2
    assert all(int(r["n_images"]) == expected for r in table)
    assert {r["scaling"] for r in _table(tmp_path, "reliability.csv")} == {"raw"}


def test_gaze_block_equals_saliency_scores_directly(tiny_bundle: Path, gaze_set: Path, tmp_path: Path) -> None:
    from engine import explain, load_model
    from engine.io import load_image
    from engine.localise.saliency import saliency_scores
    from training.gaze import find_gaze

    cfg = parse_study(_yaml(tiny_bundle, "[gaze]")).with_overrides(folder=str(gaze_set))
    run_study(cfg, tmp_path, workers=0, progress=False)
    rows = _rows(tmp_path)
    model = load_model(str(tiny_bundle), device="cpu")
    without = {r["image"] for r in rows if not r["has_gaze"]}
    assert len(without) == NO_GAZE and all(r["gaze_kl"] is None for r in rows if not r["has_gaze"])
    checked = 0
    for image in sorted({r["image"] for r in rows} - without)[:2]:
        rec = find_gaze(gaze_set / image)
        assert rec is not None
        pixels = np.ascontiguousarray(load_image(gaze_set / image).display, dtype=np.float32)
        result = explain(model, pixels, method="gradcam")
        for r in (r for r in rows if r["image"] == image):
            m = result.map(r["class"], "image")
            ref = saliency_scores(m, rec.density_map(m.shape), rec.fixation_map(m.shape))
            for name in ("kl", "cc", "sim", "nss", "auc_judd"):
                assert r[f"gaze_{name}"] == pytest.approx(ref[name], rel=1e-6, abs=1e-9)
            checked += 1
    assert checked == 2 * len(model.class_names)
    table = {r["class"]: r for r in _table(tmp_path, "gaze.csv")}
    for c in model.class_names:
        values = [r["gaze_nss"] for r in rows if r["class"] == c and r["has_gaze"]]
        assert int(table[c]["nss_n"]) == N - NO_GAZE
        assert float(table[c]["nss_mean"]) == pytest.approx(np.mean(values), abs=1e-6)
        assert float(table[c]["nss_std"]) == pytest.approx(np.std(values, ddof=1), abs=1e-6)
    assert int(table["all"]["kl_n"]) == (N - NO_GAZE) * len(model.class_names)


def test_resume_and_report_give_identical_tables(tiny_bundle: Path, gaze_set: Path, tmp_path: Path) -> None:
    split = "{file: split.json, subset: [val, test]}"
    cfg = parse_study(_yaml(tiny_bundle, "[classification, gaze]", split)).with_overrides(folder=str(gaze_set))
    full, part = tmp_path / "full", tmp_path / "part"
    run_study(cfg, full, workers=0, progress=False)
    run_study(cfg.with_overrides(limit=4), part, workers=0, progress=False)
    run_study(cfg, part, workers=0, progress=False, resume=True)
    reference = tables_of(full)
    assert {"calibration.csv", "reliability.csv", "gaze.csv"} <= set(reference)
    assert tables_of(part) == reference
    shutil.rmtree(full / "tables")
    report_study(full)
    assert tables_of(full) == reference


def test_methods_layers_preset() -> None:
    cfg = load_study("preset:methods-layers")
    assert cfg.metrics == ("localisation", "classification")
    assert {m.name for m in cfg.methods} == {"gradcam", "gradcampp", "scorecam", "xgradcam", "layercam"}
    assert all(tuple(m.layers) == ("layer2", "layer3", "layer4") for m in cfg.methods)

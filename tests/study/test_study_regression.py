"""The ``regression`` block: a study of a regression bundle on phantoms, its table against sklearn/scipy."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torchvision
from scipy.stats import pearsonr
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from training.phantom import PhantomConfig
from training.phantom.dataset import generate_dataset
from training.study import StudyConfigError, parse_study
from training.study.blocks.regression import RegressionBlock, default_column
from training.study.pipeline import run_study
from training.study.store import read_results

N = 8


def _yaml(model: Path, extra: str = "") -> str:
    return f"""
name: ctr
models: ["{model}"]
methods:
  - name: gradcam
  - name: gradient_x_input
metrics: [regression]
{extra}
run:
  batch_size: 4
"""


@pytest.fixture(scope="module")
def ctr_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    net = torchvision.models.resnet18(weights=None, num_classes=1)
    net.conv1 = torch.nn.Conv2d(1, 64, 7, 2, 3, bias=False)
    with torch.no_grad():
        net.fc.bias.fill_(0.5)
    manifest = ModelManifest.from_dict({
        "name": "tiny-ctr", "version": "0.1", "architecture": "resnet18", "task": "regression",
        "outputs": [{"name": "Cardiothoracic ratio", "unit": "ratio"}], "input_size": [64, 64], "in_channels": 1,
        "mean": [0.5], "std": [0.25]})
    return save_bundle(tmp_path_factory.mktemp("ctr") / "ctr", net, manifest)


@pytest.fixture(scope="module")
def phantoms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ctr-phantoms")
    generate_dataset(out, N, 6, PhantomConfig(size=128), fmt="png")
    lines = (out / "targets.csv").read_text().splitlines()
    (out / "targets.csv").write_text("\n".join(lines[:-1]) + "\n")  # the last image has no target
    return out


def test_regression_table_matches_sklearn_and_scipy(ctr_bundle: Path, phantoms: Path, tmp_path: Path) -> None:
    from engine import load_model
    from engine.io import load_image
    from engine.preprocess import to_model_input

    cfg = parse_study(_yaml(ctr_bundle)).with_overrides(folder=str(phantoms))
    run_study(cfg, tmp_path, workers=0, progress=False)
    rows: list[dict[str, Any]] = read_results(tmp_path).to_pylist()
    assert len(rows) == 2 * N and {r["unit"] for r in rows} == {"ratio"}
    model = load_model(str(ctr_bundle))
    with (phantoms / "targets.csv").open(newline="") as fh:
        truth = {r["image_id"]: float(r["cardiothoracic_ratio"]) for r in csv.DictReader(fh)}
    assert len(truth) == N - 1
    t, p = [], []
    for image_id, target in sorted(truth.items()):
        x, _, _ = to_model_input(load_image(phantoms / "images" / f"{image_id}.png").display, model.manifest)
        with torch.no_grad():
            value = float(model.module(x)[0, 0])
        stored = [r for r in rows if Path(r["image"]).stem == image_id]
        assert len(stored) == 2 and all(r["value"] == pytest.approx(value, abs=1e-5) for r in stored)
        assert all(r["target"] == pytest.approx(target) for r in stored)
        t.append(target)
        p.append(value)
    assert [r["target"] for r in rows if Path(r["image"]).stem not in truth] == [None, None]
    table = list(csv.DictReader(io.StringIO((tmp_path / "tables" / "regression.csv").read_text())))
    assert len(table) == 1 and table[0]["output"] == "Cardiothoracic ratio" and table[0]["unit"] == "ratio"
    row = table[0]
    assert int(row["n"]) == N - 1
    assert float(row["mae"]) == pytest.approx(mean_absolute_error(t, p), abs=2e-6)
    assert float(row["rmse"]) == pytest.approx(np.sqrt(mean_squared_error(t, p)), abs=2e-6)
    assert float(row["r2"]) == pytest.approx(r2_score(t, p), rel=1e-5, abs=2e-6)
    assert float(row["pearson_r"]) == pytest.approx(pearsonr(t, p)[0], abs=2e-6)


def test_tables_from_synthetic_rows_and_validation(tiny_bundle: Path) -> None:
    rng = np.random.default_rng(2)
    t = rng.normal(0.5, 0.07, 30)
    p = 0.8 * t + 0.12 + rng.normal(0, 0.02, 30)
    base = {"model": "m", "model_name": "M", "class": "CTR", "layer": "", "unit": "ratio"}
    rows: list[dict[str, Any]] = [
        {**base, "image": f"i{i}", "method": meth, "params_hash": meth, "value": float(p[i]), "target": float(t[i])}
        for i in range(30) for meth in ("a", "b")]
    rows.append({**rows[0], "image": "no-target", "target": None})
    row = next(csv.DictReader(io.StringIO(RegressionBlock().tables(rows, {})["regression.csv"])))
    assert int(row["n"]) == 30
    assert float(row["r2"]) == pytest.approx(r2_score(t, p), abs=1e-6)
    assert float(row["pearson_r"]) == pytest.approx(pearsonr(t, p)[0], abs=1e-6)
    assert float(row["mae"]) == pytest.approx(mean_absolute_error(t, p), abs=1e-6)
    assert default_column("Cardiothoracic ratio") == "cardiothoracic_ratio"
    with pytest.raises(StudyConfigError, match=r"regression\.columns"):
        parse_study(_yaml(tiny_bundle, "regression:\n  columns: [a]"))
    with pytest.raises(StudyConfigError, match="needs a model with task 'regression'"):
        from training.study.plan import plan_models

        plan_models(parse_study(_yaml(tiny_bundle)))

"""Regression targets: the phantom's cardiothoracic ratio, the metrics, the config and a tiny training run."""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.stats import pearsonr
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from engine.io import load_image
from engine.models.bundle import load_model
from engine.preprocess import to_model_input
from training.config import TrainConfigError, config_from_dict, load_config
from training.datasets import TrainDataError
from training.metrics import regression_metrics, regression_report
from training.phantom import PhantomConfig, generate_case
from training.phantom.dataset import TARGETS_CSV, TARGETS_HEADER, case_seed, generate_dataset
from training.regression import fold_standardisation, read_regression_data
from training.trainer import run_training

ROOT = Path(__file__).resolve().parents[2]


def _widths_by_hand(mask: np.ndarray) -> tuple[int, int]:
    """(horizontal extent of the mask, longest single row run) measured without the generator's helpers."""
    cols = np.nonzero(mask.max(axis=0))[0]
    extent = int(cols.max() - cols.min() + 1)
    longest = 0
    for row in mask:
        xs = np.nonzero(row)[0]
        if xs.size:
            longest = max(longest, int(xs[-1] - xs[0] + 1))
    return extent, longest


def test_phantom_targets_csv_is_the_ratio_measured_on_the_rendered_masks(tmp_path: Path) -> None:
    cfg = PhantomConfig(size=128)
    generate_dataset(tmp_path, 3, seed=4, config=cfg, fmt="png")
    with (tmp_path / TARGETS_CSV).open(newline="") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == TARGETS_HEADER and len(rows) == 4
    truth = json.loads((tmp_path / "truth.json").read_text())
    for i, row in enumerate(rows[1:]):
        case = generate_case(case_seed(4, i), cfg, case_index=i)
        heart, _ = _widths_by_hand(case.heart_mask)
        _, thorax = _widths_by_hand(case.thorax_mask)
        assert row[0] == f"phantom_{i:05d}"
        assert (int(row[2]), int(row[3])) == (heart, thorax)
        assert float(row[1]) == pytest.approx(heart / thorax, abs=1e-6)
        assert float(row[1]) == pytest.approx(truth["images"][i]["ctr"], abs=1e-4)
        assert 0.3 < float(row[1]) < 0.75


def test_regression_metrics_match_sklearn_and_scipy() -> None:
    rng = np.random.default_rng(3)
    t = rng.normal(0.5, 0.07, (40, 2))
    p = t + rng.normal(0, 0.02, (40, 2)) + np.array([0.01, -0.03])
    report = regression_report(t, p, ["a", "b"])
    for j, name in enumerate(["a", "b"]):
        m = report["per_output"][name]
        assert m["mae"] == pytest.approx(mean_absolute_error(t[:, j], p[:, j]), rel=1e-12)
        assert m["rmse"] == pytest.approx(np.sqrt(mean_squared_error(t[:, j], p[:, j])), rel=1e-12)
        assert m["r2"] == pytest.approx(r2_score(t[:, j], p[:, j]), rel=1e-12)
        assert m["pearson_r"] == pytest.approx(pearsonr(t[:, j], p[:, j])[0], rel=1e-10)
    assert report["mean_r2"] == pytest.approx(np.mean([r2_score(t[:, j], p[:, j]) for j in range(2)]))
    flat = regression_metrics(np.ones(5), np.arange(5.0))
    assert np.isnan(flat["r2"]) and np.isnan(flat["pearson_r"])


def test_fold_standardisation_outputs_raw_values() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    x = torch.randn(5, 4)
    before = net(x).detach()
    mean, std = np.array([0.5, -2.0]), np.array([0.07, 3.0])
    fold_standardisation(net, mean, std)
    after = net(x).detach()
    torch.testing.assert_close(after, before * torch.tensor(std).float() + torch.tensor(mean).float())


def _regression_dict(root: str, **model: object) -> dict[str, object]:
    return {"data": {"root": root, "target_columns": ["brightness"], "val_fraction": 0.25, "test_fraction": 0.2},
            "model": {"architecture": "shufflenet_v2_x0_5", "task": "regression", "in_channels": 1,
                      "input_size": [48, 48], "output_names": ["Brightness"], "output_units": ["a.u."], **model},
            "train": {"epochs": 1, "batch_size": 8, "device": "cpu", "amp": "off", "loss": "huber",
                      "cache_workers": 1},
            "augment": {"enabled": False}}


@pytest.mark.parametrize(("patch", "key"), [
    ({"data": {"target_columns": []}}, "data.target_columns"),
    ({"model": {"output_units": ["a", "b"]}}, "model.output_units"),
    ({"train": {"loss": "l1"}}, "train.loss"),
])
def test_regression_config_errors_name_the_key(patch: dict[str, dict[str, object]], key: str) -> None:
    raw = _regression_dict("x")
    for section, values in patch.items():
        raw[section] = {**raw[section], **values}  # type: ignore[dict-item]
    with pytest.raises(TrainConfigError, match=key.replace(".", r"\.")):
        config_from_dict(raw)
    assert load_config(ROOT / "configs" / "phantom-ctr-resnet18.yaml").model.task == "regression"


def test_ctr_configs_chain_stage_two_onto_stage_one() -> None:
    """The bundled CTR model's two recipes: stage 2 starts from stage 1's bundle, with the zoom and flips that
    keep the ratio (docs/regression.md)."""
    one = load_config(ROOT / "configs" / "phantom-ctr-resnet18-stage1.yaml")
    two = load_config(ROOT / "configs" / "phantom-ctr-resnet18.yaml")
    assert one.model.task == two.model.task == "regression"
    assert two.model.init_from == f"{one.output.dir}/bundle"
    assert one.model.init_from == "resources/models/phantom-resnet18"
    assert two.augment.scale == (0.75, 1.2) and two.augment.hflip == 0.5
    assert one.augment.hflip == 0.0 and one.train.freeze == ("conv1", "bn1", "layer1", "layer2")


@pytest.fixture(scope="module")
def bright_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 PNGs whose target is their mean brightness (learnable, known)."""
    out = tmp_path_factory.mktemp("bright")
    (out / "images").mkdir()
    rng = np.random.default_rng(5)
    rows = [["image_id", "brightness"]]
    for i in range(24):
        level = rng.uniform(40, 220)
        pixels = np.clip(rng.normal(level, 10, (48, 48)), 0, 255).astype(np.uint8)
        Image.fromarray(pixels).save(out / "images" / f"img{i:03d}.png")
        rows.append([f"img{i:03d}", f"{pixels.mean() / 255:.6f}"])
    with (out / "targets.csv").open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    return out


def test_tiny_regression_run_exports_a_bundle_whose_outputs_are_values(bright_set: Path, tmp_path: Path) -> None:
    cfg = config_from_dict(_regression_dict(str(bright_set)))
    result = run_training(cfg, out_dir=tmp_path, log=lambda _s: None, command="radlens train --config r.yaml")
    assert result.bundle == tmp_path / "bundle" and result.epochs_run == 1
    model = load_model(tmp_path / "bundle")
    m = model.manifest
    assert m.task == "regression" and m.class_names == ("Brightness",) and m.unit(0) == "a.u." and not m.thresholds
    prov = m.provenance
    assert prov["metrics"]["loss"] == "huber" and prov["recipe"]["model"]["task"] == "regression"
    val = json.loads((tmp_path / "split.json").read_text())["val"]
    data = read_regression_data(cfg.data)
    truth = {e.image_id: float(e.labels[0]) for e in data.examples}
    # the reported validation metrics are the bundle's own raw outputs on the validation images
    preds = []
    for image_id in val:
        x, _, _ = to_model_input(load_image(bright_set / "images" / f"{image_id}.png").display, m)
        with torch.no_grad():
            preds.append(float(model.module(x)[0, 0]))
    mae = float(np.mean(np.abs(np.array(preds) - np.array([truth[i] for i in val]))))
    assert len(val) >= 4
    assert prov["metrics"]["val"]["per_output"]["Brightness"]["mae"] == pytest.approx(mae, abs=2e-3)


def test_missing_targets_column_is_a_clear_error(bright_set: Path) -> None:
    cfg = config_from_dict(_regression_dict(str(bright_set)))
    bad = dataclasses.replace(cfg.data, target_columns=("ctr",))
    with pytest.raises(TrainDataError, match=r"no column\(s\) \['ctr'\]"):
        read_regression_data(bad)


def test_init_from_a_bundle_and_freeze(tmp_path: Path) -> None:
    import torchvision

    from engine.models.bundle import save_bundle
    from engine.models.manifest import ModelManifest
    from training.regression import _FrozenBN, freeze, initialise_from

    torch.manual_seed(0)
    source = torchvision.models.resnet18(num_classes=5)
    save_bundle(tmp_path / "src", source, ModelManifest(name="src", version="1", architecture="resnet18",
                                                         class_names=tuple("abcde")))
    target = torchvision.models.resnet18(num_classes=1)
    line = initialise_from(target, tmp_path / "src")
    assert "fresh: fc.bias, fc.weight" in line
    torch.testing.assert_close(target.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    assert target.fc.weight.shape == (1, 512)
    assert freeze(target, ("conv1", "bn1", "layer1")) == 1 + 2 + 2 * 6  # conv1, bn1 (w, b), two blocks of 6
    assert not target.layer1[1].bn2.weight.requires_grad and target.layer2[0].conv1.weight.requires_grad
    wrapped = _FrozenBN(target, ("conv1", "bn1", "layer1"))
    wrapped.train()
    assert not target.bn1.training and not target.layer1[0].bn1.training and target.layer2[0].bn1.training
    with pytest.raises(TrainDataError, match="same architecture"):
        initialise_from(torchvision.models.shufflenet_v2_x0_5(num_classes=1), tmp_path / "src")

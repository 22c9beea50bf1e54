"""`radlens explain` on a regression bundle: value, unit and both direction maps in results.json and PNGs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from engine.explainers.result import ExplanationResult
from engine.models.bundle import load_model, save_bundle
from engine.models.manifest import ModelManifest, default_bundle_path
from viewer.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("ctr-bundle")
    net = torchvision.models.resnet18(num_classes=1)
    manifest = ModelManifest.from_dict({
        "name": "ctr-cli", "version": "1", "architecture": "resnet18", "task": "regression",
        "outputs": [{"name": "Cardiothoracic ratio", "unit": "ratio"}], "input_size": [64, 64]})
    save_bundle(folder, net, manifest, overwrite=True)
    return folder


def test_explain_regression_writes_value_unit_and_both_directions(tmp_path: Path, bundle: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    img = (np.random.default_rng(0).random((96, 128)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "chest.png")
    out = tmp_path / "out"
    code = main(["explain", str(tmp_path / "chest.png"), "--model", str(bundle), "--out", str(out),
                 "--device", "cpu", "--threshold", "top:0.1"])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    entry = doc["images"][0]
    reg = entry["regression"]["Cardiothoracic ratio"]
    model = load_model(bundle)
    from engine.io import load_image
    from engine.preprocess import to_model_input

    x, _, _ = to_model_input(load_image(tmp_path / "chest.png").display, model.manifest)
    with torch.no_grad():
        expected = float(model.module(x)[0, 0])
    assert reg["value"] == pytest.approx(expected, abs=1e-5) and reg["unit"] == "ratio"
    for direction in ("raises", "lowers"):
        assert (out / reg[direction]["overlay"]).is_file()
        assert reg[direction]["localisation"]["boxes"] is not None
    result = ExplanationResult.from_dict(entry["explanation"])
    assert result.is_regression and set(result.directions) == {"raises", "lowers"}
    assert f"Cardiothoracic ratio {expected:.4g} ratio" in capsys.readouterr().out


def test_the_default_model_is_never_a_regression_bundle() -> None:
    assert ModelManifest.read(default_bundle_path() / "model.json").task != "regression"

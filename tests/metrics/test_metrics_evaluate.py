"""Issue #14: the evaluation tables carry IG's completeness gap and name each figure's convention."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from engine import explain
from engine.annotations import image_key, read_vinbigdata
from engine.io import load_image
from engine.models.bundle import load_model, save_bundle
from engine.models.manifest import ModelManifest
from training.evaluate import METRIC_CONVENTIONS, evaluate_bundle, format_tables
from training.synthetic import CLASSES, write_vinbigdata_set


def test_integrated_gradients_rows_carry_the_completeness_gap(tmp_path) -> None:
    data = tmp_path / "data"
    write_vinbigdata_set(data, n=8, size=40, seed=4)
    torch.manual_seed(0)
    net = torchvision.models.resnet18(num_classes=len(CLASSES))
    save_bundle(tmp_path / "bundle", net, ModelManifest(name="eval-ig", version="1", architecture="resnet18",
                                                        class_names=CLASSES, input_size=(32, 32)), overwrite=True)
    result = evaluate_bundle(tmp_path / "bundle", data, methods=["integrated_gradients"], limit=4)
    assert result["conventions"] == METRIC_CONVENTIONS
    assert "Euclidean" in result["conventions"]["pointing_game_tolerant"]
    # independent recomputation of every image's gap through the public explain()
    model = load_model(tmp_path / "bundle")
    gt = {image_key(k): v for k, v in read_vinbigdata(data / "train.csv").items()}
    expected: dict[str, list[float]] = {c: [] for c in CLASSES}
    for path in sorted((data / "images").iterdir())[:4]:
        boxes = gt.get(image_key(path))
        present = sorted({b.class_name for b in boxes.boxes}) if boxes else []
        if not present:
            continue
        r = explain(model, load_image(path), "integrated_gradients", classes=present)
        for row in r.diagnostics["completeness"]:
            expected[CLASSES[row["class_index"]]].append(row["relative_gap"])
    checked = 0
    for c in CLASSES:
        table = result["localisation"]["integrated_gradients"][c]["all"]
        if not expected[c]:
            assert "ig_completeness" not in table
            continue
        g = table["ig_completeness"]
        assert g["mean_relative_gap"] == pytest.approx(float(np.mean(expected[c])), rel=1e-5)
        assert g["max_relative_gap"] == pytest.approx(max(expected[c]), rel=1e-5)
        assert g["tolerance"] == 0.05
        share = np.mean([v > 0.05 for v in expected[c]])
        assert g["share_above_tolerance"] == pytest.approx(share)
        checked += 1
    assert checked >= 1
    assert "IG completeness gap" in format_tables(result)

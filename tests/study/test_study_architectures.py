"""Several models in one study: rows keyed by model, and ``architectures.csv`` / ``.png`` putting their
Diff, EHR-AUC, pointing game and IoU side by side (checked against the per-model tables, which are
computed by another code path), plus the gaze columns when gaze was scored."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
import torchvision

from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from training.phantom import CLASSES
from training.study import load_study, parse_study, run_study
from training.study.architectures import architectures_table

LIMIT = 5  # phantom_00000..4: boxes on 00002 (consolidation, effusion) and 00004 (cardiomegaly)
STUDY = """
name: two-models
models: ["{a}", "{b}"]
methods:
  - name: gradcam
thresholds:
  top_fraction: [0.05, 0.1, 0.2]
  fraction_of_max: []
  otsu: false
run:
  batch_size: 3
"""


@pytest.fixture(scope="module")
def second_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Another seeded MobileNetV3-small bundle (other weights, other name) with the phantom classes."""
    torch.manual_seed(7)
    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=len(CLASSES))
    net.features[0][0] = torch.nn.Conv2d(1, 16, 3, 2, 1, bias=False)
    manifest = ModelManifest(name="tiny-two", version="0.2", architecture="mobilenet_v3_small",
                             class_names=tuple(CLASSES), input_size=(64, 64), in_channels=1, mean=(0.5,),
                             std=(0.25,))
    return save_bundle(tmp_path_factory.mktemp("bundle2") / "two", net, manifest)


@pytest.fixture(scope="module")
def two_model_run(tiny_bundle: Path, second_bundle: Path, phantom_set: Path,
                  tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("two_models")
    cfg = parse_study(STUDY.format(a=tiny_bundle, b=second_bundle)).with_overrides(folder=str(phantom_set),
                                                                                   limit=LIMIT)
    run_study(cfg, out, workers=0, progress=False)
    return out


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_rows_are_keyed_by_model_and_hold_each_model_own_probabilities(
    two_model_run: Path, tiny_bundle: Path, second_bundle: Path, phantom_set: Path
) -> None:
    from engine import load_model
    from engine.io import load_image
    from training.study.score import forward_probabilities

    rows = pq.read_table(two_model_run / "results").to_pylist()
    study = json.loads((two_model_run / "study.json").read_text())
    shas = [m["sha256"] for m in study["models"]]
    assert len(set(shas)) == 2 and {r["model"] for r in rows} == set(shas)
    assert len(rows) == LIMIT * 2 * len(CLASSES)  # image x model x class (one method)
    image = "images/phantom_00000.png"
    for bundle, sha in zip((tiny_bundle, second_bundle), shas, strict=True):
        model = load_model(bundle)
        expected = forward_probabilities(model, load_image(str(phantom_set / image)).display)
        got = {r["class"]: r["probability"] for r in rows if r["model"] == sha and r["image"] == image}
        assert [got[c] for c in CLASSES] == pytest.approx(list(expected), abs=1e-6)


def test_architectures_table_puts_each_model_per_model_figures_side_by_side(two_model_run: Path) -> None:
    table = _csv(two_model_run / "tables" / "architectures.csv")
    pointing = _csv(two_model_run / "tables" / "pointing.csv")
    diff = _csv(two_model_run / "tables" / "diff_ehr.csv")
    iou = _csv(two_model_run / "tables" / "iou_by_threshold.csv")
    groups = {c.split(": ")[0] for c in table[0] if ": " in c}
    assert groups == {"tiny-study", "tiny-two"}
    located = [r for r in table if r["class"] != "all" and r["tiny-study: n"] != "0"]
    assert located, "the phantom set has boxes"
    for r in located:
        for name in ("tiny-study", "tiny-two"):
            assert r[f"{name}: layer"]  # the bundle's default layer
            p = next(x for x in pointing if x["model_name"] == name and x["class"] == r["class"]
                     and x["subset"] == r["subset"])
            assert r[f"{name}: pointing"] == p["pointing_strict"] and r[f"{name}: n"] == p["n"]
            d = next(x for x in diff if x["model_name"] == name and x["class"] == r["class"]
                     and x["subset"] == r["subset"])
            assert float(r[f"{name}: diff"]) == pytest.approx(float(d["diff_mean"]), abs=1e-6)
            tops = [(float(x["mean"]), x["threshold"]) for x in iou if x["model_name"] == name
                    and x["class"] == r["class"] and x["subset"] == r["subset"] and x["policy"] == "mean"
                    and x["mean"]]
            if tops:  # the best mean IoU, at the first threshold of the grid that reaches it
                best = max(v for v, _t in tops)
                assert float(r[f"{name}: iou"]) == pytest.approx(best, abs=1e-6)
                assert r[f"{name}: iou_threshold"] == next(t for v, t in tops if v == best)
    figure = (two_model_run / "figures" / "architectures.png").read_bytes()
    assert figure.startswith(b"\x89PNG")


def _gaze_row(model: str, cls: str, cc: float | None, has: bool) -> dict[str, Any]:
    return {"model": model, "model_name": model, "method": "gradcam", "layer": "l", "params": "{}", "class": cls,
            "has_gaze": has, "gaze_cc": cc, "gaze_nss": None if cc is None else 2 * cc}


def _loc_row(model: str, cls: str) -> dict[str, Any]:
    return {"model": model, "model_name": model, "method": "gradcam", "layer": "l", "params": "{}", "class": cls,
            "n_gt_boxes": 1, "iou_mean": [0.5], "thresholds": ["top:0.1"], "predicted": True, "diff": 0.1,
            "ehr_auc": 0.2, "pointing": True}


def test_gaze_columns_appear_for_models_with_scored_gaze_only() -> None:
    loc = [_loc_row(m, "A") for m in ("m1", "m2")]
    gaze = [_gaze_row("m1", "A", 0.2, True), _gaze_row("m1", "A", 0.4, True), _gaze_row("m1", "A", None, False),
            _gaze_row("m2", "A", None, False)]
    text = architectures_table(loc, gaze)
    assert text is not None
    rows = list(csv.DictReader(text.splitlines()))
    assert "m1: gaze_cc" in rows[0] and "m2: gaze_cc" not in rows[0]
    first = rows[0]
    assert float(first["m1: gaze_cc"]) == pytest.approx(0.3) and float(first["m1: gaze_nss"]) == pytest.approx(0.6)
    assert architectures_table([_loc_row("m1", "A")], []) is None  # one model: no side-by-side table


def test_architectures_preset_runs_several_bundles_with_gaze_and_names_its_limits() -> None:
    cfg = load_study("preset:architectures")
    assert len(cfg.models) >= 2 and "gaze" in cfg.metrics and "localisation" in cfg.metrics
    text = (Path(__file__).resolve().parents[2] / "resources" / "studies" / "architectures.yaml").read_text()
    assert "VGG" in text and "ViT" in text
    assert np.all([m == "default" or (Path(__file__).resolve().parents[2] / m / "model.json").is_file()
                   for m in cfg.models])

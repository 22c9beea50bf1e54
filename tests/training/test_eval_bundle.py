"""radlens evaluate on a tiny bundle: classification and localisation tables with the right keys."""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
from pathlib import Path

from engine.explainers.api import list_layers
from engine.localise import RESEARCH_TOP_FRACTIONS
from engine.models.bundle import load_model
from training import evaluate_cli
from training.config import load_config
from training.synthetic import CLASSES, write_vinbigdata_set
from training.trainer import run_training

ROOT = Path(__file__).resolve().parents[2]


def test_evaluate_writes_tables_with_the_research_keys(tmp_path, capsys):
    data = tmp_path / "data"
    write_vinbigdata_set(data, n=24, size=48, seed=4)
    cfg = load_config(ROOT / "configs" / "tiny-test.yaml")
    cfg = cfg.replace(data=dataclasses.replace(cfg.data, root=str(data)),
                      train=dataclasses.replace(cfg.train, epochs=1))
    bundle = run_training(cfg, out_dir=tmp_path / "run", log=lambda _s: None).bundle
    assert bundle is not None
    layers = list_layers(load_model(bundle))
    default_layer = next(info.name for info in layers if info.is_default)
    other_layer = next(info.name for info in layers if not info.is_default and info.output_shape[-1] > 1)
    parser = argparse.ArgumentParser()
    evaluate_cli.add_arguments(parser)
    methods = f"gradcam,gradcam@{default_layer},gradcam@{other_layer}"
    args = parser.parse_args(["--model", str(bundle), "--data", str(data), "--out", str(tmp_path / "eval"),
                              "--limit", "10", "--methods", methods])
    assert evaluate_cli.run(args) == 0
    printed = capsys.readouterr().out
    assert "mean IoU by top fraction" in printed
    result = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert result["data"]["n_images"] == 10
    assert set(result["classification"]["per_class"]) == set(CLASSES)
    assert {"auc", "f1", "threshold"} <= set(result["classification"]["per_class"]["Cardiomegaly"])
    keys = [f"top:{f:g}" for f in RESEARCH_TOP_FRACTIONS]
    table = result["localisation"]["gradcam"]
    assert set(table) == set(CLASSES)
    for per_class in table.values():
        assert set(per_class) == {"all", "correct"}
        for subset in per_class.values():
            assert list(subset["mean_iou"]) == keys and list(subset["best_match_iou"]) == keys
            assert {"pointing_game", "best_threshold", "n_images"} <= set(subset)
    labels_present = {c: result["data"]["positives"][c] for c in CLASSES}
    for c, n in labels_present.items():
        assert table[c]["all"]["n_images"] == n  # every GT-positive image was scored
        assert table[c]["correct"]["n_images"] <= n
        if n:
            assert table[c]["all"]["best_threshold"] in keys
            assert all(0.0 <= v <= 1.0 for v in table[c]["all"]["mean_iou"].values())
            # a tolerance only adds hits
            assert table[c]["all"]["pointing_game_tolerant"] >= table[c]["all"]["pointing_game"]
    rows = list(csv.DictReader((tmp_path / "eval" / "localisation.csv").open()))
    assert len(rows) == 3 * len(CLASSES) * 2 * 2 and set(keys) <= set(rows[0])
    assert (tmp_path / "eval" / "classification.csv").read_text().startswith("class,auc,f1,threshold")
    # METHOD@LAYER: at the bundle's own layer it is the default table; another layer gives another
    assert table == result["localisation"][f"gradcam@{default_layer}"]
    assert set(result["localisation"][f"gradcam@{other_layer}"]) == set(CLASSES)
    assert result["localisation"][f"gradcam@{other_layer}"] != table

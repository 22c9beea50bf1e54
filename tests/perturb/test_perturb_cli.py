"""``radlens perturb`` writes perturb.json in the contract schema, a CSV and the plots."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from engine.models.bundle import build_architecture, save_bundle
from engine.models.manifest import ModelManifest
from engine.perturb.document import check_document
from viewer.cli import main

CONTRACT_KEYS = {"format", "schema_version", "app", "model", "image", "method", "layer", "class", "mode",
                 "mode_params", "order", "resolution", "seed", "classes", "original", "fractions", "deletion",
                 "insertion", "deletion_auc", "insertion_auc", "aopc", "random", "delta_p"}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    m = ModelManifest(name="tiny-r18", version="0.1", architecture="resnet18", class_names=("a", "b", "c"),
                      in_channels=1, input_size=(32, 32), mean=(0.5,), std=(0.25,))
    folder = tmp_path_factory.mktemp("bundle") / "m"
    save_bundle(folder, build_architecture(m).eval(), m)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray((rng.random((40, 48)) * 255).astype(np.uint8)).save(folder / f"img{i}.png")
    return folder


def test_cli_writes_contract_json_csv_and_png(bundle: Path, images: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    rc = main(["perturb", str(images / "img0.png"), "--model", str(bundle), "--class", "b", "--mode", "blur",
               "--patch", "4", "--mode-param", "ksize=5", "--fractions", "0,0.1,0.5,1", "--seeds", "3",
               "--region", "2,3,20,30", "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "perturb.json").read_text())
    check_document(doc)
    assert CONTRACT_KEYS <= set(doc)
    assert doc["class"] == "b" and doc["mode"] == "blur" and doc["mode_params"]["ksize"] == 5 and doc["patch"] == 4
    assert doc["fractions"] == [0.0, 0.1, 0.5, 1.0] and doc["classes"] == ["a", "b", "c"]
    for key in ("deletion_auc", "insertion_auc", "aopc"):
        assert isinstance(doc[key], float)
    assert 0.0 <= doc["deletion_auc"] <= 1.0
    scores = doc["deletion"]["scores"]
    assert doc["deletion_auc"] == pytest.approx(np.trapezoid(scores, doc["fractions"]))
    assert doc["aopc"] == pytest.approx(np.mean(doc["original"]["b"] - np.asarray(scores)))
    assert doc["random"]["seeds"] == [0, 1, 2] and len(doc["random"]["deletion_sd"]) == 4
    assert set(doc["delta_p"]["by_class"]) == {"a", "b", "c"}
    assert doc["region"]["box"] == [2.0, 3.0, 20.0, 30.0] and set(doc["region"]["delta_p"]) == {"a", "b", "c"}
    assert set(doc["orders"]) == {"morf", "lerf"}
    rows = list(csv.reader((out / "perturb.csv").open()))
    assert rows[0][:3] == ["fraction", "deletion_morf", "insertion_morf"] and len(rows) == 5
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    assert "deletion AUC" in capsys.readouterr().out


def test_cli_default_class_is_the_top_prediction(bundle: Path, images: Path, tmp_path: Path) -> None:
    import engine

    rc = main(["perturb", str(images / "img1.png"), "--model", str(bundle), "--fractions", "0,0.5",
               "--seeds", "0", "--order", "lerf", "--resolution", "image", "--robustness",
               "--corruptions", "gaussian_noise,contrast",
               "--severities", "1,5", "--out", str(tmp_path)])
    assert rc == 0
    doc = json.loads((tmp_path / "perturb.json").read_text())
    model = engine.load_model(bundle)
    probs = engine.explain(model, np.asarray(Image.open(images / "img1.png"))).probabilities
    assert doc["class"] == model.class_names[int(np.argmax(probs))]
    assert doc["order"] == "lerf" and doc["resolution"] == "image" and "random" not in doc and doc["patch"] == 1
    assert doc["deletion"] == doc["orders"]["lerf"]["deletion"]
    rob = json.loads((tmp_path / "robustness.json").read_text())
    assert rob["format"] == "radlens.robustness" and len(rob["results"]) == 4
    assert [(e["corruption"], e["severity"]) for e in rob["results"]] == [
        ("gaussian_noise", 1), ("gaussian_noise", 5), ("contrast", 1), ("contrast", 5)]
    assert len((tmp_path / "robustness.csv").read_text().splitlines()) == 1 + 4 * 3


def test_cli_dataset_table(bundle: Path, images: Path, tmp_path: Path, capsys) -> None:
    # ground truth (VinBigData format): class a on both images, c on img1 only; rows = ground truth, so
    # the table cannot come out empty whatever the untrained model predicts
    gt = tmp_path / "train.csv"
    gt.write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
                  "img0,a,0,R1,2,2,20,20\nimg1,a,0,R1,4,4,30,30\nimg1,c,2,R1,10,10,40,36\n")
    out = tmp_path / "out"
    rc = main(["perturb", "--data", str(images), "--model", str(bundle), "--annotations", str(gt),
               "--rows", "ground_truth", "--out", str(out)])
    assert rc == 0
    doc = json.loads((out / "delta_p_table.json").read_text())
    assert doc["format"] == "radlens.perturbation-table" and doc["fractions"] == [0.02, 0.05, 0.1, 0.2, 0.5]
    assert doc["rows"] == "ground_truth" and doc["patch"] == 1
    assert {r: e["n"] for r, e in doc["table"].items()} == {"a": 2, "c": 1}
    assert [Path(p).name for p in doc["table"]["c"]["images"]] == ["img1.png"]
    for row, entry in doc["table"].items():
        assert row in ("a", "b", "c") and entry["n"] >= 1
        assert set(entry["delta_p"]) == {"0.02", "0.05", "0.1", "0.2", "0.5"}
        assert all(-1.0 <= v <= 1.0 for d in entry["delta_p"].values() for v in d.values())
    assert (out / "delta_p_table.csv").read_text().startswith("row_class,fraction,n,")
    assert "Δp" in capsys.readouterr().out


def test_cli_refuses_bad_input(bundle: Path, images: Path, tmp_path: Path) -> None:
    assert main(["perturb", "--model", str(bundle)]) == 2
    assert main(["perturb", str(images / "img0.png"), "--model", str(bundle), "--mode", "median",
                 "--out", str(tmp_path)]) == 1
    assert main(["perturb", str(images / "img0.png"), "--model", str(bundle), "--class", "zzz",
                 "--out", str(tmp_path)]) == 1
    assert not (tmp_path / "perturb.json").exists()

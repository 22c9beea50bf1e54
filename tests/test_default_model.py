"""The bundled default model and demo study: present, valid, and right on the demo images."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import explain, load_model
from engine.annotations import read_annotations
from engine.io import load_image
from engine.models.bundle import default_bundle_path, file_sha256

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "resources" / "demo"


@pytest.fixture(scope="module")
def model():
    return load_model("default")


def test_default_bundle_is_small_and_carries_its_held_out_figures(model):
    folder = default_bundle_path()
    assert folder == ROOT / "resources" / "models" / "phantom-resnet18"
    assert (folder / "weights.safetensors").stat().st_size < 30 * 2**20
    held_out = model.manifest.provenance["held_out_evaluation"]
    assert held_out["model"]["weights_sha256"] == file_sha256(folder / "weights.safetensors")
    assert held_out["data"]["n_images"] >= 1000 and held_out["classification"]["macro_auc"] >= 0.95


def test_demo_study_predictions_match_the_truth(model):
    truth = json.loads((DEMO / "truth.json").read_text())
    gt = read_annotations(DEMO / "train.csv")
    assert len(truth["images"]) == 6
    wrong = 0
    for entry in truth["images"]:
        image = load_image(DEMO / entry["file"])
        result = explain(model, image, "gradcam")
        present = {f["class_name"] for f in entry["findings"]}
        assert present == set(gt[entry["image_id"]].classes) - {"No finding"}
        predicted = set(result.predicted())
        wrong += len(present ^ predicted)
        assert result.map(result.explained[0]).shape == image.shape
    # 6 images x 5 classes; the model's held-out F1 is 0.83-1.0 per class
    assert wrong <= 2

"""The bundled default model and demo study: present, valid, and right on the demo images."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from engine import explain, load_model
from engine.annotations import read_annotations
from engine.io import load_image
from engine.models.bundle import default_bundle_path, file_sha256
from engine.preprocess import to_model_input
from training.phantom import PhantomConfig, generate_case
from training.phantom.dataset import case_seed

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


def test_auc_re_measured_on_a_fresh_phantom_set(model):
    """The manifest's figure is the bundle's own claim; this re-measures it on images no one trained on.

    40 fresh phantoms (seed 977, default 512 px generator, as the bundle was trained on), labelled by
    their true findings, through the public preprocessing and the model; AUC by scikit-learn.
    ~10 s on one CPU thread. With 7-14 positives per class, a 0.99 AUC model measures >= 0.95.
    """
    cases = [generate_case(case_seed(977, i), PhantomConfig()) for i in range(40)]
    x = torch.cat([to_model_input(c.image, model.manifest)[0] for c in cases])
    net = copy.deepcopy(model.module).to(memory_format=torch.channels_last)  # ~1.5x faster on CPU
    with torch.inference_mode():
        logits = torch.cat([net(b.contiguous(memory_format=torch.channels_last)) for b in x.split(8)]).numpy()
    labels = np.array([[name in c.class_names for name in model.class_names] for c in cases])
    assert labels.sum(0).min() >= 5 and (~labels).sum(0).min() >= 5
    aucs = {name: roc_auc_score(labels[:, j], logits[:, j]) for j, name in enumerate(model.class_names)}
    assert min(aucs.values()) >= 0.95, aucs
    assert np.mean(list(aucs.values())) >= 0.98, aucs


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

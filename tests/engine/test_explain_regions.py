"""``radlens explain`` writes each box in words: the patient's side from the DICOM orientation, mm², IoU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision

from engine.io.synthetic import write_dicom
from engine.localise import iou_matrix
from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from viewer.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bundle")
    net = torchvision.models.resnet18(num_classes=2)
    save_bundle(folder, net, ModelManifest(name="regions", version="1", architecture="resnet18",
                                           class_names=("Nodule", "Effusion"), input_size=(64, 64)))
    return folder


def test_explain_json_describes_every_box(tmp_path: Path, bundle: Path) -> None:
    pixels = (np.random.default_rng(3).random((96, 128)) * 4000).astype(np.uint16)
    write_dicom(tmp_path / "case.dcm", pixels, Modality="DX", PatientOrientation=["R", "F"], PixelSpacing=[0.5, 0.25])
    (tmp_path / "gt.csv").write_text("image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
                                     "case,Nodule,0,R1,10,20,60,80\n")
    out = tmp_path / "out"
    assert main(["explain", str(tmp_path / "case.dcm"), "--model", str(bundle), "--method", "gradcam",
                 "--alignment", "resize", "--threshold", "top:0.1", "--annotations", str(tmp_path / "gt.csv"),
                 "--out", str(out), "--device", "cpu"]) == 0
    entry = json.loads((out / "results.json").read_text())["images"][0]
    for name in ("Nodule", "Effusion"):
        boxes = np.array(entry["localisation"][name]["boxes"]).reshape(-1, 4)
        regions = entry["regions"][name]
        assert len(regions) == len(boxes) > 0
        for box, region in zip(boxes, regions, strict=True):
            assert region["box"] == pytest.approx(box.tolist())
            assert region["side_frame"] == "patient" and region["area_unit"] == "mm²"
            # ["R", "F"]: columns run towards the patient's right, so the image's left half is the patient's left
            left_share = (min(box[2], 64) - min(box[0], 64)) / (box[2] - box[0])
            if left_share >= 0.75:
                assert region["side"] == "left"
            elif left_share <= 0.25:
                assert region["side"] == "right"
            assert region["extent"] == pytest.approx([(box[2] - box[0]) * 0.25, (box[3] - box[1]) * 0.5], abs=0.01)
            assert "(from PatientOrientation)" in region["text"]
            if name == "Nodule":
                expected = float(iou_matrix(box[None], [[10, 20, 60, 80]])[0, 0])
                assert region["iou_best_ground_truth"] == pytest.approx(expected, abs=1e-4)
            else:
                assert region["iou_best_ground_truth"] is None

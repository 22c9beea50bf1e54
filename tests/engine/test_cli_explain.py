"""`radlens explain` / `radlens layers` end to end on a small bundle, a PNG and a DICOM."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from engine.models.bundle import save_bundle
from engine.models.manifest import ModelManifest
from viewer.cli import main


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("bundle")
    net = torchvision.models.resnet18(num_classes=3)
    save_bundle(folder, net, ModelManifest(name="cli-test", version="9", architecture="resnet18",
                                           class_names=("Nodule", "Effusion", "Cardiomegaly"), input_size=(64, 64)),
                overwrite=True)
    return folder


def test_explain_writes_results_and_overlays(tmp_path, bundle, capsys):
    img = (np.random.default_rng(0).random((120, 160)) * 255).astype(np.uint8)
    Image.fromarray(img).save(tmp_path / "case1.png")
    (tmp_path / "train.csv").write_text(
        "image_id,class_name,class_id,rad_id,x_min,y_min,x_max,y_max\n"
        "case1,Nodule,0,R1,10,20,60,80\ncase1,Nodule,0,R2,12,22,64,78\ncase1,No finding,14,R3,,,,\n"
        "other9,Nodule,0,R1,1,2,3,4\n"
    )
    out = tmp_path / "out"
    code = main(["explain", str(tmp_path / "case1.png"), "--model", str(bundle), "--annotations",
                 str(tmp_path / "train.csv"), "--threshold", "top:0.1", "--out", str(out), "--device", "cpu"])
    assert code == 0
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema_version"] == 1 and doc["model"]["name"] == "cli-test"
    assert doc["annotation_match"]["unmatched_annotation_ids"] == ["other9"]  # reported, not dropped silently
    assert "match none of the images" in capsys.readouterr().err
    entry = doc["images"][0]
    assert set(entry["overlays"]) == {"Nodule", "Effusion", "Cardiomegaly"}
    nodule = entry["localisation"]["Nodule"]
    assert set(nodule["iou_ground_truth"]["per_annotator"]) == {"R1", "R2"}
    assert entry["localisation"]["Effusion"]["iou_ground_truth"] is None  # not in GT: no IoU
    assert nodule["boxes"] and nodule["threshold"] == "top:0.1"
    png = Image.open(out / entry["overlays"]["Nodule"])
    assert png.size[1] >= 120 and np.asarray(png).std() > 10


def test_explain_reads_dicom_and_reports_bad_files(tmp_path, bundle, capsys):
    from engine.io.synthetic import write_dicom

    pixels = (np.random.default_rng(1).random((90, 110)) * 4095).astype(np.uint16)
    write_dicom(tmp_path / "good.dcm", pixels)
    (tmp_path / "bad.dcm").write_bytes(b"not an image at all")
    code = main(["explain", str(tmp_path / "good.dcm"), str(tmp_path / "bad.dcm"), "--model", str(bundle),
                 "--classes", "Effusion", "--out", str(tmp_path / "o")])
    assert code == 1
    err = capsys.readouterr().err
    assert "bad.dcm" in err
    doc = json.loads((tmp_path / "o" / "results.json").read_text())
    good, bad = doc["images"]
    assert good["explanation"]["explained"] == ["Effusion"] and "error" in bad
    assert (tmp_path / "o" / good["overlays"]["Effusion"]).is_file()


def test_a_bad_first_image_read_ahead_is_reported_like_any_other(tmp_path, bundle, capsys):
    """The first image is read in a thread while the model loads; its error surfaces at that image."""
    from engine.io.synthetic import write_dicom

    (tmp_path / "bad.dcm").write_bytes(b"not an image at all")
    write_dicom(tmp_path / "good.dcm", (np.random.default_rng(2).random((90, 110)) * 4095).astype(np.uint16))
    code = main(["explain", str(tmp_path / "bad.dcm"), str(tmp_path / "good.dcm"), "--model", str(bundle),
                 "--classes", "Effusion", "--out", str(tmp_path / "o")])
    assert code == 1
    assert "bad.dcm" in capsys.readouterr().err
    bad, good = json.loads((tmp_path / "o" / "results.json").read_text())["images"]
    assert "error" in bad and bad["image"].endswith("bad.dcm")
    assert good["explanation"]["explained"] == ["Effusion"]


def test_list_methods_and_layers(bundle, capsys):
    assert main(["explain", "--list-methods"]) == 0
    assert "gradcampp" in capsys.readouterr().out
    assert main(["layers", "--model", str(bundle), "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "layer4" in out and "<- default" in out

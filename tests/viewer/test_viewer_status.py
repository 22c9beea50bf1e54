"""The status bar: model identity through ModelManifest, the unit read once per file."""

from __future__ import annotations

import json
import os

import numpy as np

from engine.io import load_image
from engine.io.synthetic import write_dicom
from viewer import status_bar


def test_default_model_identity_is_the_bundles_model_json():
    path = status_bar.default_manifest_path()
    assert path is not None and path.name == "model.json"
    doc = json.loads(path.read_text(encoding="utf-8"))  # the reference: the file itself, parsed by hand
    assert status_bar.default_model_identity() == (doc["name"], doc["version"])


def test_model_label_without_a_model_names_the_default(qtbot):
    bar = status_bar.StatusBar()
    qtbot.addWidget(bar)
    name, version = status_bar.default_model_identity()
    assert bar.model.text() == f"Model: {name} {version} (not loaded)"
    bar.set_model(None, loading=True)
    assert bar.model.text().endswith("(loading…)")


def test_the_header_is_read_at_load_not_per_call(tmp_path, monkeypatch):
    import pydicom

    reads: list[str] = []
    real = pydicom.dcmread

    def counting(path, *args, **kwargs):
        reads.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", counting)
    path = tmp_path / "od.dcm"
    write_dicom(path, np.full((20, 30), 200, dtype=np.uint16), Modality="DX", RescaleSlope=0.01,
                RescaleIntercept=0, RescaleType="OD")
    image = load_image(path)
    loads = len(reads)
    assert [status_bar.unit_of(image) for _ in range(5)] == ["OD"] * 5
    assert len(reads) == loads  # the units come from the metadata read at load: no header re-read
    write_dicom(path, np.full((20, 30), 200, dtype=np.uint16), Modality="DX", RescaleSlope=0.01,
                RescaleIntercept=0, RescaleType="MGML")  # the file changed: read again
    os.utime(path, ns=(1, 2))
    assert status_bar.unit_of(load_image(path)) == "MGML"

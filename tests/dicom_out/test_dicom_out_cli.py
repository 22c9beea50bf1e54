"""``radlens explain … --dicom-out DIR`` and ``radlens report … --dicom-out DIR``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pydicom
from dciodvfy_helpers import assert_valid
from dicom_out_helpers import DEMO, DEMO_IMAGE
from test_dicom_out_objects import ALLOWED_WARNINGS

from viewer.cli import main


def _kinds(folder: Path) -> list[str]:
    return sorted(pydicom.dcmread(p, stop_before_pixels=True).SOPClassUID.name for p in folder.glob("*.dcm"))


def test_explain_writes_sr_map_and_captures(tmp_path: Path, small_bundle: Path, capsys: Any) -> None:
    """One run over a DICOM image and a PNG: the DICOM's objects are written, the PNG fails cleanly."""
    from PIL import Image

    png = tmp_path / "x.png"
    Image.new("L", (64, 64), 80).save(png)
    rc = main(["explain", str(DEMO_IMAGE), str(png), "--model", str(small_bundle),
               "--classes", "Cardiomegaly,Pneumothorax", "--alignment", "resize", "--annotations",
               str(DEMO / "train.csv"), "--out", str(tmp_path / "run"), "--dicom-out", str(tmp_path / "dicom")])
    err = capsys.readouterr().err
    assert rc == 1 and f"{png}: is not a DICOM image" in err and "Fix:" in err
    assert _kinds(tmp_path / "dicom") == ["Comprehensive SR Storage", "Parametric Map Storage",
                                          "Secondary Capture Image Storage", "Secondary Capture Image Storage"]
    doc = json.loads((tmp_path / "run" / "results.json").read_text())
    assert sorted(Path(p).name for p in doc["images"][0]["dicom"]) == sorted(
        p.name for p in (tmp_path / "dicom").glob("*.dcm"))
    assert "not a DICOM image" in doc["images"][1]["error"]
    for p in (tmp_path / "dicom").glob("*.dcm"):
        assert_valid(p, ALLOWED_WARNINGS)


def test_report_adds_the_encapsulated_pdf(tmp_path: Path, small_bundle: Path, capsys: Any) -> None:
    pdf = tmp_path / "r.pdf"
    rc = main(["report", str(DEMO_IMAGE), "--model", str(small_bundle), "--classes", "Cardiomegaly",
               "--out", str(pdf), "--dicom-out", str(tmp_path / "dicom"), "--deidentify"])
    assert rc == 0, capsys.readouterr().err
    assert _kinds(tmp_path / "dicom") == ["Comprehensive SR Storage", "Encapsulated PDF Storage",
                                          "Parametric Map Storage", "Secondary Capture Image Storage"]
    enc = next(p for p in (tmp_path / "dicom").glob("*.pdf.dcm"))
    ds = pydicom.dcmread(enc)
    data = pdf.read_bytes()
    assert bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)] == data
    assert ds.PatientIdentityRemoved == "YES"
    for p in (tmp_path / "dicom").glob("*.dcm"):
        assert_valid(p, (*ALLOWED_WARNINGS, "needed to build DICOMDIR"))

"""``radlens info``: text and JSON for a file, a folder summary, exit 1 on a refused file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine.io.synthetic import write_dicom
from viewer.cli import main


def test_io_info_file_text_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cr.dcm"
    write_dicom(
        path,
        np.array([[0, 100], [200, 300]], np.uint16),
        photometric="MONOCHROME1",
        WindowCenter=[150, 100],
        WindowWidth=[300, 50],
        WindowCenterWidthExplanation=["FULL", "SOFT"],
        ImagerPixelSpacing=[0.2, 0.2],
        EstimatedRadiographicMagnificationFactor=1.1,
        PatientName="Doe^J",
        Modality="CR",
    )
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    for text in (
        "Doe^J",
        "FULL",
        "SOFT",
        "MONOCHROME1",
        "EstimatedRadiographicMagnification",
        "Explicit VR Little Endian",
        "pydicom native",
        "2 x 2",
    ):
        assert text in out
    assert main(["info", "--json", str(path)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inverted"] is True and data["window"]["name"] == "FULL"
    assert [w["name"] for w in data["windows"]] == ["FULL", "SOFT"]
    assert data["spacing_source"].startswith("ImagerPixelSpacing corrected")


def test_io_info_errors_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_dicom(tmp_path / "a.dcm", np.zeros((2, 2), np.uint16), PatientName="Doe^J")
    (tmp_path / "junk.bin").write_bytes(b"junk" * 50)
    assert main(["info", str(tmp_path / "junk.bin")]) == 1
    assert "neither DICOM" in capsys.readouterr().err
    assert main(["info", "--frame", "5", str(tmp_path / "a.dcm")]) == 1
    assert "frame 5" in capsys.readouterr().err
    assert main(["info", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "1 patients" in out and "junk.bin" in out
    assert main(["info", "--json", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out)["errors"][0]["path"].endswith("junk.bin")

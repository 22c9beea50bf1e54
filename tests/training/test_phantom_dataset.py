"""Phantom dataset writing: DICOM tags, MONOCHROME1, PNG, train.csv, truth.json, CLI."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from training.phantom import CLASSES, PhantomConfig, decode_rle, generate_case, tight_box
from training.phantom.dataset import CSV_HEADER, case_seed, generate_dataset
from viewer.cli import main as radlens_main


@pytest.fixture(scope="module")
def dicom_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PhantomConfig]:
    out = tmp_path_factory.mktemp("phantom_dicom")
    cfg = PhantomConfig(size=256, monochrome1_fraction=0.5)
    generate_dataset(out, 12, seed=3, config=cfg, fmt="dicom")
    return out, cfg


def test_dicom_tags_and_pixels(dicom_set: tuple[Path, PhantomConfig]) -> None:
    out, cfg = dicom_set
    kinds = set()
    for i in range(12):
        ds = pydicom.dcmread(out / "images" / f"phantom_{i:05d}.dcm")
        case = generate_case(case_seed(3, i), cfg, case_index=i)
        assert ds.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
        assert ds.SOPClassUID == pydicom.uid.DigitalXRayImageStorageForPresentation
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == case.sop_uid
        assert ds.Modality == "DX" and ds.ViewPosition == "PA" and ds.BodyPartExamined == "CHEST"
        assert (ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation) == (
            16, 12, 11, 0)
        assert ds.PatientID == f"PHANTOM^{i + 1:04d}" and ds.InstanceNumber == i + 1
        # the header never names the burned-in letter: the chest is an unpaired region ("U")
        assert ds.ImageLaterality == "U" and "Laterality" not in ds
        assert len(ds.WindowCenter) == 2 and list(ds.WindowCenterWidthExplanation) == [
            "STANDARD", "LUNG"]
        assert 0.2 < float(ds.PixelSpacing[0]) * ds.Columns / 10 / 1.0 < 45.0
        assert float(ds.ImagerPixelSpacing[0]) > float(ds.PixelSpacing[0])
        pixels = ds.pixel_array
        assert pixels.dtype == np.uint16 and int(pixels.max()) <= 4095
        kinds.add(ds.PhotometricInterpretation)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            np.testing.assert_array_equal(4095 - pixels.astype(np.int32), case.stored)
            assert ds.PresentationLUTShape == "INVERSE"
        else:
            np.testing.assert_array_equal(pixels, case.stored)
        # the windowed, presentation-corrected image looks the same either way
        shown = pydicom.pixels.apply_voi_lut(pixels, ds, index=0).astype(np.float64)
        lo, hi = shown.min(), shown.max()
        shown = (shown - lo) / max(hi - lo, 1e-9)
        if ds.PhotometricInterpretation == "MONOCHROME1":
            shown = 1.0 - shown
        heart, lung = shown[case.heart_mask].mean(), shown[case.lung_mask].mean()
        assert heart > lung + 0.2
    assert kinds == {"MONOCHROME1", "MONOCHROME2"}


def test_csv_is_vinbigdata(dicom_set: tuple[Path, PhantomConfig]) -> None:
    out, _ = dicom_set
    with open(out / "train.csv", newline="") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == CSV_HEADER
    truth = json.loads((out / "truth.json").read_text())
    by_image: dict[str, list[list[str]]] = {}
    for row in rows[1:]:
        by_image.setdefault(row[0], []).append(row)
    assert set(by_image) == {im["image_id"] for im in truth["images"]}
    for im in truth["images"]:
        image_rows = by_image[im["image_id"]]
        assert {r[3] for r in image_rows} == set(im["readers"])
        if not im["findings"]:
            assert len(image_rows) == len(im["readers"])
            assert all(r[1:3] == ["No finding", "14"] and r[4:] == [""] * 4 for r in image_rows)
        for r in image_rows:
            if r[1] != "No finding":
                assert CLASSES[int(r[2])] == r[1]
                x0, y0, x1, y1 = map(float, r[4:])
                assert 0 <= x0 < x1 <= 256 and 0 <= y0 < y1 <= 256
    assert any(not im["findings"] for im in truth["images"])


def test_truth_json(dicom_set: tuple[Path, PhantomConfig]) -> None:
    out, cfg = dicom_set
    truth = json.loads((out / "truth.json").read_text())
    assert truth["seed"] == 3 and truth["n"] == 12 and truth["classes"] == list(CLASSES)
    assert truth["generator_version"] and truth["schema_version"] == 1
    assert PhantomConfig.from_dict(truth["config"]) == cfg
    for im in truth["images"]:
        for f in im["findings"]:
            mask = decode_rle(f["mask_rle"], (256, 256))
            assert list(tight_box(mask)) == f["box"]
            assert int(mask.sum()) == f["area_px"]


def test_png_and_workers_match(tmp_path: Path) -> None:
    cfg = PhantomConfig(size=128)
    one, two = tmp_path / "one", tmp_path / "two"
    generate_dataset(one, 3, seed=5, config=cfg, fmt="png", workers=1)
    generate_dataset(two, 3, seed=5, config=cfg, fmt="png", workers=2)
    assert (one / "train.csv").read_text() == (two / "train.csv").read_text()
    assert (one / "truth.json").read_text() == (two / "truth.json").read_text()
    for i in range(3):
        arr = np.asarray(Image.open(one / "images" / f"phantom_{i:05d}.png"))
        case = generate_case(case_seed(5, i), cfg, case_index=i)
        np.testing.assert_array_equal(arr, case.stored)
        assert (one / "images" / f"phantom_{i:05d}.png").read_bytes() == (
            two / "images" / f"phantom_{i:05d}.png").read_bytes()


def test_cli_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli"
    code = radlens_main(["phantom", "--n", "3", "--out", str(out), "--seed", "2", "--size",
                         "256", "--shortcut", "Cardiomegaly", "--shortcut-p", "0.9"])
    assert code == 0
    assert len(list((out / "images").glob("*.dcm"))) == 3
    assert (out / "train.csv").exists() and (out / "truth.json").exists()
    printed = capsys.readouterr().out
    assert "No finding" in printed and "Cardiomegaly" in printed


def test_cli_refuses_bad_values(tmp_path: Path) -> None:
    assert radlens_main(["phantom", "--n", "0", "--out", str(tmp_path / "x")]) == 1
    assert radlens_main(["phantom", "--n", "1", "--size", "16", "--out", str(tmp_path)]) == 1


def test_no_gui_imports() -> None:
    code = (
        "import sys, training.phantom, training.phantom_cli, training.phantom.sheet\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'PyQt5', 'PyQt6', 'pyqtgraph', 'viewer', 'plugins')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])

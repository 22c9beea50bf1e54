"""The demo study and the phantom generator's DICOMs pass dciodvfy (the DX IOD) with no error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
import pytest
from dciodvfy_helpers import assert_valid, dciodvfy

from training.phantom import PhantomConfig
from training.phantom.dataset import generate_dataset
from training.phantom.writers import add_dx_conformance

DEMO = Path(__file__).resolve().parents[2] / "resources" / "demo"


@pytest.mark.parametrize("path", sorted((DEMO / "images").glob("*.dcm")), ids=lambda p: p.name)
def test_demo_files_pass_dciodvfy(path: Path) -> None:
    assert_valid(path)


def test_demo_has_six_files() -> None:
    assert len(list((DEMO / "images").glob("*.dcm"))) == 6


def test_fresh_phantom_passes_dciodvfy(tmp_path: Path) -> None:
    # half MONOCHROME1 so both photometric paths (and both intensity signs) are validated
    generate_dataset(tmp_path, 4, seed=11, config=PhantomConfig(size=128, monochrome1_fraction=0.5), fmt="dicom")
    files = sorted((tmp_path / "images").glob("*.dcm"))
    kinds = {pydicom.dcmread(f, stop_before_pixels=True).PhotometricInterpretation for f in files}
    assert len(files) == 4 and kinds == {"MONOCHROME1", "MONOCHROME2"}
    for f in files:
        assert_valid(f)
    signs = {str(pydicom.dcmread(f).PhotometricInterpretation): int(pydicom.dcmread(f).PixelIntensityRelationshipSign)
             for f in files}
    assert signs == {"MONOCHROME1": 1, "MONOCHROME2": -1}


def test_validator_catches_what_was_missing(tmp_path: Path) -> None:
    """The check can fail: a demo header without the added attributes has the ten known errors."""
    ds = pydicom.dcmread(DEMO / "images" / "phantom_00000.dcm")
    for kw in ("ImageLaterality", "AnatomicRegionSequence", "PixelIntensityRelationship",
               "PixelIntensityRelationshipSign", "LossyImageCompression", "DetectorType", "PositionerType",
               "AcquisitionContextSequence", "PixelSpacingCalibrationDescription"):
        del ds[kw]
    bad = tmp_path / "bad.dcm"
    ds.save_as(bad, enforce_file_format=True)
    errors, _ = dciodvfy(bad)
    assert len(errors) == 10
    assert any("ImageLaterality" in e for e in errors) and any("PositionerType" in e for e in errors)


def test_conformance_only_adds() -> None:
    """add_dx_conformance leaves pixel data, UIDs and existing values alone (it is applied to the demo)."""
    ds = pydicom.dcmread(DEMO / "images" / "phantom_00003.dcm")
    before = {e.tag: e.value for e in ds}
    pixels = ds.pixel_array.copy()
    add_dx_conformance(ds)
    assert {t: ds[t].value for t in before} == before
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    np.testing.assert_array_equal(pydicom.dcmread(io.BytesIO(buf.getvalue())).pixel_array, pixels)

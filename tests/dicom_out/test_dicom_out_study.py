"""Exported objects beside their study: scanning, opening with the SR's boxes, de-identification."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest
from dciodvfy_helpers import assert_valid
from dicom_out_helpers import DEMO, DEMO_IMAGE, FIXED_TIME, PDF, Export
from test_dicom_out_objects import ALLOWED_WARNINGS

from engine.annotations import Source
from engine.io import load_image
from engine.io.study import scan_folder


@pytest.fixture()
def study_with_results(tmp_path: Path, export: Export) -> Path:
    """The demo image in ``images/`` and its exported objects in the sibling ``results/`` (a series each)."""
    (tmp_path / "images").mkdir()
    shutil.copy(DEMO_IMAGE, tmp_path / "images" / DEMO_IMAGE.name)
    (tmp_path / "results").mkdir()
    for p in export.paths:
        shutil.copy(p, tmp_path / "results" / p.name)
    return tmp_path


def test_scan_indexes_the_image_and_captures_and_skips_the_rest(study_with_results: Path, export: Export) -> None:
    index = scan_folder(study_with_results)
    assert index.errors == ()
    images = [img.path for s in index.iter_series() for img in s.images]
    assert sorted(p.name for p in images) == sorted([DEMO_IMAGE.name] + [p.name for p in export.kind("sc")])
    skipped = {p.path.name: p.reason for p in index.skipped}
    assert set(skipped) == {p.name for p in export.kind("sr") + export.kind("pm") + export.kind("pdf")}
    assert "Parametric Map" in skipped[export.kind("pm")[0].name]
    assert len(list(index.iter_studies())) == 1  # one study: the results are filed with it
    for path in images:  # every indexed object opens (the captures as RGB images)
        assert load_image(path).shape[0] > 0


def test_opening_the_image_shows_the_sr_boxes(study_with_results: Path, export: Export) -> None:
    from viewer.session import Session
    from viewer.state import ViewerState

    state = ViewerState()
    Session(state).open(study_with_results / "images" / DEMO_IMAGE.name)
    gt = state.ground_truth
    model = gt.filter(source=Source.MODEL)
    n_model = sum(len(loc.boxes) for loc in export.localisation.values())
    assert len(model.boxes) == n_model and model.annotators == ("RadLens dicom-test",)
    reader = gt.filter(annotator="Jane Reader")
    assert [b.as_tuple() for b in reader.boxes] == [b.as_tuple() for b in export.user.boxes]
    assert len(state.user_boxes.boxes) == 0  # SR boxes are another reader's, never the user's own
    # another image of the study gets none of them
    other = study_with_results / "images" / "phantom_00000.dcm"
    shutil.copy(DEMO / "images" / other.name, other)
    Session(state).open(other)
    assert state.ground_truth.filter(source=Source.MODEL).boxes == ()


def test_deidentified_export(tmp_path: Path, export: Export) -> None:
    from engine.annotations.dicom_sr import read_sr
    from engine.dicom_out import write_results
    from engine.dicom_out.common import derived_uid

    src = pydicom.dcmread(DEMO_IMAGE, stop_before_pixels=True)
    paths = write_results(tmp_path, export.image, export.result, localisation=export.localisation,
                          user_boxes=export.user, annotations=export.gt, pdf=PDF, deidentify=True, now=FIXED_TIME)
    secrets = [str(src.PatientID), str(src.PatientName), str(src.StudyInstanceUID), str(src.SOPInstanceUID),
               str(src.SeriesInstanceUID), str(src.StudyDate)]
    for path in paths:
        # de-identified: Patient ID, Study Date/Time and Study ID are empty (Type 2), which a DICOMDIR would want
        assert_valid(path, (*ALLOWED_WARNINGS, "needed to build DICOMDIR"))
        ds = pydicom.dcmread(path)
        assert ds.PatientIdentityRemoved == "YES" and ds.PatientID == "" and ds.StudyDate == ""
        assert ds.StudyInstanceUID == derived_uid(str(src.StudyInstanceUID))
        assert ds.ContentDate == "20260101"  # cut to the year, as the PDF report does
        raw = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in raw, (path.name, secret)
    sr = next(p for p in paths if p.name.endswith(".sr.dcm"))
    assert list(read_sr(sr).annotations) == [derived_uid(str(src.SOPInstanceUID))]

"""The exported objects: valid (dciodvfy), filed with the source study, holding what they claim."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pydicom
import pytest
from dciodvfy_helpers import assert_valid
from dicom_out_helpers import DEMO_IMAGE, FIXED_TIME, PDF, Export

#: dciodvfy warnings that are expected (docs/dicom-export.md explains each)
ALLOWED_WARNINGS = ("99RADLENS", "<QUANTITY>", "attribute <Laterality>")


def _all(export: Export) -> list[tuple[Path, Any]]:
    return [(p, pydicom.dcmread(p)) for p in export.paths]


def test_one_file_per_object_kind(export: Export) -> None:
    n = len(export.result.explained)
    assert (len(export.kind("sr")), len(export.kind("pm")), len(export.kind("sc")), len(export.kind("pdf"))) == (
        1, 1, n, 1)
    assert len(export.paths) == 3 + n


def test_every_object_passes_dciodvfy(export: Export) -> None:
    for path in export.paths:
        assert_valid(path, ALLOWED_WARNINGS)


def test_filed_with_the_source_study_in_new_series(export: Export) -> None:
    src = pydicom.dcmread(DEMO_IMAGE, stop_before_pixels=True)
    objs = _all(export)
    for _, ds in objs:
        assert ds.StudyInstanceUID == src.StudyInstanceUID
        assert (ds.PatientID, str(ds.PatientName), ds.StudyDate) == (src.PatientID, str(src.PatientName), src.StudyDate)
        assert ds.SeriesInstanceUID != src.SeriesInstanceUID and ds.SOPInstanceUID != src.SOPInstanceUID
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert "research use" in ds.SeriesDescription.lower()
    assert len({ds.SOPInstanceUID for _, ds in objs}) == len(objs)
    series = {p.name.split(".")[-2] if not p.name.split(".")[-2].isdigit() else "sc": ds.SeriesInstanceUID
              for p, ds in objs}
    assert len(set(series.values())) == 4  # SR, PM, SC (all captures in one series), PDF
    sops = {ds.SOPClassUID for _, ds in objs}
    assert sops == {"1.2.840.10008.5.1.4.1.1.88.33", "1.2.840.10008.5.1.4.1.1.30", "1.2.840.10008.5.1.4.1.1.7",
                    "1.2.840.10008.5.1.4.1.1.104.1"}


def _items(seq: Any) -> list[Any]:
    out = []
    for it in seq:
        out.append(it)
        out += _items(it.get("ContentSequence") or [])
    return out


def _meaning(it: Any, kw: str = "ConceptNameCodeSequence") -> str:
    return str(it[kw][0].CodeMeaning) if kw in it else ""


def test_sr_holds_algorithm_identification_calls_and_iou(export: Export) -> None:
    sr = pydicom.dcmread(export.kind("sr")[0])
    assert sr.ConceptNameCodeSequence[0].CodeValue == "126000"  # Imaging Measurement Report (TID 1500)
    items = _items(sr.ContentSequence)
    params = {str(it.TextValue) for it in items if _meaning(it) == "Algorithm Parameters"}
    model = export.result.model
    assert f"weights SHA-256: {model['weights_sha256']}" in params
    assert f"explanation method: {export.result.method}" in params
    assert f"layers: {', '.join(export.result.layers)}" in params
    assert any(p.startswith("RadLens version: ") for p in params)
    assert {str(it.TextValue) for it in items if _meaning(it) == "Algorithm Name"} == {"dicom-test"}
    assert {str(it.TextValue) for it in items if _meaning(it) == "Algorithm Version"} == {"1.2"}
    # the call of each class: present exactly when the probability reaches the bundle's threshold
    groups = [it for it in items if _meaning(it) == "Measurement Group"]
    calls = {}
    for g in groups:
        kids = list(g.ContentSequence)
        call = [k for k in kids if _meaning(k) == "Model call at decision threshold"]
        if call:
            finding = next(_meaning(k, "ConceptCodeSequence") for k in kids if _meaning(k) == "Finding")
            calls[finding] = _meaning(call[0], "ConceptCodeSequence")
            iou = [float(k.MeasuredValueSequence[0].NumericValue) for k in kids
                   if _meaning(k) == "Mean IoU with ground-truth annotators"]
            gt = export.localisation[finding].gt
            assert iou == ([pytest.approx(gt.mean, abs=1e-9)] if gt is not None else [])
    r = export.result
    expected = {c: "Present" if r.probability(c) >= r.thresholds[r.class_names.index(c)] else "Absent"
                for c in r.explained}
    assert calls == expected
    assert export.localisation["Cardiomegaly"].gt is not None  # the demo image has Cardiomegaly GT: IoU written


def test_parametric_map_frames_are_the_maps(export: Export) -> None:
    pm = pydicom.dcmread(export.kind("pm")[0])
    r = export.result
    frames = np.asarray(pm.pixel_array, dtype=np.float32).reshape(-1, pm.Rows, pm.Columns)
    assert "FloatPixelData" in pm and frames.shape[0] == len(r.explained)
    assert (pm.Rows, pm.Columns) == export.image.shape
    for k, cls in enumerate(r.explained):
        fg = pm.PerFrameFunctionalGroupsSequence[k]
        mapping = fg.RealWorldValueMappingSequence[0]
        assert mapping.LUTLabel == cls
        assert (float(mapping.RealWorldValueSlope), float(mapping.RealWorldValueIntercept)) == (1.0, 0.0)
        np.testing.assert_array_equal(frames[k], r.map(cls))
    ref = pm.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
    assert ref.ReferencedSOPInstanceUID == export.image.metadata.sop_instance_uid


def test_secondary_captures_are_the_overlays(export: Export) -> None:
    from engine.render import class_overlay

    r = export.result
    for k, path in enumerate(sorted(export.kind("sc"), key=lambda p: int(p.name.split(".")[-2]))):
        sc = pydicom.dcmread(path)
        cls = r.explained[k]
        assert sc.PhotometricInterpretation == "RGB" and sc.BurnedInAnnotation == "YES"
        expected = class_overlay(export.image, r, cls, export.localisation[cls], export.gt.merged(export.user))
        np.testing.assert_array_equal(sc.pixel_array, np.asarray(expected)[..., :3])
        assert cls in sc.ImageComments
        assert sc.SourceImageSequence[0].ReferencedSOPInstanceUID == export.image.metadata.sop_instance_uid


def test_encapsulated_pdf_holds_the_bytes(export: Export) -> None:
    ds = pydicom.dcmread(export.kind("pdf")[0])
    assert ds.MIMETypeOfEncapsulatedDocument == "application/pdf"
    assert bytes(ds.EncapsulatedDocument)[: int(ds.EncapsulatedDocumentLength)] == PDF
    assert "research use" in ds.DocumentTitle
    assert ds.ContentDate == FIXED_TIME.strftime("%Y%m%d")


def test_not_a_dicom_source_is_a_typed_error(tmp_path: Path, export: Export) -> None:
    import dataclasses

    from engine.dicom_out import DicomExportError, write_results

    png = dataclasses.replace(export.image, kind="raster", path=tmp_path / "x.png")
    with pytest.raises(DicomExportError, match="not a DICOM image"):
        write_results(tmp_path / "out", png, export.result)
    with pytest.raises(DicomExportError, match="no map"):
        write_results(tmp_path / "out", export.image, export.result, classes=["Nodule/Mass"])
    assert not (tmp_path / "out").exists()

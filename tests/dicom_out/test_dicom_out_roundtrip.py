"""SRs read back: RadLens's own (same boxes to the pixel, same probabilities) and another system's."""

from __future__ import annotations

from pathlib import Path

import highdicom as hd
import numpy as np
import pydicom
from dicom_out_helpers import DEMO_IMAGE, Export
from pydicom.sr.codedict import codes

from engine.annotations import Source, read_annotations
from engine.annotations.dicom_sr import is_sr_file, read_sr


def test_sr_round_trip_gives_the_same_boxes_and_probabilities(export: Export) -> None:
    content = read_sr(export.kind("sr")[0])
    uid = export.image.metadata.sop_instance_uid
    assert list(content.annotations) == [uid]
    boxes = content.annotations[uid].boxes
    r = export.result
    for cls in r.explained:
        back = [b for b in boxes if b.class_name == cls and b.source == Source.MODEL]
        np.testing.assert_array_equal(np.array([b.as_tuple() for b in back]).reshape(-1, 4),
                                      export.localisation[cls].boxes.reshape(-1, 4))
        assert {b.annotator for b in back} <= {"RadLens dicom-test"}
        assert all(abs(b.score - r.probability(cls)) < 1e-12 for b in back if b.score is not None)
        assert abs(content.probabilities[cls] - r.probability(cls)) < 1e-12
        assert content.calls[cls] == (r.probability(cls) >= r.thresholds[r.class_names.index(cls)])
    users = [(b.class_name, b.as_tuple(), b.annotator, b.source) for b in boxes if b.source != Source.MODEL]
    assert users == [(b.class_name, b.as_tuple(), "Jane Reader", Source.GROUND_TRUTH) for b in export.user.boxes]
    assert content.algorithm == "dicom-test" and content.manufacturer == "RadLens"


def test_read_annotations_detects_an_sr(export: Export) -> None:
    sr = export.kind("sr")[0]
    assert is_sr_file(sr) and not is_sr_file(export.kind("pm")[0]) and not is_sr_file(DEMO_IMAGE)
    found = read_annotations(sr)
    assert len(found[export.image.metadata.sop_instance_uid].boxes) == len(read_sr(sr).annotations[
        export.image.metadata.sop_instance_uid].boxes)


def test_another_systems_sr_with_a_person_observer_and_a_circle(tmp_path: Path) -> None:
    """A TID 1500 SR written by highdicom alone (not RadLens): a reader's circle and polyline."""
    src = pydicom.dcmread(DEMO_IMAGE)
    person = hd.sr.ObserverContext(observer_type=codes.DCM.Person,
                                   observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
                                       name="Smith^John"))

    def group(kind: hd.sr.GraphicTypeValues, pts: list[list[float]],
              finding: str) -> hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations:
        region = hd.sr.ImageRegion(graphic_type=kind, graphic_data=np.array(pts),
                                   source_image=hd.sr.SourceImageForRegion.from_source_image(src))
        return hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=finding),
            referenced_region=region, finding_type=hd.sr.CodedConcept("233604007", "SCT", finding))

    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_person_context=person),
        procedure_reported=hd.sr.CodedConcept("363679005", "SCT", "Imaging"),
        imaging_measurements=[
            group(hd.sr.GraphicTypeValues.CIRCLE, [[100.0, 120.0], [110.0, 120.0]], "Pneumonia"),
            group(hd.sr.GraphicTypeValues.POLYLINE, [[10.0, 20.0], [30.0, 25.0], [20.0, 60.0], [10.0, 20.0]],
                  "Nodule")],
        title=codes.cid7021.ImagingMeasurementReport)
    sr = hd.sr.ComprehensiveSR(evidence=[src], content=report, series_instance_uid=hd.UID(), series_number=5,
                               sop_instance_uid=hd.UID(), instance_number=1, manufacturer="Other PACS vendor")
    path = tmp_path / "other.dcm"
    sr.save_as(path)
    content = read_sr(path)
    boxes = content.annotations[str(src.SOPInstanceUID)].boxes
    assert [(b.class_name, b.as_tuple(), b.annotator, b.source) for b in boxes] == [
        ("Pneumonia", (90.0, 110.0, 110.0, 130.0), "Smith John", Source.GROUND_TRUTH),
        ("Nodule", (10.0, 20.0, 30.0, 60.0), "Smith John", Source.GROUND_TRUTH),
    ]
    assert content.probabilities == {} and content.algorithm == ""

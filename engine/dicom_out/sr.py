"""The explanation as a Comprehensive SR, TID 1500 Measurement Report (highdicom).

Content (codes in :mod:`engine.dicom_out.common`; documented in ``docs/dicom-export.md``):

* Observation context: the device (RadLens running the model: manufacturer ``RadLens``, model name
  and version) and, when the user drew boxes, the person (the user's boxes' annotator).
* Per class, one image-level measurement group (TID 1501) with the algorithm identification
  (TID 4019: model name and version; parameters: weights SHA-256, RadLens version, method,
  layers, normalisation, box threshold), finding type = the class, measurements *Probability of
  finding*, *Decision threshold* and, where ground truth is known, *Mean IoU with ground-truth
  annotators* / *IoU with fused ground truth* / *Mean IoU with user boxes*, and the qualitative
  evaluation *Model call at decision threshold* = Present / Absent (SCT).
* Per model box, a planar ROI group (TID 1410) with the same algorithm identification, the class
  as finding type and its probability; per user box a planar ROI group without algorithm
  identification (the person observer's). A box is a closed POLYLINE of 5 points in the source
  image's pixel coordinates (DICOM's (0, 0) is the top-left corner of the top-left pixel, as
  RadLens's boxes), selected from the source image's SOP Instance UID.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.sr.codedict import codes

from engine.dicom_out import common as c

#: Procedure reported (TID 1500 row 3): imaging, generic (SCT 363679005).
PROCEDURE = hd.sr.CodedConcept("363679005", "SCT", "Imaging")
DOCUMENT_TITLE = codes.cid7021.ImagingMeasurementReport


def box_region(box: Sequence[float], source: c.Source) -> hd.sr.ImageRegion:
    """A closed POLYLINE around ``(x0, y0, x1, y1)`` on the source image."""
    x0, y0, x1, y1 = (float(v) for v in box)
    points = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]], dtype=np.float64)
    return hd.sr.ImageRegion(graphic_type=hd.sr.GraphicTypeValues.POLYLINE, graphic_data=points,
                             source_image=hd.sr.SourceImageForRegion.from_source_image(source.dataset))


def algorithm(result: Any, app_version: str, box_threshold: str) -> hd.sr.AlgorithmIdentification:
    """TID 4019 for the model: name, version and what makes the result reproducible."""
    name, version, sha = c.model_text(result.model)
    params = [f"weights SHA-256: {sha}", f"RadLens version: {app_version}", f"explanation method: {result.method}",
              f"layers: {', '.join(result.layers) or 'input gradient'}", f"normalisation: {result.normalisation}"]
    if box_threshold:
        params.append(f"box threshold: {box_threshold}")
    return hd.sr.AlgorithmIdentification(name=name[:64], version=version[:64], parameters=params)


def radlens_name(model_name: str) -> str:
    """``"RadLens <model>"``: the device observer's name, and the annotator of read-back model boxes."""
    return model_name if model_name.startswith("RadLens") else f"RadLens {model_name}"


def person_name(name: str) -> str:
    """A user name as a DICOM PN: a single word gets a trailing ``^`` (family name only)."""
    name = name.strip()[:60] or "user"
    return name if "^" in name else f"{name}^"


def _measure(name: hd.sr.CodedConcept, value: float) -> hd.sr.Measurement:
    return hd.sr.Measurement(name=name, value=float(value), unit=c.NO_UNITS)


def _iou(loc: Any) -> list[hd.sr.Measurement]:
    out: list[hd.sr.Measurement] = []
    if loc is None:
        return out
    for score, pairs in ((loc.gt, ((c.IOU_MEAN, "mean"), (c.IOU_FUSED, "fused"))), (loc.user, ((c.IOU_USER, "mean"),))):
        if score is None:
            continue
        for concept, attr in pairs:
            v = getattr(score, attr)
            if v is not None and np.isfinite(v):
                out.append(_measure(concept, v))
    return out


def build_sr(
    source: c.Source, result: Any, classes: Sequence[str], *, localisation: Mapping[str, Any] | None = None,
    user_boxes: Any = None, app_version: str = "unknown", series_uid: str | None = None,
) -> hd.sr.ComprehensiveSR:
    """The TID 1500 SR of ``result`` on ``source`` (see the module doc)."""
    scrub = source.scrub
    localisation = localisation or {}
    box_threshold = next((str(loc.threshold) for loc in localisation.values()), "")
    alg = algorithm(result, app_version, box_threshold)
    name = c.model_text(result.model)[0]
    device = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=radlens_name(name)[:64], manufacturer_name="RadLens", model_name=name[:64]))
    users = sorted({b.annotator for b in (user_boxes.boxes if user_boxes is not None else ())})
    person = None
    if users:
        person = hd.sr.ObserverContext(
            observer_type=codes.DCM.Person,
            observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(name=person_name(scrub(users[0]))))
    context = hd.sr.ObservationContext(observer_person_context=person, observer_device_context=device)
    groups: list[Any] = []
    for cls in classes:
        i = result.class_names.index(cls)
        p = float(result.probabilities[i])
        threshold = float(result.thresholds[i]) if result.thresholds else 0.5
        concept = c.class_concept(scrub(cls))
        loc = localisation.get(cls)
        measurements = [_measure(c.PROBABILITY, p), _measure(c.THRESHOLD, threshold), *_iou(loc)]
        groups.append(hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{name} {cls}"[:64]),
            finding_type=concept, algorithm_id=alg,
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source.dataset)],
            measurements=measurements,
            qualitative_evaluations=[hd.sr.QualitativeEvaluation(
                name=c.MODEL_CALL, value=c.PRESENT if p >= threshold else c.ABSENT)]))
        for k, box in enumerate(loc.boxes if loc is not None else ()):
            groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"{name} {cls} box {k + 1}"[:64]),
                referenced_region=box_region(box, source), finding_type=concept, algorithm_id=alg,
                measurements=[_measure(c.PROBABILITY, p)]))
    for k, b in enumerate(user_boxes.boxes if user_boxes is not None else ()):
        groups.append(hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=f"user box {k + 1}"),
            referenced_region=box_region(b.as_tuple(), source), finding_type=c.class_concept(scrub(b.class_name))))
    report = hd.sr.MeasurementReport(
        observation_context=context, procedure_reported=PROCEDURE,
        imaging_measurements=groups, title=DOCUMENT_TITLE)
    sr = hd.sr.ComprehensiveSR(
        evidence=[source.dataset], content=report, series_number=c.SERIES_NUMBERS["sr"],
        series_instance_uid=series_uid or hd.UID(), sop_instance_uid=hd.UID(), instance_number=1,
        manufacturer="RadLens", series_description=f"RadLens {result.method} explanation ({c.RESEARCH})"[:64],
        is_complete=True, is_final=False, is_verified=False)
    sr.SoftwareVersions = app_version
    return c.finish(sr, source)

"""De-identification: names, IDs, UIDs, dates and the file name are nowhere in the PDF (text or metadata)."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from report_helpers import flat, pdf_pages_text, synthetic_input

from engine.report import write_report


def _identifiers(inp) -> list[str]:
    md = inp.image.metadata
    date = md.study_date
    return [
        md.patient_name, md.patient_name.replace("^", " "), md.patient_id, md.study_instance_uid,
        md.series_instance_uid, md.sop_instance_uid, date, f"{date[:4]}-{date[4:6]}-{date[6:]}",
        inp.image.path.name, inp.image.path.stem, md.study_description,
    ]


def _all_text(path: Path) -> str:
    from pypdf import PdfReader

    meta: Mapping[str, Any] = PdfReader(str(path)).metadata or {}
    return flat(" ".join(pdf_pages_text(path))) + " " + " ".join(str(v) for v in meta.values())


def test_identified_report_shows_the_study(tmp_path):
    inp = synthetic_input()
    text = _all_text(write_report(inp, tmp_path / "id.pdf"))
    present = [s for s in _identifiers(inp) if s and s in text]
    # the check below is meaningful: without de-identification the identifiers are printed
    assert inp.image.metadata.patient_id in present and "2022-12-04" in present and inp.image.path.name in present


def test_deidentified_report_has_no_names_ids_or_dates(tmp_path):
    inp = synthetic_input(deidentify=True)
    path = write_report(inp, tmp_path / "deid.pdf")
    text = _all_text(path)
    leaked = [s for s in _identifiers(inp) if s and s in text]
    assert not leaked, leaked
    assert "De-identified" in text and "DX" in text and "512 × 512 pixels" in text
    # nor in the raw file (uncompressed parts or any stream)
    raw = path.read_bytes()
    streams = [raw]
    for chunk in raw.split(b"endstream")[:-1]:
        body = chunk.split(b"stream\n", 1)[-1].rstrip(b"\r\n")
        try:
            streams.append(zlib.decompress(body))
        except zlib.error:
            pass
    assert len(streams) > 5  # the page and font streams were found and inflated
    for s in (inp.image.metadata.patient_id, inp.image.metadata.study_instance_uid, inp.image.path.stem):
        assert not any(s.encode() in chunk for chunk in streams), s


def test_deidentified_report_omits_perturbation_image_path_and_command(tmp_path):
    from report_helpers import make_perturbation

    from engine.report import ModelCard

    inp0 = synthetic_input()

    class _M:  # the perturbation helper needs only these attributes
        name, version, weights_sha256 = "Synthetic", "1", inp0.model.weights_sha256
        class_names = tuple(inp0.explanation.class_names)

    p = make_perturbation(_M, _M.class_names)
    inp = synthetic_input(deidentify=True, perturbation=p, command="radlens report /data/PHANTOM^0001/x.dcm")
    assert isinstance(inp.model, ModelCard)
    text = _all_text(write_report(inp, tmp_path / "deid-p.pdf"))
    assert "PHANTOM" not in text.replace("PHANTOM CHEST", "") and "phantom_00000" not in text


# --- a study full of identifiers, also in the free text the report prints -----------------------------------------

PLANTED = {
    "PatientName": "DOE^JANE", "PatientID": "MRN4471", "PatientBirthDate": "19610203", "StudyDate": "20220315",
    "SeriesDate": "20220315", "ContentDate": "20220315", "InstitutionName": "St Elsewhere Hospital",
    "InstitutionAddress": "1 Main Street, Springfield", "AccessionNumber": "ACC998877",
    "ReferringPhysicianName": "HOUSE^GREGORY", "StationName": "XRAYROOM7", "DeviceSerialNumber": "SN-55501",
    "OtherPatientIDs": "ALT-20931", "StudyDescription": "Chest for Jane Doe", "SeriesDescription": "PA of DOE",
    "StudyInstanceUID": "1.2.3.4.5.6.7.8.4471", "SeriesInstanceUID": "1.2.3.4.5.6.7.9.4471",
    "SOPInstanceUID": "1.2.3.4.5.6.7.10.4471", "WindowCenterWidthExplanation": ["DOE LUNG", "LUNG"],
}
#: What must appear nowhere in a de-identified report (text, metadata, raw bytes).
SECRETS = ["DOE", "Doe", "JANE", "Jane", "MRN4471", "ACC998877", "St Elsewhere Hospital", "Main Street", "HOUSE",
           "House", "GREGORY", "Gregory", "XRAYROOM7", "SN-55501", "ALT-20931", "1.2.3.4.5.6.7.8.4471",
           "1.2.3.4.5.6.7.10.4471", "20220315", "2022-03-15", "15/03/2022", "03/15/2022", "15.03.2022",
           "19610203", "1961-02-03", "03/02/1961", "PATIENT_FILE"]


def _planted_study(tmp_path: Path):
    """The demo DICOM with identifiers everywhere, saved under an identifying file name."""
    import pydicom
    from pydicom.uid import UID
    from report_helpers import DEMO_IMAGE

    ds = pydicom.dcmread(str(DEMO_IMAGE))
    for keyword, value in PLANTED.items():
        setattr(ds, keyword, value)
    ds.file_meta.MediaStorageSOPInstanceUID = UID(cast(str, PLANTED["SOPInstanceUID"]))
    path = tmp_path / "DOE_JANE_MRN4471_PATIENT_FILE.dcm"
    ds.save_as(str(path), enforce_file_format=True)
    return path


def _planted_input(tmp_path: Path, *, deidentify: bool):
    """A report input whose free text (notes, box names, perturbation, title) also holds identifiers."""
    import dataclasses
    from datetime import UTC, datetime

    from report_helpers import demo_annotations, make_perturbation, synthetic_result, user_box

    from engine.io import load_image
    from engine.report import ModelCard, build_report_input

    image = load_image(_planted_study(tmp_path))
    card = ModelCard(name="Synthetic", version="1", architecture="resnet18", task="multilabel",
                     weights_sha256="ab" * 32)
    result = dataclasses.replace(synthetic_result(image.shape, card.weights_sha256),
                                 notes=("map of Jane Doe (MRN4471), seen 2022-03-15T09:30 at St Elsewhere Hospital",))
    mine = user_box(class_name="Pneumothorax")
    mine = dataclasses.replace(mine, boxes=tuple(dataclasses.replace(b, annotator="Gregory House",
                                                                     note="DOE^JANE") for b in mine.boxes))

    class _M:
        name, version, weights_sha256 = "Synthetic", "1", card.weights_sha256
        class_names = tuple(result.class_names)

    p = make_perturbation(_M, _M.class_names)
    p["image"] = "/data/DOE_JANE/DOE_JANE_MRN4471_PATIENT_FILE.dcm"
    p["mode_params"] = {"ksize": 21, "note": "for ACC998877"}
    return build_report_input(
        image, card, result, ["Pneumothorax"], ground_truth=demo_annotations(), user_boxes=mine, perturbation=p,
        deidentify=deidentify, created=datetime(2022, 3, 15, 11, 0, tzinfo=UTC),  # made on the day of the study
        title="RadLens report for DOE^JANE", command="radlens report /data/DOE_JANE/x.dcm",
    )


def _raw_and_inflated(path: Path) -> list[bytes]:
    raw = path.read_bytes()
    out = [raw]
    for chunk in raw.split(b"endstream")[:-1]:
        try:
            out.append(zlib.decompress(chunk.split(b"stream", 1)[-1].lstrip(b"\r\n")))
        except zlib.error:
            pass
    return out


def _leaks(path: Path) -> list[str]:
    from pypdf import PdfReader

    text = _all_text(path)
    meta: Mapping[str, Any] = PdfReader(str(path)).metadata or {}
    leaked = [s for s in SECRETS if s in text]
    leaked += [f"metadata {k}={v}" for k, v in meta.items() if "20220315" in str(v)]
    blobs = _raw_and_inflated(path)
    leaked += [f"raw {s}" for s in SECRETS if len(s) > 4 and any(s.encode() in b for b in blobs)]
    return leaked


def test_planted_identifiers_are_printed_without_deidentification(tmp_path):
    """The check is meaningful: an identified report of the same input does show them."""
    leaked = _leaks(write_report(_planted_input(tmp_path, deidentify=False), tmp_path / "id.pdf"))
    for s in ("DOE", "Jane", "MRN4471", "1.2.3.4.5.6.7.8.4471", "2022-03-15", "St Elsewhere Hospital", "PATIENT_FILE"):
        assert s in leaked, (s, leaked)


def test_deidentified_report_removes_identifiers_from_free_text_and_metadata(tmp_path):
    from pypdf import PdfReader

    path = write_report(_planted_input(tmp_path, deidentify=True), tmp_path / "deid.pdf")
    assert _leaks(path) == []
    text = _all_text(path)
    # what stays: technical data, the annotators' ids, the numbers, the report's year, the pixel warning
    assert "DX" in text and "512 × 512 pixels" in text and "Annotator R11" in text and "LUNG" in text
    assert "[removed]" in text and "2022 (day and time removed)" in text
    assert "text burned into the image is not removed (the file says Burned In Annotation: YES)" in text
    meta = PdfReader(str(path)).metadata
    assert meta is not None
    assert meta.title == "RadLens report for [removed]" and "20220315" not in str(meta.get("/CreationDate"))


def test_deidentified_input_has_no_identifier_in_any_string(tmp_path):
    """Box labels are drawn into the bitmaps, where no text check sees them: check the strings themselves."""
    from engine.report.deid import deidentified
    from engine.report.figures import box_drawings

    inp = deidentified(_planted_input(tmp_path, deidentify=True))
    assert inp.perturbation is not None
    drawings, legend = box_drawings(inp.ground_truth, inp.user_boxes, inp.localisation, inp.classes, label_class=True)
    strings = [label for _, _, label in drawings] + [text for _, text in legend]
    strings += [b.note or "" for b in inp.user_boxes.boxes] + [inp.image.window.name, *inp.explanation.notes]
    strings += [str(v) for v in inp.perturbation.values()] + [inp.title, inp.command, inp.image_label]
    strings += [v for v in vars(inp.image.metadata).values() if isinstance(v, str)]
    leaked = [(s, where) for where in strings for s in SECRETS if s in where]
    assert not leaked, leaked
    assert "image" not in inp.perturbation and inp.user_boxes.boxes[0].annotator == "[removed]"
    assert inp.localisation["Pneumothorax"].user is not None  # the user's box is still scored


def test_scrubber_keeps_numbers_and_words_that_only_look_alike():
    from engine.report.deid import REDACTED, Scrubber, date_spellings

    scrub = Scrubber(["PHANTOM", "0001", "PHANTOM^0001", *date_spellings("20221204")])
    assert scrub("p <0.0001, 0.0001 and 10001") == "p <0.0001, 0.0001 and 10001"  # numbers are not IDs
    assert scrub("a phantom radiograph") == "a phantom radiograph"  # a lower-case word, not the name
    assert scrub("PHANTOM^0001 / Phantom / ID 0001.") == f"{REDACTED} / {REDACTED} / ID {REDACTED}."
    assert scrub("at 2022-12-04T09:00, 04.12.2022, 12/04/2022") == f"at {REDACTED}T09:00, {REDACTED}, {REDACTED}"


def test_ordinary_file_names_do_not_blank_ordinary_words(tmp_path):
    """A PNG called image.png: its name is an identifier, the word "image" is not."""
    from types import SimpleNamespace

    from engine.io.model import ImageMetadata
    from engine.report.deid import REDACTED, Scrubber, identifiers

    img = SimpleNamespace(metadata=ImageMetadata(modality="DX", body_part="CHEST"), path=tmp_path / "image.png",
                          kind="raster")
    scrub = Scrubber(identifiers(img))
    assert scrub("the image image.png") == f"the image {REDACTED}"
    named = SimpleNamespace(metadata=ImageMetadata(patient_id="ID77", study_description="CHEST"),
                            path=tmp_path / "Smith_ID77.png", kind="raster")
    ids = identifiers(named)
    assert "Smith_ID77" in ids and "ID77" in ids and "CHEST" in ids  # no technical field to protect here
    assert Scrubber(ids)("Smith_ID77 and id77") == f"{REDACTED} and {REDACTED}"

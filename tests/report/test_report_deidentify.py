"""De-identification: names, IDs, UIDs, dates and the file name are nowhere in the PDF (text or metadata)."""

from __future__ import annotations

import zlib
from pathlib import Path

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

    meta = PdfReader(str(path)).metadata or {}
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

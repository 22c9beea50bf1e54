"""``OUT/report.pdf``: written by the run, holds the study as run, every table's figures, every figure
and the failures; ``radlens study report`` renders it again from the stored files with the same text."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pypdf
from study_helpers import CORRUPT

from training.study import report_study
from training.study.pdf import (
    MAX_ROWS,
    REPORT_PDF,
    _column_parts,
    explanation_labels,
    number_text,
    pivot_iou,
)


def _text(pdf: Path) -> str:
    reader = pypdf.PdfReader(str(pdf))
    return "\n".join(page.extract_text() for page in reader.pages)


def _squash(text: str) -> str:
    return "".join(text.split())


def test_the_run_writes_a_report_with_the_study_its_tables_and_failures(reference_run: Path) -> None:
    pdf = reference_run / REPORT_PDF
    assert pdf.read_bytes().startswith(b"%PDF")
    text = _text(pdf)
    flat = _squash(text)
    study = json.loads((reference_run / "study.json").read_text())
    assert "Research use — not for diagnostic use" in text
    # the study as run: model identity with its full SHA-256 (it may wrap: compare without spaces), data fingerprint
    model = study["models"][0]
    assert model["name"] in text and model["sha256"] in flat
    assert study["data"]["fingerprint_sha256"] in flat
    assert f"{study['counts']['done']}" in text and "in-process" in text
    # every table is there, and its figures (rounded to 3 decimals) appear in it
    names = sorted(p.name for p in (reference_run / "tables").glob("*.csv"))
    assert {"classification.csv", "iou_by_threshold.csv", "pointing.csv", "diff_ehr.csv"} <= set(names)
    for name in names:
        assert name in text
    with (reference_run / "tables" / "pointing.csv").open(newline="") as handle:
        pointing = list(csv.DictReader(handle))
    energies = {number_text(r["energy_mean"]) for r in pointing if r["energy_mean"]}
    assert energies and all(e in text for e in energies)
    with (reference_run / "tables" / "iou_by_threshold.csv").open(newline="") as handle:
        iou = [r for r in csv.DictReader(handle) if r["mean"] and r["policy"] == "best"]
    assert iou and all(number_text(r["mean"]) in text for r in iou)
    # every figure with its caption, and the failure with its reason
    assert "Figure 1 (iou_by_threshold.png)" in flat.replace("Figure1", "Figure 1") or \
        "Figure1(iou_by_threshold.png)" in flat
    assert CORRUPT in text and "decode" in text


def test_report_renders_the_same_text_again_from_the_stored_files(reference_run: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(reference_run, copy)
    (copy / REPORT_PDF).unlink()
    written = report_study(copy)
    assert copy / REPORT_PDF in written
    assert _text(copy / REPORT_PDF) == _text(reference_run / REPORT_PDF)
    # invariant mode: no timestamps, the same bytes
    assert (copy / REPORT_PDF).read_bytes() == (reference_run / REPORT_PDF).read_bytes()


def test_numbers_are_rounded_to_three_decimals_and_text_is_kept() -> None:
    assert number_text("0.123456") == "0.123"
    assert number_text("12") == "12"
    assert number_text("top:0.05") == "top:0.05"
    assert number_text("") == ""


def test_explanation_columns_become_one_label_with_the_parameters_in_a_legend() -> None:
    header = ["model", "model_name", "method", "layer", "params_hash", "params", "class", "mean"]
    rows = [["sha", "m", "gradcam", "layer3", "h1", "{}", "a", "0.5"],
            ["sha", "m", "smoothgrad", "", "aaaaaa11", '{"n": 2}', "a", "0.2"],
            ["sha", "m", "smoothgrad", "", "bbbbbb22", '{"n": 4}', "a", "0.3"]]
    h, r, legend = explanation_labels(header, rows)
    assert h == ["explanation", "class", "mean"]  # one model: neither its SHA nor its name per row
    assert [x[0] for x in r] == ["gradcam @ layer3", "smoothgrad [aaaaaa]", "smoothgrad [bbbbbb]"]
    assert legend["smoothgrad [bbbbbb]"] == '{"n": 4}'


def test_iou_table_is_pivoted_with_thresholds_as_columns() -> None:
    header = ["class", "policy", "subset", "threshold", "mean", "std", "n"]
    rows = [["a", "mean", "all", "top:0.1", "0.5", "", "3"], ["a", "mean", "all", "otsu", "0.25", "", "3"]]
    h, r = pivot_iou(header, rows)
    assert h == ["class", "policy", "subset", "n", "top:0.1", "otsu"]
    assert r == [["a", "mean", "all", "3", "0.5", "0.25"]]


def test_wide_tables_split_into_parts_that_repeat_the_keys_and_keep_model_groups() -> None:
    header = ["method", "class", *(f"{m}: {k}" for m in ("A", "B", "C") for k in ("diff", "ehr", "pointing"))]
    widths = [60.0, 60.0] + [40.0] * 9
    parts = _column_parts(header, widths, 2, 400.0)  # room for 280 pt of values: two groups of 120 pt
    assert [p[:2] for p in parts] == [[0, 1]] * len(parts)
    assert [p[2:] for p in parts] == [[2, 3, 4, 5, 6, 7], [8, 9, 10]]
    assert sorted(i for p in parts for i in p[2:]) == list(range(2, 11))
    assert MAX_ROWS >= 100
